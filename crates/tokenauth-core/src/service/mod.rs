//! The token authentication service, [`TokenAuth`]: its configuration here, its verbs
//! in the files beside this one.
//!
//! - `header`: reading the token out of an `Authorization` header;
//! - `authenticate`: the authenticate path and the verdict on a token;
//! - `issue`: login and issue, and the policy a new token applies to the others;
//! - `policy`: that policy's settings (the obtain policy, the per-user limit);
//! - `revoke`: listing and revoking, and the one place a deletion is announced;
//! - `users`: administering users (for directories that implement `UserAdmin`);
//! - `maintenance`: last-used writes, the purge, and the background upkeep;
//! - `backend`: every call to the store and the directory, under the backend timeout,
//!   and readiness.

mod authenticate;
mod backend;
mod config;
mod header;
mod hook;
mod issue;
mod maintenance;
mod policy;
mod revoke;
mod users;

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

pub(crate) use config::Config;
pub use config::DEFAULT_SESSION_SCOPE;
pub use issue::TokenRequest;
#[cfg(feature = "maintenance")]
pub use maintenance::MaintenanceHandle;
pub use maintenance::{DEFAULT_PURGE_BATCH, DEFAULT_PURGE_GRACE, Maintenance};
pub use policy::{
    DEFAULT_MAX_TOKENS_PER_USER, InvalidObtainPolicy, InvalidOnLimit, ObtainPolicy, OnLimit, TokenLimit,
};
pub use users::Upserted;

use crate::challenge::{Challenge, Realm};
use crate::clock::{Clock, SystemClock};
use crate::events::{EventHook, LogLimiter};
use crate::expiry::{ExpiryPolicy, Lifespan};
use crate::password::PasswordHasher;
use crate::record::TokenInfo;
use crate::revocation::RevocationListener;
use crate::scope::Scopes;
use crate::store::TokenStore;
use crate::token::{PlainToken, TokenFormat};
use crate::usage::UsageBuffer;
use crate::user::UserDirectory;

/// How many times a change to one user's tokens reads, decides and tries to commit
/// before giving up because the tokens keep changing under it. Each failed attempt means
/// another change of the same user landed, so this bounds the wait of one login among
/// that many concurrent ones.
pub(crate) const MAX_ATTEMPTS: usize = 256;

/// A user's tokens (or the user) kept changing for [`MAX_ATTEMPTS`] attempts.
#[derive(Debug, thiserror::Error)]
#[error("too many concurrent changes to one user's tokens; try again")]
pub(crate) struct Contention;

/// The default interval between writes of last-used times (and so of sliding-expiry
/// renewals): 60 seconds.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::seconds(60);

/// A request that was authenticated: its user and the token it presented.
#[derive(Debug, Clone)]
pub struct Verified<U> {
    /// The token's user (active).
    pub user: U,
    /// The token presented (no secret).
    pub token: TokenInfo,
}

/// A newly issued token: the plaintext, returned this once, and its public details.
#[derive(Debug)]
pub struct Issued {
    /// The token to hand to the client. It is not stored anywhere.
    pub token: PlainToken,
    /// Its id, name, scopes, creation and expiry.
    pub info: TokenInfo,
}

/// The token authentication service: a store, a user directory, a clock and the policy.
///
/// Cheap to clone (its parts are shared), so the tower layer, the endpoints and your own
/// code can each hold one. Clones share the buffer of last-used times, which
/// [`flush_usage`](Self::flush_usage) (or [`run_maintenance`](Self::run_maintenance))
/// writes to the store.
///
/// ```
/// use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenAuth, TokenRequest, Lifespan};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let users = MemoryUserDirectory::new();
/// users.add_user("alice", "correct horse", true).await?;
/// let auth = TokenAuth::new(MemoryStore::new(), users)
///     .with_lifespan("12h".parse::<Lifespan>()?);
///
/// let issued = auth.obtain("alice", "correct horse", TokenRequest::default()).await?;
/// let verified = auth.authenticate(issued.token.expose_secret(), None).await?;
/// assert_eq!(verified.user.username, "alice");
/// # Ok(()) }
/// ```
pub struct TokenAuth<S, D> {
    pub(crate) store: Arc<S>,
    pub(crate) users: Arc<D>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: Arc<Config>,
    pub(crate) hook: Option<Arc<dyn EventHook>>,
    /// Told of every revocation, in the order they were added.
    pub(crate) listeners: Arc<[Arc<dyn RevocationListener>]>,
    pub(crate) usage: Arc<UsageBuffer>,
    pub(crate) hasher: PasswordHasher,
    /// The rate limit on logging events a client can repeat.
    pub(crate) log_limiter: Arc<LogLimiter>,
}

impl<S, D> Clone for TokenAuth<S, D> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            users: Arc::clone(&self.users),
            clock: Arc::clone(&self.clock),
            config: Arc::clone(&self.config),
            hook: self.hook.clone(),
            listeners: Arc::clone(&self.listeners),
            usage: Arc::clone(&self.usage),
            hasher: self.hasher.clone(),
            log_limiter: Arc::clone(&self.log_limiter),
        }
    }
}

impl<S, D> fmt::Debug for TokenAuth<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuth")
            .field("clock", &self.clock)
            .field("config", &self.config)
            .field("hook", &self.hook.is_some())
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// A service over `store` and `users` with the defaults: a 30-day lifespan and no
    /// idle timeout, the `tka_` prefix, the keywords `Token` and `Bearer`, a new token
    /// per login, at most [`DEFAULT_MAX_TOKENS_PER_USER`] live tokens per user (evicting
    /// the oldest), last-used times written every 60 seconds, no scopes, no backend
    /// timeout, and the system clock.
    pub fn new(store: S, users: D) -> Self {
        Self {
            store: Arc::new(store),
            users: Arc::new(users),
            clock: Arc::new(SystemClock),
            config: Arc::new(Config {
                format: TokenFormat::default(),
                policy: ExpiryPolicy::default(),
                keywords: vec!["Token".to_owned(), "Bearer".to_owned()],
                challenge: Challenge::default(),
                realm: Realm::default(),
                obtain_policy: ObtainPolicy::New,
                token_limit: Some(TokenLimit::default()),
                refresh_interval: DEFAULT_REFRESH_INTERVAL,
                grantable: Scopes::none(),
                scopes_given: Scopes::none(),
                session_scope_given: None,
                session_scope: None,
                backend_timeout: None,
            }),
            hook: None,
            listeners: Arc::new([]),
            usage: Arc::default(),
            hasher: PasswordHasher::default(),
            log_limiter: Arc::default(),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Sets how long tokens live (default 30 days). It applies to existing tokens too,
    /// and is the longest lifespan a client may ask for.
    pub fn with_lifespan(mut self, lifespan: Lifespan) -> Self {
        let idle = self.config.policy.idle_timeout();
        self.config_mut().policy = ExpiryPolicy::new(lifespan)
            .with_idle_timeout(idle.map(|d| Lifespan::new(d).expect("already validated")));
        self
    }

    /// Turns on sliding expiry (default off): a token unused for `idle_timeout` expires,
    /// though never later than its lifespan allows. Use is written to the store at most
    /// once per [refresh interval](Self::with_refresh_interval), so idle expiry is
    /// accurate to within that interval across processes.
    pub fn with_idle_timeout(mut self, idle_timeout: Option<Lifespan>) -> Self {
        let policy = self.config.policy.with_idle_timeout(idle_timeout);
        self.config_mut().policy = policy;
        self
    }

    /// Sets how often last-used times are written to the store (default 60 seconds):
    /// each token is written at most once per interval, however often it is used.
    pub fn with_refresh_interval(mut self, interval: Lifespan) -> Self {
        self.config_mut().refresh_interval = interval.as_duration();
        self
    }

    /// Sets what a login does to the user's other tokens (default
    /// [`ObtainPolicy::New`]).
    pub fn with_obtain_policy(mut self, policy: ObtainPolicy) -> Self {
        self.config_mut().obtain_policy = policy;
        self
    }

    /// Sets the per-user limit on live tokens (default [`TokenLimit::default`]:
    /// [`DEFAULT_MAX_TOKENS_PER_USER`], evicting the oldest); `None` for no limit.
    ///
    /// # Warning
    ///
    /// Without a limit, a client that logs in on every run grows its user's tokens
    /// without bound until they expire.
    pub fn with_token_limit(mut self, limit: Option<TokenLimit>) -> Self {
        self.config_mut().token_limit = limit;
        self
    }

    /// Sets the scopes tokens may carry (default none). A token issued without asking
    /// for scopes gets all of them; asking for one not in this set is refused.
    ///
    /// With scopes, the session scope ([`DEFAULT_SESSION_SCOPE`] unless
    /// [`with_session_scope`](Self::with_session_scope) says otherwise) is granted too.
    pub fn with_scopes(mut self, grantable: Scopes) -> Self {
        let config = self.config_mut();
        config.scopes_given = grantable;
        config.settle();
        self
    }

    /// Sets the scope (a list: all of them) that the session routes other than logout
    /// (`POST /auth/logoutall`, `GET` and `POST /auth/tokens`, `DELETE
    /// /auth/tokens/{id}`) require, so that a narrow token cannot end, list or add to
    /// its user's other sessions;
    /// `None` for none. The scope is granted: tokens obtained without asking for
    /// scopes carry it, narrow ones do not.
    ///
    /// Default: [`DEFAULT_SESSION_SCOPE`] as soon as scopes are configured
    /// ([`with_scopes`](Self::with_scopes)), none otherwise (DRF has no scopes, and a
    /// service without them serves every route to every token). The order of the two
    /// calls does not matter.
    ///
    /// ```
    /// use tokenauth_core::{MemoryStore, MemoryUserDirectory, Scopes, TokenAuth};
    ///
    /// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new())
    ///     .with_scopes(Scopes::parse("read write").unwrap());
    /// assert_eq!(auth.session_scope().unwrap().to_string(), "sessions");
    /// assert_eq!(auth.grantable_scopes().to_string(), "read sessions write");
    ///
    /// let open = auth.with_session_scope(None);
    /// assert!(open.session_scope().is_none());
    /// assert_eq!(open.grantable_scopes().to_string(), "read write");
    ///
    /// // In either order.
    /// let admin = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new())
    ///     .with_session_scope(Some(Scopes::parse("admin").unwrap()))
    ///     .with_scopes(Scopes::parse("read").unwrap());
    /// assert_eq!(admin.session_scope().unwrap().to_string(), "admin");
    /// assert_eq!(admin.grantable_scopes().to_string(), "admin read");
    /// ```
    pub fn with_session_scope(mut self, scopes: Option<Scopes>) -> Self {
        let config = self.config_mut();
        config.session_scope_given = Some(scopes.filter(|scopes| !scopes.is_empty()));
        config.settle();
        self
    }

    /// Passes every [`AuthEvent`](crate::AuthEvent) to `hook`, for auditing (default: events are only
    /// logged with `tracing`).
    ///
    /// ```
    /// # use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenAuth, AuthEvent};
    /// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new())
    ///     .with_event_hook(|event: &AuthEvent| eprintln!("audit: {event:?}"));
    /// ```
    pub fn with_event_hook(mut self, hook: impl EventHook) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Also tells `listener` of every token that ends ([`Revocation`](crate::Revocation))
    /// (default: nobody): a [`Publisher`](crate::Publisher) for other processes,
    /// an audit of its own. Each listener added is told, in the order added.
    pub fn with_revocation_listener(mut self, listener: impl RevocationListener) -> Self {
        let added: Arc<dyn RevocationListener> = Arc::new(listener);
        self.listeners = self.listeners.iter().cloned().chain([added]).collect();
        self
    }

    /// Sets the password hasher for logins and the admin verbs (default: argon2id
    /// with OWASP's parameters). A correct password whose stored hash was made with
    /// other parameters is hashed again on login.
    pub fn with_password_hasher(mut self, hasher: PasswordHasher) -> Self {
        self.hasher = hasher;
        self
    }

    /// Sets the token format (default prefix `tka_`).
    ///
    /// # Warning
    ///
    /// Tokens issued under another prefix stop working: they no longer parse.
    pub fn with_format(mut self, format: TokenFormat) -> Self {
        self.config_mut().format = format;
        self
    }

    /// Sets the `Authorization` keywords accepted, compared case-insensitively (default
    /// `["Token", "Bearer"]`). The first is the one named in `WWW-Authenticate`.
    ///
    /// ```
    /// # use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenAuth};
    /// // DRF exactly: only `Token`.
    /// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new())
    ///     .with_keywords(["Token"]);
    /// assert_eq!(auth.challenge(), "Token");
    /// ```
    ///
    /// # Panics
    ///
    /// If `keywords` is empty or a keyword is empty or contains whitespace.
    pub fn with_keywords<K: Into<String>>(mut self, keywords: impl IntoIterator<Item = K>) -> Self {
        let keywords: Vec<String> = keywords.into_iter().map(Into::into).collect();
        assert!(
            !keywords.is_empty()
                && keywords
                    .iter()
                    .all(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic())),
            "keywords must be a non-empty list of non-empty words without spaces"
        );
        self.config_mut().keywords = keywords;
        self
    }

    /// Sets which challenges refusals carry (default [`Challenge::Auto`]: RFC 6750's
    /// to clients that send `Bearer` credentials, DRF's to the others). The HTTP layer
    /// reads it; so does anything else built from this service.
    ///
    /// RFC 6750's challenges name `Bearer`: keep it among the
    /// [keywords](Self::with_keywords) (it is by default), or a `Bearer` client is
    /// anonymous and [`Challenge::Auto`] answers it as DRF does.
    pub fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.config_mut().challenge = challenge;
        self
    }

    /// Sets the `realm` of RFC 6750 challenges (default `api`).
    pub fn with_realm(mut self, realm: Realm) -> Self {
        self.config_mut().realm = realm;
        self
    }

    /// Sets the clock (default: the system clock). Tests pass a
    /// [`ManualClock`](crate::ManualClock).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The same service over other backends, made from these: for a decorator that
    /// stands in front of both (as [`with_cache`](Self::with_cache) puts
    /// [`Cached`](crate::Cached) there). Call it before cloning the service: clones
    /// keep the old backends.
    pub fn map_backends<S2, D2>(
        self,
        store: impl FnOnce(Arc<S>) -> S2,
        users: impl FnOnce(Arc<D>) -> D2,
    ) -> TokenAuth<S2, D2> {
        TokenAuth {
            store: Arc::new(store(self.store)),
            users: Arc::new(users(self.users)),
            clock: self.clock,
            config: self.config,
            hook: self.hook,
            listeners: self.listeners,
            usage: self.usage,
            hasher: self.hasher,
            log_limiter: self.log_limiter,
        }
    }

    /// The token store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The user directory.
    pub fn users(&self) -> &D {
        &self.users
    }

    /// The current time by the injected clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The injected clock, for writes that must read the time themselves (such as a
    /// password change, which reads it inside its transaction).
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// The expiry policy.
    pub fn policy(&self) -> ExpiryPolicy {
        self.config.policy
    }

    /// The token format.
    pub fn format(&self) -> &TokenFormat {
        &self.config.format
    }

    /// The scopes tokens may carry (the session scope among them).
    pub fn grantable_scopes(&self) -> &Scopes {
        &self.config.grantable
    }

    /// The scope the session routes require, if any (see
    /// [`with_session_scope`](Self::with_session_scope)).
    pub fn session_scope(&self) -> Option<&Scopes> {
        self.config.session_scope.as_ref()
    }

    /// What a login does to the user's other tokens.
    pub fn obtain_policy(&self) -> ObtainPolicy {
        self.config.obtain_policy
    }

    /// The per-user token limit, if any.
    pub fn token_limit(&self) -> Option<TokenLimit> {
        self.config.token_limit
    }

    /// How often last-used times are written.
    pub fn refresh_interval(&self) -> Duration {
        self.config.refresh_interval
    }

    /// The scheme named in `WWW-Authenticate` on a 401: the first keyword.
    pub fn challenge(&self) -> &str {
        &self.config.keywords[0]
    }

    /// Which challenges refusals carry ([`with_challenge`](Self::with_challenge)).
    pub fn challenge_mode(&self) -> Challenge {
        self.config.challenge
    }

    /// The `realm` of RFC 6750 challenges ([`with_realm`](Self::with_realm)).
    pub fn realm(&self) -> &Realm {
        &self.config.realm
    }

    /// The password hasher.
    pub fn password_hasher(&self) -> &PasswordHasher {
        &self.hasher
    }
}
