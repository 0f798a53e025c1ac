//! The one timestamp every entry of an archive carries.

use serde::Serialize;

/// An MS-DOS date and time (UTC, two-second resolution) stamped on every entry.
///
/// Built from `SOURCE_DATE_EPOCH` when the caller has one, otherwise 1980-01-01 00:00:00, the
/// earliest time the format can hold. This crate never reads the environment itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ZipTimestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Default for ZipTimestamp {
    fn default() -> Self {
        Self {
            year: 1980,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
        }
    }
}

/// 1980-01-01T00:00:00Z, the first instant a DOS timestamp can hold.
const DOS_EPOCH: u64 = 315_532_800;
/// 2107-12-31T23:59:58Z, the last instant a DOS timestamp can hold.
const DOS_END: u64 = 4_354_819_198;

impl ZipTimestamp {
    /// The timestamp for `SOURCE_DATE_EPOCH` seconds (clamped to 1980..=2107, rounded down to
    /// an even second as the format requires), or the 1980 default for `None`.
    pub fn from_source_date_epoch(epoch: Option<u64>) -> Self {
        let Some(epoch) = epoch else {
            return Self::default();
        };
        let seconds = epoch.clamp(DOS_EPOCH, DOS_END);
        let days = seconds / 86_400;
        let of_day = seconds % 86_400;
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: (of_day / 3600) as u8,
            minute: (of_day % 3600 / 60) as u8,
            second: (of_day % 60 / 2 * 2) as u8,
        }
    }

    pub(crate) fn dos_date(&self) -> u16 {
        ((self.year - 1980) << 9) | (u16::from(self.month) << 5) | u16::from(self.day)
    }

    pub(crate) fn dos_time(&self) -> u16 {
        (u16::from(self.hour) << 11) | (u16::from(self.minute) << 5) | u16::from(self.second / 2)
    }
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u16, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year as u16, month as u8, day as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_dos_epoch() {
        let timestamp = ZipTimestamp::from_source_date_epoch(None);
        assert_eq!(timestamp, ZipTimestamp::default());
        assert_eq!(timestamp.dos_date(), (1 << 5) | 1);
        assert_eq!(timestamp.dos_time(), 0);
    }

    #[test]
    fn source_date_epoch_is_converted_in_utc_and_rounded_to_even_seconds() {
        // 2024-02-29T13:37:59Z
        let timestamp = ZipTimestamp::from_source_date_epoch(Some(1_709_213_879));
        assert_eq!(
            (timestamp.year, timestamp.month, timestamp.day),
            (2024, 2, 29)
        );
        assert_eq!(
            (timestamp.hour, timestamp.minute, timestamp.second),
            (13, 37, 58)
        );
    }

    #[test]
    fn out_of_range_epochs_are_clamped() {
        assert_eq!(
            ZipTimestamp::from_source_date_epoch(Some(0)),
            ZipTimestamp::default()
        );
        let late = ZipTimestamp::from_source_date_epoch(Some(u64::MAX));
        assert_eq!((late.year, late.month, late.day), (2107, 12, 31));
        assert_eq!((late.hour, late.minute, late.second), (23, 59, 58));
    }
}
