//! Datetimes as Django writes them in SQLite: naive UTC text, Python's
//! `str(datetime)`.

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::Error;

/// `2026-11-27 14:44:48.029931`, or `2026-11-28 12:44:48` when the microseconds are 0
/// (Python leaves the fraction out): the exact text Django writes, so that SQL text
/// comparisons on the column stay right.
pub(crate) fn to_django_text(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    let base = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let text = at.format(&base).expect("a date in range formats");
    match at.microsecond() {
        0 => text,
        micros => format!("{text}.{micros:06}"),
    }
}

/// Reads what Django wrote ([`to_django_text`]); a fraction of 1 to 9 digits and an
/// ISO `T` separator are accepted too.
pub(crate) fn from_django_text(text: &str) -> Result<OffsetDateTime, Error> {
    let corrupt = Error::Corrupt {
        what: "a `created` or `date_joined` that is not YYYY-MM-DD HH:MM:SS[.ffffff]",
    };
    let text = text.trim_end_matches("+00:00").replacen('T', " ", 1);
    let (base, fraction) = match text.split_once('.') {
        Some((base, fraction)) => (base, Some(fraction)),
        None => (text.as_str(), None),
    };
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let at = PrimitiveDateTime::parse(base, &format).map_err(|_| corrupt)?;
    let nanos = match fraction {
        None => 0,
        Some(f) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            let digits: u32 = f.parse().map_err(|_| Error::Corrupt { what: "a fraction" })?;
            digits * 10u32.pow(9 - u32::try_from(f.len()).expect("at most 9"))
        }
        Some(_) => {
            return Err(Error::Corrupt {
                what: "a `created` or `date_joined` with a malformed fraction",
            });
        }
    };
    let at = at
        .replace_nanosecond(nanos)
        .map_err(|_| Error::Corrupt { what: "a fraction" })?;
    Ok(at.assume_utc())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn django_text_round_trips_with_and_without_microseconds() {
        for (at, text) in [
            (
                datetime!(2026-11-27 14:44:48.029931 UTC),
                "2026-11-27 14:44:48.029931",
            ),
            (datetime!(2026-11-28 12:44:48 UTC), "2026-11-28 12:44:48"),
            (
                datetime!(2026-01-02 03:04:05.000001 UTC),
                "2026-01-02 03:04:05.000001",
            ),
        ] {
            assert_eq!(to_django_text(at), text);
            assert_eq!(from_django_text(text).unwrap(), at);
        }
        assert_eq!(
            to_django_text(datetime!(2026-11-28 14:44:48.5 +02:00)),
            "2026-11-28 12:44:48.500000"
        );
    }

    #[test]
    fn other_spellings_read_and_garbage_does_not() {
        assert_eq!(
            from_django_text("2026-11-27T14:44:48.5").unwrap(),
            datetime!(2026-11-27 14:44:48.5 UTC)
        );
        assert_eq!(
            from_django_text("2026-11-27 14:44:48+00:00").unwrap(),
            datetime!(2026-11-27 14:44:48 UTC)
        );
        for bad in [
            "",
            "yesterday",
            "2026-11-27 14:44:48.",
            "2026-11-27 14:44:48.12345678901",
        ] {
            assert!(from_django_text(bad).is_err(), "{bad}");
        }
    }
}
