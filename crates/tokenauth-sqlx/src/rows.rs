//! Rows as every backend reads them: the SQL-independent half of turning columns into
//! records, users and [`Ended`]s.

use std::net::IpAddr;

use time::OffsetDateTime;
use tokenauth_core::store::{Ended, TokenDigest, TokenRecord};
use tokenauth_core::{Scopes, TokenId, User, UserId};

use crate::Error;

/// A `tokenauth_tokens` row as read, with times as the backend stores them (`T`): id,
/// digest, user id, credential version, name, scopes, created, expires, last used,
/// last address.
pub(crate) type Row<T> = (
    String,
    Vec<u8>,
    String,
    i64,
    Option<String>,
    String,
    T,
    Option<T>,
    Option<T>,
    Option<String>,
);

/// The columns a [`Row`] reads, in its order.
macro_rules! token_columns {
    () => {
        "id, digest, user_id, credential_version, name, scopes, created, expires, last_used, last_ip"
    };
}
pub(crate) use token_columns;

/// What a `DELETE ... RETURNING` reads of each deleted row, in [`EndedRow`] order.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! returning_ended {
    () => {
        " RETURNING id, digest, user_id, created"
    };
}
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use returning_ended;

/// A deleted row as returned: id, digest, user id, created (as the backend stores it).
pub(crate) type EndedRow<T> = (String, Vec<u8>, String, T);

/// A `tokenauth_users` row as read for a [`User`]: id, username, is_active,
/// credential_version.
pub(crate) type UserRow = (i64, String, bool, i64);

/// A token's user as read in the same query as the token, handed from the store to
/// the directory ([`tokenauth_core::store::PrefetchedUser`]'s content here): the
/// database file it was read from, the user's key as the token names it (`None` if
/// the token's user id is not one of ours), and its row (`None`: no such user).
pub struct JoinedUser {
    pub(crate) file: std::sync::Arc<std::path::Path>,
    pub(crate) key: Option<i64>,
    pub(crate) row: Option<UserRow>,
}

impl std::fmt::Debug for JoinedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinedUser").finish_non_exhaustive()
    }
}

/// The columns read for a [`User`], in [`UserRow`] order.
macro_rules! user_columns {
    () => {
        "id, username, is_active, credential_version"
    };
}
pub(crate) use user_columns;

pub(crate) fn token_id(id: &str) -> Result<TokenId, Error> {
    id.parse::<TokenId>().map_err(|_| Error::Corrupt {
        what: "token id is not a token id",
    })
}

pub(crate) fn digest(bytes: &[u8]) -> Result<TokenDigest, Error> {
    let bytes = <[u8; 32]>::try_from(bytes).map_err(|_| Error::Corrupt {
        what: "token digest is not 32 bytes",
    })?;
    Ok(TokenDigest::from_bytes(bytes))
}

/// The token set version as stored, read back: it only ever counts up from 0, so a
/// negative value is a damaged row.
pub(crate) fn set_version_from(stored: i64) -> Result<u64, Error> {
    u64::try_from(stored).map_err(|_| Error::Corrupt {
        what: "token set version is negative",
    })
}

/// The record of a [`Row`], its times read with `time` (given the stored value and
/// what it is, for the error).
pub(crate) fn record_from_row<T>(
    (id, digest_bytes, user_id, credential_version, name, scopes, created, expires, last_used, last_ip): Row<
        T,
    >,
    time: impl Fn(T, &'static str) -> Result<OffsetDateTime, Error>,
) -> Result<TokenRecord, Error> {
    Ok(TokenRecord {
        id: token_id(&id)?,
        digest: digest(&digest_bytes)?,
        user_id: UserId::new(user_id),
        credential_version: credential_version.cast_unsigned(),
        name,
        scopes: Scopes::parse(&scopes).map_err(|_| Error::Corrupt {
            what: "token scopes are not scope names",
        })?,
        created: time(created, "token creation time out of range")?,
        expires: expires
            .map(|e| time(e, "token expiry time out of range"))
            .transpose()?,
        last_used: last_used
            .map(|t| time(t, "token last-used time out of range"))
            .transpose()?,
        last_ip: last_ip
            .map(|ip| ip.parse::<IpAddr>())
            .transpose()
            .map_err(|_| Error::Corrupt {
                what: "token last-used address is not an IP address",
            })?,
    })
}

/// The [`Ended`]s of deleted rows, oldest first (by `created`, then id).
pub(crate) fn ended_from_rows<T: Ord>(mut rows: Vec<EndedRow<T>>) -> Result<Vec<Ended>, Error> {
    // RETURNING comes in no particular order. The id columns compare bytes (SQLite's
    // BINARY collation, PostgreSQL's "C"), as `String`'s `Ord` does, so this is
    // `ORDER BY created, id`.
    rows.sort_unstable_by(|a, b| (&a.3, &a.0).cmp(&(&b.3, &b.0)));
    rows.into_iter()
        .map(|(id, digest_bytes, user_id, _)| {
            Ok(Ended {
                id: token_id(&id)?,
                digest: digest(&digest_bytes)?,
                user_id: UserId::new(user_id),
            })
        })
        .collect()
}

pub(crate) fn user_from_row((id, username, is_active, credential_version): UserRow) -> Result<User, Error> {
    Ok(User {
        id: UserId::from(id),
        username,
        is_active,
        credential_version: u64::try_from(credential_version).map_err(|_| Error::Corrupt {
            what: "user credential version is negative",
        })?,
    })
}

/// The primary key `id` names: only the canonical decimal spelling, so that "007" or
/// "+7" is not user 7's id (a token of user "007" must not authenticate as user 7).
pub(crate) fn row_id(id: &UserId) -> Option<i64> {
    row_key(id.as_str())
}

/// [`row_id`] of a user id as stored.
pub(crate) fn row_key(id: &str) -> Option<i64> {
    id.parse::<i64>().ok().filter(|n| n.to_string() == id)
}
