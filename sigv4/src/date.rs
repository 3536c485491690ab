//! The two renderings of the signing time SigV4 uses: `YYYYMMDD` (in the credential scope
//! and the signing-key derivation) and `YYYYMMDDTHHMMSSZ` (in `x-amz-date` and the string to
//! sign). Always UTC, whatever offset the caller's time carries: the server compares against
//! its UTC clock and scope dates are UTC days.

use time::{OffsetDateTime, UtcOffset};

/// The signing time, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AmzDate {
    /// `YYYYMMDD`.
    pub(crate) date: String,
    /// `YYYYMMDDTHHMMSSZ`.
    pub(crate) date_time: String,
}

impl AmzDate {
    pub(crate) fn new(now: OffsetDateTime) -> Self {
        // Converting to UTC only fails within a day of the ends of `time`'s range (years
        // ±9999); there the instant is kept as given rather than panicking.
        let utc = now.checked_to_offset(UtcOffset::UTC).unwrap_or(now);
        let date = format!(
            "{:04}{:02}{:02}",
            utc.year(),
            u8::from(utc.month()),
            utc.day()
        );
        let date_time = format!(
            "{date}T{:02}{:02}{:02}Z",
            utc.hour(),
            utc.minute(),
            utc.second()
        );
        AmzDate { date, date_time }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn renders_utc() {
        let d = AmzDate::new(datetime!(2013-05-24 00:00:00 UTC));
        assert_eq!(d.date, "20130524");
        assert_eq!(d.date_time, "20130524T000000Z");
    }

    #[test]
    fn converts_other_offsets_to_utc() {
        // 01:30 at +02:00 is 23:30 the day before in UTC: the scope date must be the UTC one.
        let d = AmzDate::new(datetime!(2024-03-01 01:30:05.999 +02:00));
        assert_eq!(d.date, "20240229");
        assert_eq!(d.date_time, "20240229T233005Z");
    }
}
