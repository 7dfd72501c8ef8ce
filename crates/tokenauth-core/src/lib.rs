//! The core of [tokenauth](https://docs.rs/tokenauth): expiring API tokens, without HTTP
//! and without a database driver.
//!
//! This crate holds everything that does not depend on how requests arrive or where
//! tokens are kept, written once:
//!
//! - the token format ([`TokenFormat`]): `tka_` + 256 random bits in base62 + a CRC32
//!   checksum, matched by [`TOKEN_REGEX`]; the plaintext lives only in the
//!   [`PlainToken`] returned at issue, and stores keep a SHA-256 [`TokenDigest`];
//! - the expiry rule ([`ExpiryPolicy`], [`Lifespan`]);
//! - the storage contract ([`TokenStore`]) and where users come from
//!   ([`UserDirectory`]);
//! - the authenticate and obtain logic, with DRF's exact error messages ([`TokenAuth`]);
//! - an injectable [`Clock`], an in-memory store and user directory, and argon2id
//!   password hashing.
//!
//! Applications use it through the `tokenauth` crate (tower layer, axum extractor,
//! obtain endpoint); store crates implement [`TokenStore`] and run the conformance
//! suite.
//!
//! # Features
//!
//! - `argon2` (default): [`PasswordHasher`] and [`MemoryUserDirectory`].
//! - `testing`: the store conformance suite ([`conformance`],
//!   [`token_store_conformance!`]).
//!
//! # Example
//!
//! ```
//! use tokenauth_core::{AuthError, ManualClock, MemoryStore, MemoryUserDirectory, TokenAuth, TokenRequest};
//! use time::{Duration, macros::datetime};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
//! let users = MemoryUserDirectory::new();
//! users.add_user("alice", "correct horse", true).await?;
//! let auth = TokenAuth::new(MemoryStore::new(), users).with_clock(clock.clone());
//!
//! let request = TokenRequest { name: Some("phone".into()), ..TokenRequest::default() };
//! let issued = auth.obtain("alice", "correct horse", request).await?;
//! let header = format!("Token {}", issued.token.expose_secret());
//! let verified = auth.authenticate_header(Some(header.as_bytes()), None).await?.unwrap();
//! assert_eq!(verified.user.username, "alice");
//!
//! clock.advance(Duration::days(30) + Duration::microseconds(1));
//! let err = auth.authenticate(issued.token.expose_secret(), None).await.unwrap_err();
//! assert!(matches!(err, AuthError::Expired));
//! assert_eq!(err.to_string(), "Token has expired");
//! # Ok(()) }
//! ```

mod admin;
mod clock;
mod error;
mod events;
mod expiry;
mod memory;
mod password;
mod record;
mod revocation;
mod scope;
mod service;
pub mod store;
mod token;
mod usage;
mod user;
mod verdict;

#[cfg(feature = "testing")]
pub mod conformance;

pub use admin::UserAdmin;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AuthError, BackendError, IssueError, ObtainError};
pub use events::{AuthEvent, EventHook, RevokeReason};
pub use expiry::{ExpiryPolicy, InvalidLifespan, Lifespan};
pub use memory::{MemoryStore, MemoryUserDirectory};
pub use password::{PasswordError, PasswordHasher, Verification};
pub use record::{TokenInfo, TokenRecord};
pub use revocation::{LocalBus, Revocation, RevocationBus, RevocationListener};
pub use scope::{InvalidScope, Scopes};
pub use service::{
    DEFAULT_MAX_TOKENS_PER_USER, DEFAULT_PURGE_BATCH, DEFAULT_PURGE_GRACE, DEFAULT_REFRESH_INTERVAL,
    InvalidObtainPolicy, InvalidOnLimit, Issued, Maintenance, MaintenanceHandle, ObtainPolicy, OnLimit,
    TokenAuth, TokenLimit, TokenRequest, Upserted, Verified,
};
pub use store::TokenStore;
pub use token::{
    DEFAULT_PREFIX, InvalidPrefix, InvalidTokenId, PlainToken, TOKEN_REGEX, TokenDigest, TokenFormat, TokenId,
};
pub use usage::Usage;
pub use user::{AuthUser, LoginRecord, User, UserDirectory, UserId};
pub use verdict::TokenStatus;

pub use time;
