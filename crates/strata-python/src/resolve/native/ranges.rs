//! PEP 440 specifiers as pubgrub ranges.
//!
//! PEP 440 comparisons are not plain intervals: `<2.0` excludes `2.0rc1`, `>1.0` excludes
//! `1.0.post1`, `==1.2.*` spans every `1.2` release and pre-release. pep440_rs's internal
//! `min`/`max` release parts (`2.0.min0` sorts before every other `2.0`, `1.0.max0` after)
//! turn each into an interval. Pre-releases inside an interval are decided when choosing a
//! version, not here.

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

/// The intersection of every specifier.
pub(crate) fn specifiers_range(specifiers: &VersionSpecifiers) -> VersionRange {
    specifiers.iter().fold(Ranges::full(), |range, specifier| {
        range.intersection(&specifier_range(specifier))
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use super::*;

    fn admits(specifiers: &str, version: &str) -> bool {
        specifiers_range(&VersionSpecifiers::from_str(specifiers).unwrap())
            .contains(&Version::from_str(version).unwrap())
    }

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
        for specifier in specifiers {
            let parsed = VersionSpecifiers::from_str(specifier).unwrap();
            for version in versions {
                let candidate = Version::from_str(version).unwrap();
                assert_eq!(
                    admits(specifier, version),
                    parsed.contains(&candidate),
                    "{specifier} vs {version}"
                );
            }
        }
    }
}
