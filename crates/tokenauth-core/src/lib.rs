//! The core of [tokenauth](https://docs.rs/tokenauth): expiring API tokens, without HTTP
//! and without a database driver.
//!
//! This crate holds everything that does not depend on how requests arrive or where
//! tokens are kept, written once:
//!
//! - the token format ([`TokenFormat`]): `tka_` + 256 random bits in base62 + a CRC32
//!   checksum, matched by [`TOKEN_REGEX`]; the plaintext lives only in the
//!   [`PlainToken`] returned at issue, and stores keep a SHA-256
//!   [`TokenDigest`](store::TokenDigest);
//! - the expiry rule ([`ExpiryPolicy`], [`Lifespan`]);
//! - the storage contract, in [`store`]: what a backend implements (its tokens, its
//!   users, their administration, bulk imports, a revocation bus). Backends translate
//!   a few primitives (a per-user compare-and-swap among them) while every policy
//!   decision is made here. The crate root holds what an application uses; an
//!   implementor's items are under [`store`] only;
//! - the one verdict on a token ([`TokenStatus`]): credential versions, not clocks,
//!   decide revocation on password change;
//! - the authenticate, obtain and admin logic, with DRF's exact error messages
//!   ([`TokenAuth`]), and argon2id password hashing ([`PasswordHasher`]): stored hashes
//!   capped ([`password_limits`]), a failed check costing at least an unknown user's
//!   dummy work, and re-hashing of outdated hashes; other stored formats (Django's, in
//!   `tokenauth-django`) are given to a hasher explicitly ([`PasswordScheme`]);
//! - a cache of token and user lookups ([`AuthCache`]), a decorator in front of any
//!   store and directory ([`Cached`]), exactly coherent in one process and across
//!   processes through the revocation signal ([`Revocation`],
//!   [`RevocationBus`](store::RevocationBus), [`Publisher`]);
//! - an injectable [`Clock`], and an in-memory store and user directory.
//!
//! # Caching
//!
//! [`TokenAuth::with_cache`] puts an [`AuthCache`] in front of any store and directory
//! (they become [`Cached`] ones): a request whose token (and user) were looked up
//! recently costs no store round trip, unknown well-formed tokens cost one lookup each,
//! and every change this service makes is seen by the very next request. Across processes, the cache follows a
//! [`RevocationBus`](store::RevocationBus) ([`AuthCache::follow`]) and the service publishes on it
//! ([`Publisher`]):
//!
//! ```
//! use tokenauth_core::{AuthCache, MemoryStore, MemoryUserDirectory, TokenAuth, TokenRequest};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let users = MemoryUserDirectory::new();
//! let alice = users.add_user("alice", "correct horse", true).await?;
//! let auth = TokenAuth::new(MemoryStore::new(), users).with_cache(AuthCache::new(10_000));
//!
//! let issued = auth.issue(&alice, TokenRequest::default()).await?;
//! auth.authenticate(issued.token.expose_secret(), None).await?; // looked up, cached
//! auth.authenticate(issued.token.expose_secret(), None).await?; // from memory
//! auth.logout(&issued.info).await?;
//! assert!(auth.authenticate(issued.token.expose_secret(), None).await.is_err());
//! # Ok(()) }
//! ```
//!
//! Applications use it through the `tokenauth` crate (tower layer, axum extractor,
//! obtain endpoint) and find what they need at this crate's root; store and directory
//! implementors find theirs in [`store`], and run the conformance suites of the
//! `tokenauth-conformance` crate.
//!
//! # Features
//!
//! - `maintenance` (default): the background upkeep on Tokio's timers
//!   ([`TokenAuth::start_maintenance`], `MaintenanceHandle`).
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
mod bulk;
mod cache;
mod challenge;
mod clock;
mod error;
mod events;
mod expiry;
mod memory;
mod password;
mod prefetch;
mod record;
mod revocation;
mod scope;
mod service;
pub mod store;
mod token;
mod usage;
mod user;
mod verdict;

pub use cache::{AuthCache, CacheStats, Cached, DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL, Following};
pub use challenge::{Challenge, DEFAULT_REALM, InvalidChallenge, InvalidRealm, MAX_REALM_CHARS, Realm};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AuthError, BackendError, IssueError, ObtainError};
pub use events::{AuthEvent, AuthOutcome, EventHook, LOG_BURST, LOG_WINDOW, LoginOutcome, RevokeReason};
pub use expiry::{ExpiryPolicy, InvalidLifespan, Lifespan};
pub use memory::{MemoryStore, MemoryUserDirectory};
pub use password::limits as password_limits;
pub use password::{
    DEFAULT_HASH_QUEUE, DEFAULT_HASH_WAIT, HashLimit, MalformedHash, PasswordError, PasswordHasher,
    PasswordScheme, QueueStats, Verification,
};
pub use record::TokenInfo;
pub use revocation::{LocalBus, Publisher, Revocation};
pub use scope::{InvalidScope, Scopes};
#[cfg(feature = "maintenance")]
pub use service::MaintenanceHandle;
pub use service::{
    DEFAULT_MAX_TOKENS_PER_USER, DEFAULT_PURGE_BATCH, DEFAULT_PURGE_GRACE, DEFAULT_REFRESH_INTERVAL,
    DEFAULT_SESSION_SCOPE, InvalidObtainPolicy, InvalidOnLimit, Issued, Maintenance, ObtainPolicy, OnLimit,
    TokenAuth, TokenLimit, TokenRequest, Upserted, Verified,
};
pub use token::{
    DEFAULT_PREFIX, InvalidKnoxPrefix, InvalidPrefix, InvalidTokenId, PlainToken, TOKEN_REGEX, TokenFormat,
    TokenGenerator, TokenId,
};
pub use user::{AuthUser, User, UserId};
pub use verdict::TokenStatus;

pub use time;
