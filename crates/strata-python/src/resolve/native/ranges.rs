//! PEP 440 specifiers as pubgrub ranges.
//!
//! PEP 440 comparisons are not plain intervals: `<2.0` excludes `2.0rc1`, `>1.0` excludes
//! `1.0.post1`, `==1.2.*` spans every `1.2` release and pre-release. pep440_rs's internal
//! `min`/`max` release parts (`2.0.min0` sorts before every other `2.0`, `1.0.max0` after)
//! turn each into an interval. Pre-releases inside an interval are decided when choosing a
//! version, not here.
//!
//! Local versions (`1.2.3+cpu`, PEP 440): a specifier without a local label ignores the
//! candidates' labels, so `==1.2.3` admits `1.2.3+cpu` and `!=1.2.3` excludes it, while
//! `==1.2.3+cpu` admits that version alone. pep440_rs sorts `1.2.3+cpu` right after `1.2.3`,
//! and no finite version sorts after every `1.2.3+…`, so the ranges cannot close over them;
//! [`specifier_range_with_locals`] adds the local variants a project actually has instead.

use pep440_rs::{Operator, Version, VersionSpecifier, VersionSpecifiers};
use pubgrub::Ranges;

pub(crate) type VersionRange = Ranges<Version>;

/// `release` with its last part raised by one: the end of `~=` and `==X.*`.
fn bump_last(version: &Version, parts: usize) -> Version {
    let mut release: Vec<u64> = version.release().iter().copied().take(parts).collect();
    if let Some(last) = release.last_mut() {
        *last += 1;
    }
    Version::new(release).with_epoch(version.epoch())
}

fn release_start(version: &Version) -> Version {
    Version::new(version.release().iter().copied()).with_epoch(version.epoch())
}

/// The versions one specifier admits, pre-releases included.
pub(crate) fn specifier_range(specifier: &VersionSpecifier) -> VersionRange {
    let version = specifier.version().clone();
    match specifier.operator() {
        Operator::Equal | Operator::ExactEqual => Ranges::singleton(version),
        Operator::NotEqual => Ranges::singleton(version).complement(),
        Operator::EqualStar => star_range(&version),
        Operator::NotEqualStar => star_range(&version).complement(),
        Operator::TildeEqual => {
            let parts = version.release().len().saturating_sub(1).max(1);
            let end = bump_last(&version, parts).with_min(Some(0));
            Ranges::from_range_bounds(version..end)
        }
        // `<V` admits no pre-release of V's release, even when V is one itself; `<2.0.post1`
        // still admits `2.0`.
        Operator::LessThan => {
            let release = release_start(&version);
            let below = Ranges::strictly_lower_than(release.clone().with_min(Some(0)));
            if version.is_post() {
                below.union(&Ranges::from_range_bounds(release..version))
            } else {
                below
            }
        }
        Operator::LessThanEqual => Ranges::lower_than(version),
        Operator::GreaterThan => {
            if version.is_post() || version.is_dev() {
                Ranges::strictly_higher_than(version)
            } else {
                Ranges::strictly_higher_than(version.with_max(Some(0)))
            }
        }
        Operator::GreaterThanEqual => Ranges::higher_than(version),
    }
}

fn star_range(version: &Version) -> VersionRange {
    let start = release_start(version).with_min(Some(0));
    let end = bump_last(version, version.release().len()).with_min(Some(0));
    Ranges::from_range_bounds(start..end)
}

/// The intersection of every specifier, local variants left out.
#[cfg(test)]
fn specifiers_range(specifiers: &VersionSpecifiers) -> VersionRange {
    specifiers_range_with_locals(specifiers, |_| Vec::new())
}

/// Whether the range of `specifier` must be corrected for the local variants of its version
/// (`==`, `!=` and `<=` of a version without a local label; the other operators already
/// sort every `V+label` on the right side of their bound).
pub(crate) fn needs_locals(specifier: &VersionSpecifier) -> bool {
    specifier.version().local().is_empty()
        && matches!(
            specifier.operator(),
            Operator::Equal | Operator::NotEqual | Operator::LessThanEqual
        )
}

/// The versions `specifier` admits, where `locals` are the known versions whose public part
/// is the specifier's version (`1.2.3+cpu`, `1.2.3+cu121` for `==1.2.3`).
pub(crate) fn specifier_range_with_locals(
    specifier: &VersionSpecifier,
    locals: &[Version],
) -> VersionRange {
    let base = specifier_range(specifier);
    if locals.is_empty() || !needs_locals(specifier) {
        return base;
    }
    let variants = locals.iter().fold(Ranges::empty(), |range, local| {
        range.union(&Ranges::singleton(local.clone()))
    });
    match specifier.operator() {
        Operator::NotEqual => base.intersection(&variants.complement()),
        _ => base.union(&variants),
    }
}

/// The intersection of every specifier, each corrected by `locals` (the known local
/// variants of a public version, see [`specifier_range_with_locals`]).
pub(crate) fn specifiers_range_with_locals(
    specifiers: &VersionSpecifiers,
    locals: impl Fn(&Version) -> Vec<Version>,
) -> VersionRange {
    specifiers.iter().fold(Ranges::full(), |range, specifier| {
        let variants = if needs_locals(specifier) {
            locals(specifier.version())
        } else {
            Vec::new()
        };
        range.intersection(&specifier_range_with_locals(specifier, &variants))
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use super::*;

    #[test]
    fn ranges_agree_with_pep_440_comparisons() {
        let specifiers = [
            "<2.0",
            "<=2.0",
            ">1.0",
            ">=1.0",
            "==1.2.*",
            "!=1.2.*",
            "~=1.4.5",
            "~=2.2",
            "==1.0",
            "!=1.0",
            ">1.0.post1",
            "<2.0rc1",
            ">=1.0,<2",
            "==1!2.0.*",
        ];
        let versions = [
            "0.9",
            "1.0",
            "1.0.post1",
            "1.0.1",
            "1.1",
            "1.2.0",
            "1.2.5",
            "1.2rc1",
            "1.3a1",
            "1.4.4",
            "1.4.5",
            "1.4.9",
            "1.5.0",
            "2.0rc1",
            "2.0.dev1",
            "2.0",
            "2.0.post1",
            "2.2",
            "2.9",
            "3.0",
            "1!2.0.1",
        ];
        check_against_pep440(&specifiers, &versions);
    }

    /// Every specifier's range, with the local variants `versions` holds, admits exactly
    /// what pep440_rs's `contains` (PEP 440's own rules) admits.
    fn check_against_pep440(specifiers: &[&str], versions: &[&str]) {
        let known: Vec<Version> = versions
            .iter()
            .map(|version| Version::from_str(version).unwrap())
            .collect();
        for specifier in specifiers {
            let parsed = VersionSpecifiers::from_str(specifier).unwrap();
            let range = specifiers_range_with_locals(&parsed, |public| {
                known
                    .iter()
                    .filter(|version| {
                        !version.local().is_empty() && (*version).clone().without_local() == *public
                    })
                    .cloned()
                    .collect()
            });
            for candidate in &known {
                assert_eq!(
                    range.contains(candidate),
                    parsed.contains(candidate),
                    "{specifier} vs {candidate}"
                );
            }
        }
    }

    #[test]
    fn local_versions_follow_pep_440() {
        let specifiers = [
            "==1.2.3",
            "==1.2.3+cpu",
            "==1.2.3+cu121",
            "!=1.2.3",
            "!=1.2.3+cpu",
            "<=1.2.3",
            "<1.2.3",
            ">1.2.3",
            ">=1.2.3",
            "~=1.2",
            "==1.2.*",
            ">=1.0,!=1.2.3",
            "==2.0rc1",
        ];
        let versions = [
            "1.2.2",
            "1.2.2+cpu",
            "1.2.3",
            "1.2.3+cpu",
            "1.2.3+cu121",
            "1.2.3+cu121.1",
            "1.2.3+7",
            "1.2.3.post1",
            "1.2.3.post1+cpu",
            "1.2.4",
            "1.2.4+cpu",
            "2.0rc1",
            "2.0rc1+cpu",
        ];
        check_against_pep440(&specifiers, &versions);
    }

    #[test]
    fn without_locals_the_ranges_miss_local_variants() {
        // The reason for the correction: a bare singleton would refuse `1.2.3+cpu`.
        let parsed = VersionSpecifiers::from_str("==1.2.3").unwrap();
        let local = Version::from_str("1.2.3+cpu").unwrap();
        assert!(!specifiers_range(&parsed).contains(&local));
        assert!(parsed.contains(&local));
    }
}
