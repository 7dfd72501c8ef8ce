//! What a store keeps for each token, and the non-secret view of it.

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::scope::Scopes;
use crate::token::{TokenDigest, TokenId};
use crate::user::UserId;

/// A stored token: everything but the token itself, which is kept only as its digest.
///
/// `Debug` shows no digest bytes (see [`TokenDigest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public id, for listing and revoking.
    pub id: TokenId,
    /// SHA-256 digest of the token.
    pub digest: TokenDigest,
    /// The user the token authenticates.
    pub user_id: UserId,
    /// The user's [credential version](crate::AuthUser::credential_version) when the
    /// token was issued: the token works only while the user's is the same.
    pub credential_version: u64,
    /// A label: the client or device it was issued to.
    pub name: Option<String>,
    /// What the token may be used for.
    pub scopes: Scopes,
    /// When it was issued (UTC, whole microseconds).
    pub created: OffsetDateTime,
    /// A cap of its own on its life, set when it was issued with a lifespan of its own;
    /// the configured lifespan still applies, and the earlier of the two wins. `None`:
    /// it follows the configured lifespan alone (see [`ExpiryPolicy`](crate::ExpiryPolicy)).
    pub expires: Option<OffsetDateTime>,
    /// When it was last used, as last written by [`TokenStore::record_usage`]
    /// (coalesced: it can lag real use by up to the refresh interval).
    ///
    /// [`TokenStore::record_usage`]: crate::store::TokenStore::record_usage
    pub last_used: Option<OffsetDateTime>,
    /// The client address it was last used from, when known.
    pub last_ip: Option<IpAddr>,
}

/// A token as shown to its owner or an administrator: no secret, no digest, and the
/// expiry as the current policy computes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// Public id.
    pub id: TokenId,
    /// The user it authenticates.
    #[serde(skip)]
    pub user_id: UserId,
    /// Its label, if any.
    pub name: Option<String>,
    /// What it may be used for.
    pub scopes: Scopes,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it expires (or expired), counting idle expiry if configured.
    #[serde(rename = "expiry", with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// When it was last used, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used: Option<OffsetDateTime>,
    /// The client address it was last used from, when known. Not serialized: an
    /// address is personal data, shown to administrators (`tokenauth token list`), not
    /// echoed by the API.
    #[serde(skip)]
    pub last_ip: Option<IpAddr>,
}
