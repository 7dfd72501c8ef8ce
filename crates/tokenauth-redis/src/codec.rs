//! How a record is written in its user's hash: the fields that never change as JSON
//! under `r:ID`, the last use apart under `u:ID` (so that a use is written by a
//! script without decoding the record).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokenauth_core::store::{TokenDigest, TokenRecord};
use tokenauth_core::{Scopes, TokenId, UserId};

use crate::Error;

/// The JSON of `r:ID`.
#[derive(Serialize, Deserialize)]
struct Fixed {
    id: String,
    /// The digest, in hex.
    digest: String,
    user: String,
    credential_version: u64,
    name: Option<String>,
    /// Space-separated.
    scopes: String,
    /// Microseconds since the Unix epoch.
    created: i64,
    expires: Option<i64>,
}

/// The fixed part of `record`, as stored under `r:ID`.
pub(crate) fn encode_record(record: &TokenRecord) -> String {
    let fixed = Fixed {
        id: record.id.as_str().to_owned(),
        digest: hex(record.digest.as_bytes()),
        user: record.user_id.as_str().to_owned(),
        credential_version: record.credential_version,
        name: record.name.clone(),
        scopes: record.scopes.to_string(),
        created: micros(record.created),
        expires: record.expires.map(micros),
    };
    serde_json::to_string(&fixed).expect("a record serializes")
}

/// The last use of `record` as stored under `u:ID`, if it has a time or an address.
pub(crate) fn encode_record_usage(record: &TokenRecord) -> Option<String> {
    (record.last_used.is_some() || record.last_ip.is_some())
        .then(|| encode_usage(record.last_used, record.last_ip))
}

/// `AT|IP`: `AT` as 20 digits that sort like the instants they stand for (so that the
/// usage script compares them as strings), empty when never used; `IP` empty when
/// unknown.
pub(crate) fn encode_usage(at: Option<OffsetDateTime>, ip: Option<IpAddr>) -> String {
    format!(
        "{}|{}",
        at.map(sortable).unwrap_or_default(),
        ip.map(|ip| ip.to_string()).unwrap_or_default()
    )
}

/// `at` as 20 digits, in the order of the instants.
pub(crate) fn sortable(at: OffsetDateTime) -> String {
    let shifted = i128::from(micros(at)) + (1_i128 << 63);
    format!("{shifted:020}")
}

/// A record from its `r:ID` and `u:ID` fields.
pub(crate) fn decode_record(fixed: &[u8], usage: Option<&[u8]>) -> Result<TokenRecord, Error> {
    let fixed: Fixed = serde_json::from_slice(fixed).map_err(|_| Error::Corrupt("record"))?;
    let (last_used, last_ip) = match usage {
        None => (None, None),
        Some(usage) => decode_usage(usage).ok_or(Error::Corrupt("last use"))?,
    };
    Ok(TokenRecord {
        id: fixed
            .id
            .parse::<TokenId>()
            .map_err(|_| Error::Corrupt("token id"))?,
        digest: TokenDigest::from_bytes(unhex(&fixed.digest).ok_or(Error::Corrupt("digest"))?),
        user_id: UserId::new(fixed.user),
        credential_version: fixed.credential_version,
        name: fixed.name,
        scopes: Scopes::parse(&fixed.scopes).map_err(|_| Error::Corrupt("scopes"))?,
        created: instant(fixed.created)?,
        expires: fixed.expires.map(instant).transpose()?,
        last_used,
        last_ip,
    })
}

fn decode_usage(usage: &[u8]) -> Option<(Option<OffsetDateTime>, Option<IpAddr>)> {
    let usage = std::str::from_utf8(usage).ok()?;
    let (at, ip) = usage.split_once('|')?;
    let at = if at.is_empty() {
        None
    } else {
        let shifted: i128 = at.parse().ok()?;
        Some(instant(i64::try_from(shifted - (1_i128 << 63)).ok()?).ok()?)
    };
    let ip = if ip.is_empty() {
        None
    } else {
        Some(ip.parse().ok()?)
    };
    Some((at, ip))
}

fn micros(at: OffsetDateTime) -> i64 {
    // Records keep whole microseconds; an instant past i64 microseconds (±292,000
    // years) cannot be stored by any backend either.
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

fn instant(micros: i64) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).map_err(|_| Error::Corrupt("time"))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn usage_times_sort_as_strings() {
        let times = [
            datetime!(1900-01-01 0:00 UTC),
            datetime!(1969-12-31 23:59:59.999999 UTC),
            datetime!(1970-01-01 0:00 UTC),
            datetime!(2026-03-01 12:00:00.123456 UTC),
            datetime!(2026-03-01 12:00:00.123457 UTC),
        ];
        for pair in times.windows(2) {
            assert!(sortable(pair[0]) < sortable(pair[1]), "{pair:?}");
            assert_eq!(sortable(pair[0]).len(), 20);
        }
        let encoded = encode_usage(Some(times[3]), Some("2001:db8::1".parse().unwrap()));
        let ip = Some("2001:db8::1".parse().unwrap());
        assert_eq!(decode_usage(encoded.as_bytes()), Some((Some(times[3]), ip)));
    }
}
