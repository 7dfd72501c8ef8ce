//! Times as SQLite and MySQL store them: whole Unix microseconds in an integer column
//! (no time zone to get wrong, and the order is the numeric one).

use time::OffsetDateTime;

use crate::Error;

/// A time as whole Unix microseconds, the way it is stored.
pub(crate) fn to_micros(time: OffsetDateTime) -> Result<i64, Error> {
    i64::try_from(time.unix_timestamp_nanos().div_euclid(1000)).map_err(|_| Error::TimestampOutOfRange)
}

/// A time read back from whole Unix microseconds.
pub(crate) fn from_micros(micros: i64, what: &'static str) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).map_err(|_| Error::Corrupt { what })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn micros_round_trip() {
        for time in [
            datetime!(2026-03-01 12:00:00.123456 UTC),
            datetime!(1969-12-31 23:59:59.999999 UTC),
            OffsetDateTime::UNIX_EPOCH,
        ] {
            let micros = to_micros(time).unwrap();
            assert_eq!(from_micros(micros, "t").unwrap(), time);
        }
        assert_eq!(to_micros(datetime!(1970-01-01 0:00:01 UTC)).unwrap(), 1_000_000);
        assert_eq!(to_micros(datetime!(1969-12-31 23:59:59.999999 UTC)).unwrap(), -1);
    }

    #[test]
    fn out_of_range_micros_are_corrupt() {
        assert!(matches!(
            from_micros(i64::MAX, "created"),
            Err(Error::Corrupt { what: "created" })
        ));
    }
}
