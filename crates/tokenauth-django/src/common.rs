//! What every dialect shares: token ids and set versions derived from DRF's rows, the
//! record a row stands for, and the checks on what may be written.

use std::fmt;

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tokenauth_core::store::{Change, Ended, TokenDigest, TokenRecord, TokenSet};
use tokenauth_core::{PlainToken, Scopes, TokenId, User, UserId};

use crate::keys::KeyKind;

use crate::Error;
use crate::export::DjangoUser;

/// A row of `authtoken_token`: the key, its user (the user table's key, as core's
/// text), and `created`; the credential version of its user as read with it
/// ([`credential_version`]), and its public id.
#[derive(Clone)]
pub struct KeyRow {
    pub(crate) key: String,
    pub(crate) user_id: UserId,
    pub(crate) created: OffsetDateTime,
    /// knox's `expiry` (none on DRF's table, or knox's NULL: never).
    pub(crate) expires: Option<OffsetDateTime>,
    pub(crate) credential_version: u64,
    id: TokenId,
}

impl fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRow")
            .field("key", &"[redacted]")
            .field("user_id", &self.user_id)
            .field("created", &self.created)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// The credential version of a Django user: the first 8 bytes of the SHA-256 of
/// `auth_user.password`, so that any change of the stored hash (a new password set
/// here or by Django, a re-hash) changes it; 0 for no user, as core counts a
/// missing one. DRF's table has no version column: a token's version is its user's,
/// read with the row, so a token lives as long as its user does (as in Django), and a
/// commit inserts a key only while the password is still the one the login verified
/// (see the stores' `commit`).
pub(crate) fn credential_version(password: Option<&str>) -> u64 {
    password.map_or(0, |password| {
        let digest = Sha256::digest(password.as_bytes());
        u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
    })
}

/// A row of `auth_user` as core sees it: the password only as its digest.
pub(crate) fn user(row: DjangoUser) -> User {
    User {
        id: row.id,
        credential_version: credential_version(Some(&row.password)),
        username: row.username,
        is_active: row.is_active,
    }
}

impl KeyRow {
    /// The row, its user's `password` read with it (none where not joined), its user
    /// a key of `kind`.
    pub(crate) fn new(
        key: String,
        user_id: UserId,
        created: OffsetDateTime,
        password: Option<&str>,
        kind: KeyKind,
    ) -> Self {
        Self {
            id: kind.token_id(&user_id, &key),
            key,
            user_id,
            created,
            expires: None,
            credential_version: credential_version(password),
        }
    }

    /// The public id of this token ([`KeyKind::token_id`]).
    pub(crate) fn id(&self) -> TokenId {
        self.id.clone()
    }

    pub(crate) fn digest(&self) -> Result<TokenDigest, Error> {
        TokenDigest::from_drf_key(&self.key).ok_or(Error::Corrupt {
            what: "a key that is not 40 lowercase hex characters",
        })
    }

    pub(crate) fn record(&self) -> Result<TokenRecord, Error> {
        Ok(self.record_with(self.digest()?))
    }

    /// The record of this row, with the digest it is known by.
    pub(crate) fn record_with(&self, digest: TokenDigest) -> TokenRecord {
        TokenRecord {
            id: self.id(),
            digest,
            user_id: self.user_id.clone(),
            credential_version: self.credential_version,
            name: None,
            scopes: Scopes::none(),
            created: self.created,
            expires: self.expires,
            last_used: None,
            last_ip: None,
        }
    }

    pub(crate) fn ended(&self) -> Result<Ended, Error> {
        Ok(Ended {
            id: self.id(),
            digest: self.digest()?,
            user_id: self.user_id.clone(),
        })
    }
}

/// The version of a user's token set: 0 with no row, else a number derived from the
/// row (key and `created`). DRF's schema has no version column and must not get one;
/// since a user has at most one row, the row itself is the state, and a value derived
/// from it changes whenever a commit changes the set. A comparison on it is a
/// compare-and-swap on the set's content.
pub(crate) fn version_of(rows: &[KeyRow]) -> u64 {
    let mut hasher = Sha256::new();
    if rows.is_empty() {
        return 0;
    }
    for row in rows {
        hasher.update(row.key.as_bytes());
        hasher.update(row.created.unix_timestamp_nanos().to_le_bytes());
    }
    let digest = hasher.finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")).max(1)
}

/// The user's token set, oldest first.
pub(crate) fn token_set(mut rows: Vec<KeyRow>) -> Result<TokenSet, Error> {
    sort(&mut rows);
    Ok(TokenSet {
        version: version_of(&rows),
        records: rows.iter().map(KeyRow::record).collect::<Result<_, _>>()?,
    })
}

/// Oldest first, ties broken by id (the contract's order).
pub(crate) fn sort(rows: &mut [KeyRow]) {
    rows.sort_by_cached_key(|r| (r.created, r.id()));
}

/// The key to insert for a new record, refusing what DRF's table cannot hold. Its
/// credential version is not stored but checked against the user's password by the
/// commit.
pub(crate) fn key_to_insert(record: &TokenRecord) -> Result<String, Error> {
    if record.expires.is_some() {
        return Err(Error::Unsupported("a lifespan of a token's own"));
    }
    if !record.scopes.is_empty() {
        return Err(Error::Unsupported("scopes"));
    }
    let key: Option<PlainToken> = record.digest.drf_key();
    key.map(PlainToken::into_secret).ok_or(Error::Unsupported(
        "tokens of another format than DRF's (TokenFormat::drf)",
    ))
}

/// Whether `change` may commit for a user whose `auth_user.password` is `password`
/// (read inside the commit's transaction, the row locked): it inserts nothing, or its
/// record was issued under that password's credential version. A password changed
/// since the login read it is a conflict, which core answers by reading the user
/// again and refusing the login.
pub(crate) fn issued_under(change: &Change, password: Option<&str>) -> bool {
    change
        .insert
        .as_ref()
        .is_none_or(|record| record.credential_version == credential_version(password))
}

/// The user's rows a change deletes.
pub(crate) fn doomed<'a>(rows: &'a [KeyRow], change: &Change) -> Vec<&'a KeyRow> {
    rows.iter().filter(|r| change.delete.contains(&r.id())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user_id: i64, key: &str) -> KeyRow {
        let user = UserId::from(user_id);
        KeyRow::new(
            key.to_owned(),
            user,
            OffsetDateTime::UNIX_EPOCH,
            None,
            KeyKind::Integer,
        )
    }

    #[test]
    fn ids_name_the_user_and_differ_per_key() {
        let a = row(2_147_483_647, "c218a4606fa3bb321c24908f39f21bd17624f918");
        let b = row(2_147_483_647, "7da792dcf1f761496e6287da519a91bf26192232");
        assert_eq!(a.id().as_str().len(), 22);
        assert!(a.id().as_str().starts_with("2147483647Z"));
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn versions_follow_the_rows() {
        let a = row(1, "c218a4606fa3bb321c24908f39f21bd17624f918");
        let b = row(1, "7da792dcf1f761496e6287da519a91bf26192232");
        assert_eq!(version_of(&[]), 0);
        assert_ne!(version_of(std::slice::from_ref(&a)), 0);
        assert_ne!(
            version_of(std::slice::from_ref(&a)),
            version_of(std::slice::from_ref(&b))
        );
        let mut later = a.clone();
        later.created += time::Duration::microseconds(1);
        assert_ne!(version_of(&[a]), version_of(&[later]));
    }
}
