//! App settings: what strata owns, how its changes are shown, and the merge that never
//! touches a setting strata did not write.
//!
//! Azure's settings write (`PUT …/config/appsettings`) replaces the whole dictionary, so every
//! write starts from a fresh list of the app's settings. Strata records the keys it wrote in
//! [`OWNED_SETTING`]; a key missing from that list is the user's, and is never removed or
//! changed. The package strata deployed is recorded in [`PACKAGE_SETTING`] (its sha256) and the
//! ones kept for rollback in [`HISTORY_SETTING`], so the app itself is the state.

use std::collections::{BTreeMap, BTreeSet};

use strata_provider::FieldChange;

use crate::error::AzureError;

/// The sha256 of the package the app runs, as strata deployed it.
pub const PACKAGE_SETTING: &str = "STRATA_PACKAGE_SHA256";
/// Earlier packages strata keeps in the storage account for rollback, newest first.
pub const HISTORY_SETTING: &str = "STRATA_PACKAGE_HISTORY";
/// The settings strata wrote, comma-separated: the only ones it may change or remove.
pub const OWNED_SETTING: &str = "STRATA_OWNED_SETTINGS";
/// Where a Consumption app runs its package from.
pub const RUN_FROM_PACKAGE: &str = "WEBSITE_RUN_FROM_PACKAGE";
/// How many earlier packages rollback can reach.
pub const KEEP_PACKAGES: usize = 3;

/// Settings only strata writes; the manifest cannot name them.
pub const RESERVED: [&str; 5] = [
    PACKAGE_SETTING,
    HISTORY_SETTING,
    OWNED_SETTING,
    RUN_FROM_PACKAGE,
    crate::identity::MI_SETTING,
];

pub type Settings = BTreeMap<String, String>;

/// The keys strata wrote, as the app records them.
pub fn owned_keys(current: &Settings) -> BTreeSet<String> {
    current
        .get(OWNED_SETTING)
        .map(|list| {
            list.split(',')
                .filter(|key| !key.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The keys strata wrote for the manifest (its own records left out: they change only
/// through the records a write passes).
fn owned_for_manifest(current: &Settings) -> BTreeSet<String> {
    owned_keys(current)
        .into_iter()
        .filter(|key| !RESERVED.contains(&key.as_str()))
        .collect()
}

/// The package history, newest first.
pub fn history(current: &Settings) -> Vec<String> {
    current
        .get(HISTORY_SETTING)
        .map(|list| {
            list.split(',')
                .filter(|sha| !sha.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Checks that the manifest's settings can be written: none reserved, none that belongs to
/// the user with another value (unless `adopt`).
pub fn check_desired(
    app: &str,
    current: &Settings,
    desired: &Settings,
    adopt: bool,
) -> Result<(), AzureError> {
    let owned = owned_keys(current);
    for (key, value) in desired {
        if RESERVED.contains(&key.as_str()) {
            return Err(AzureError::ReservedSetting { key: key.clone() });
        }
        let theirs = current.get(key).filter(|_| !owned.contains(key));
        if theirs.is_some_and(|existing| existing != value) && !adopt {
            return Err(AzureError::SettingNotOwned {
                app: app.to_owned(),
                key: key.clone(),
            });
        }
    }
    Ok(())
}

/// The manifest's settings that differ from the app's, and the ones strata wrote before that
/// the manifest no longer has (to be removed); values masked as `secret` says.
pub fn changes(
    current: &Settings,
    desired: &Settings,
    secret: impl Fn(&str) -> bool,
) -> Vec<FieldChange> {
    let owned = owned_for_manifest(current);
    let mut changes: Vec<FieldChange> = desired
        .iter()
        .filter(|(key, value)| current.get(*key) != Some(*value))
        .map(|(key, value)| {
            FieldChange::environment(
                key,
                current.get(key).map(String::as_str),
                Some(value),
                secret(key),
            )
        })
        .collect();
    changes.extend(
        owned
            .iter()
            .filter(|key| !desired.contains_key(*key) && current.contains_key(*key))
            .map(|key| {
                FieldChange::environment(
                    key,
                    current.get(key).map(String::as_str),
                    None,
                    secret(key),
                )
            }),
    );
    changes
}

/// The dictionary to write: the app's current settings, minus what strata wrote before and
/// the manifest dropped, plus the manifest's settings and strata's own records. Every other
/// key keeps its value.
pub fn merge(current: &Settings, desired: &Settings, records: &Settings) -> Settings {
    let previously_owned = owned_for_manifest(current);
    let mut merged: Settings = current
        .iter()
        .filter(|(key, _)| !previously_owned.contains(*key) || desired.contains_key(*key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    merged.extend(desired.clone());
    let mut owned: BTreeSet<&str> = desired.keys().map(String::as_str).collect();
    // Records this write leaves alone stay strata's.
    let kept_records = owned_keys(current);
    owned.extend(
        kept_records
            .iter()
            .filter(|key| RESERVED.contains(&key.as_str()) && merged.contains_key(*key))
            .map(String::as_str),
    );
    for (key, value) in records {
        if key == OWNED_SETTING {
            continue;
        }
        if value.is_empty() {
            merged.remove(key);
            owned.remove(key.as_str());
        } else {
            merged.insert(key.clone(), value.clone());
            owned.insert(key);
        }
    }
    merged.insert(
        OWNED_SETTING.to_owned(),
        owned.into_iter().collect::<Vec<_>>().join(","),
    );
    merged
}

/// The history after `new` replaces `current`: `current` first, `new` taken out, at most
/// [`KEEP_PACKAGES`]. The second list is what drops out (their blobs can go).
pub fn next_history(
    current: Option<&str>,
    new: &str,
    history: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut next: Vec<String> = current
        .into_iter()
        .map(str::to_owned)
        .chain(history.iter().cloned())
        .filter(|sha| sha != new)
        .collect();
    let mut seen = BTreeSet::new();
    next.retain(|sha| seen.insert(sha.clone()));
    let dropped = next.split_off(next.len().min(KEEP_PACKAGES));
    (next, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn merge_keeps_every_setting_strata_did_not_write() {
        let current = settings(&[
            ("USER_FLAG", "on"),
            ("AzureWebJobsStorage", "conn"),
            ("STAGE", "dev"),
            ("OLD", "x"),
            (OWNED_SETTING, "OLD,STAGE"),
        ]);
        let desired = settings(&[("STAGE", "prod"), ("NEW", "1")]);
        let merged = merge(&current, &desired, &settings(&[(PACKAGE_SETTING, "abc")]));
        assert_eq!(merged["USER_FLAG"], "on");
        assert_eq!(merged["AzureWebJobsStorage"], "conn");
        assert_eq!(merged["STAGE"], "prod");
        assert_eq!(merged["NEW"], "1");
        assert_eq!(merged[PACKAGE_SETTING], "abc");
        assert!(
            !merged.contains_key("OLD"),
            "a dropped setting of strata's stays"
        );
        assert_eq!(
            merged[OWNED_SETTING],
            format!("NEW,STAGE,{PACKAGE_SETTING}")
        );
    }

    #[test]
    fn a_settings_only_write_keeps_strata_s_package_records() {
        let current = settings(&[
            (PACKAGE_SETTING, "abc"),
            ("STAGE", "dev"),
            (OWNED_SETTING, &format!("STAGE,{PACKAGE_SETTING}")),
        ]);
        let desired = settings(&[("STAGE", "prod")]);
        assert_eq!(changes(&current, &desired, |_| false).len(), 1);
        let merged = merge(&current, &desired, &Settings::new());
        assert_eq!(merged[PACKAGE_SETTING], "abc");
        assert_eq!(merged[OWNED_SETTING], format!("STAGE,{PACKAGE_SETTING}"));
    }

    #[test]
    fn merge_with_an_empty_record_removes_it() {
        let current = settings(&[
            (RUN_FROM_PACKAGE, "https://x"),
            (OWNED_SETTING, RUN_FROM_PACKAGE),
        ]);
        let merged = merge(
            &current,
            &Settings::new(),
            &settings(&[(RUN_FROM_PACKAGE, "")]),
        );
        assert!(!merged.contains_key(RUN_FROM_PACKAGE));
    }

    #[test]
    fn a_users_setting_with_another_value_is_refused_unless_adopted() {
        let current = settings(&[("API_URL", "theirs")]);
        let desired = settings(&[("API_URL", "ours")]);
        assert!(matches!(
            check_desired("app", &current, &desired, false),
            Err(AzureError::SettingNotOwned { .. })
        ));
        assert!(check_desired("app", &current, &desired, true).is_ok());
        assert!(check_desired("app", &current, &settings(&[("API_URL", "theirs")]), false).is_ok());
        assert!(matches!(
            check_desired("app", &current, &settings(&[(PACKAGE_SETTING, "x")]), false),
            Err(AzureError::ReservedSetting { .. })
        ));
    }

    #[test]
    fn changes_mask_secrets_and_list_removals() {
        let current = settings(&[
            ("API_TOKEN", "old-canary"),
            ("GONE", "1"),
            ("SAME", "s"),
            (OWNED_SETTING, "API_TOKEN,GONE,SAME"),
        ]);
        let desired = settings(&[("API_TOKEN", "new-canary"), ("SAME", "s")]);
        let changes = changes(&current, &desired, |_| false);
        let text = format!("{changes:?}");
        assert!(!text.contains("canary"), "{text}");
        assert_eq!(changes.len(), 2, "{text}");
        assert_eq!(changes[0].field, "environment.API_TOKEN");
        assert_eq!(changes[1].field, "environment.GONE");
        assert_eq!(changes[1].new, None);
    }

    #[test]
    fn history_keeps_the_last_few_and_says_what_drops_out() {
        let (next, dropped) = next_history(Some("c"), "d", &["b".into(), "a".into(), "z".into()]);
        assert_eq!(next, ["c", "b", "a"]);
        assert_eq!(dropped, ["z"]);
        // Rolling back to `b` takes it out of the history and puts the current one first.
        let (next, dropped) = next_history(Some("d"), "b", &next);
        assert_eq!(next, ["d", "c", "a"]);
        assert!(dropped.is_empty());
    }
}
