//! The token authentication service: configuration and the authenticate path.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, BackendError};
use crate::events::{self, AuthEvent, EventHook};
use crate::expiry::{ExpiryPolicy, Lifespan};
use crate::record::{TokenInfo, TokenRecord};
use crate::scope::Scopes;
use crate::store::TokenStore;
use crate::token::{PlainToken, TokenFormat};
use crate::usage::UsageBuffer;
use crate::user::{AuthUser, UserDirectory};

/// The default per-user token limit.
pub const DEFAULT_MAX_TOKENS_PER_USER: usize = 100;

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

/// What a login does to the user's other tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObtainPolicy {
    /// Every login issues a new token and keeps the others: one token per device
    /// (default).
    #[default]
    New,
    /// Every login revokes the user's other tokens and issues one new token, atomically.
    Replace,
}

/// A string that is neither `new` nor `replace`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected `new` or `replace`")]
pub struct InvalidObtainPolicy;

impl FromStr for ObtainPolicy {
    type Err = InvalidObtainPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "new" => Ok(Self::New),
            "replace" => Ok(Self::Replace),
            _ => Err(InvalidObtainPolicy),
        }
    }
}

/// What happens when a user already holds the maximum number of live tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnLimit {
    /// Revoke the user's oldest live tokens to make room (default).
    #[default]
    EvictOldest,
    /// Refuse the new token (the obtain endpoint answers 403).
    Reject,
}

/// A string that is neither `evict_oldest` nor `reject`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected `evict_oldest` or `reject`")]
pub struct InvalidOnLimit;

impl FromStr for OnLimit {
    type Err = InvalidOnLimit;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "evict_oldest" | "evict-oldest" => Ok(Self::EvictOldest),
            "reject" => Ok(Self::Reject),
            _ => Err(InvalidOnLimit),
        }
    }
}

/// How many live tokens one user may hold, and what happens beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimit {
    max: usize,
    on_limit: OnLimit,
}

impl TokenLimit {
    /// At most `max` live tokens per user (at least 1).
    ///
    /// # Panics
    ///
    /// If `max` is 0.
    pub fn new(max: usize, on_limit: OnLimit) -> Self {
        assert!(max >= 1, "a token limit must allow at least one token");
        Self { max, on_limit }
    }

    /// The maximum.
    pub fn max(&self) -> usize {
        self.max
    }

    /// What happens beyond it.
    pub fn on_limit(&self) -> OnLimit {
        self.on_limit
    }
}

impl Default for TokenLimit {
    /// [`DEFAULT_MAX_TOKENS_PER_USER`] tokens, evicting the oldest.
    fn default() -> Self {
        Self::new(DEFAULT_MAX_TOKENS_PER_USER, OnLimit::EvictOldest)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) format: TokenFormat,
    pub(crate) policy: ExpiryPolicy,
    /// Accepted `Authorization` keywords; the first is the one named in challenges.
    pub(crate) keywords: Vec<String>,
    pub(crate) obtain_policy: ObtainPolicy,
    pub(crate) token_limit: Option<TokenLimit>,
    pub(crate) refresh_interval: Duration,
    pub(crate) grantable: Scopes,
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
    pub(crate) usage: Arc<UsageBuffer>,
}

impl<S, D> Clone for TokenAuth<S, D> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            users: Arc::clone(&self.users),
            clock: Arc::clone(&self.clock),
            config: Arc::clone(&self.config),
            hook: self.hook.clone(),
            usage: Arc::clone(&self.usage),
        }
    }
}

impl<S, D> fmt::Debug for TokenAuth<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuth")
            .field("clock", &self.clock)
            .field("config", &self.config)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// A service over `store` and `users` with the defaults: a 30-day lifespan and no
    /// idle timeout, the `tka_` prefix, the keywords `Token` and `Bearer`, a new token
    /// per login, at most [`DEFAULT_MAX_TOKENS_PER_USER`] live tokens per user (evicting
    /// the oldest), last-used times written every 60 seconds, no scopes, and the system
    /// clock.
    pub fn new(store: S, users: D) -> Self {
        Self {
            store: Arc::new(store),
            users: Arc::new(users),
            clock: Arc::new(SystemClock),
            config: Arc::new(Config {
                format: TokenFormat::default(),
                policy: ExpiryPolicy::default(),
                keywords: vec!["Token".to_owned(), "Bearer".to_owned()],
                obtain_policy: ObtainPolicy::New,
                token_limit: Some(TokenLimit::default()),
                refresh_interval: DEFAULT_REFRESH_INTERVAL,
                grantable: Scopes::none(),
            }),
            hook: None,
            usage: Arc::default(),
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
    pub fn with_scopes(mut self, grantable: Scopes) -> Self {
        self.config_mut().grantable = grantable;
        self
    }

    /// Passes every [`AuthEvent`] to `hook`, for auditing (default: events are only
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

    /// Sets the clock (default: the system clock). Tests pass a
    /// [`ManualClock`](crate::ManualClock).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
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

    /// The scopes tokens may carry.
    pub fn grantable_scopes(&self) -> &Scopes {
        &self.config.grantable
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

    /// Reads the token out of an `Authorization` header value, following DRF's rules:
    /// split on ASCII whitespace; another scheme (or no header) is `Ok(None)`
    /// (anonymous); then the DRF header errors, in DRF's order.
    pub fn token_from_header<'h>(&self, header: Option<&'h [u8]>) -> Result<Option<&'h str>, AuthError> {
        let Some(header) = header else { return Ok(None) };
        // Python's `bytes.split()`: ASCII whitespace, including vertical tab.
        let mut words = header
            .split(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
            .filter(|w| !w.is_empty());
        let Some(keyword) = words.next() else {
            return Ok(None);
        };
        if !self
            .config
            .keywords
            .iter()
            .any(|k| k.as_bytes().eq_ignore_ascii_case(keyword))
        {
            return Ok(None);
        }
        let token = match (words.next(), words.next()) {
            (None, _) => return Err(AuthError::NoCredentials),
            (Some(_), Some(_)) => return Err(AuthError::ContainsSpaces),
            (Some(token), None) => token,
        };
        std::str::from_utf8(token)
            .map(Some)
            .map_err(|_| AuthError::InvalidCharacters)
    }

    /// Authenticates an `Authorization` header value: `Ok(None)` when it carries no
    /// credentials for this scheme (anonymous). `ip` is the client's address, when
    /// known, recorded as the token's last-used address.
    pub async fn authenticate_header(
        &self,
        header: Option<&[u8]>,
        ip: Option<IpAddr>,
    ) -> Result<Option<Verified<D::User>>, AuthError> {
        match self.token_from_header(header)? {
            Some(token) => self.authenticate(token, ip).await.map(Some),
            None => Ok(None),
        }
    }

    /// Authenticates a token. The checks run in the original's order: unknown token
    /// (or revoked, or issued before a password change), then inactive or deleted user,
    /// then expiry. A successful use is recorded in memory, not written: see
    /// [`flush_usage`](Self::flush_usage).
    #[tracing::instrument(
        name = "tokenauth.authenticate",
        level = "debug",
        skip_all,
        err(level = "debug", Display)
    )]
    pub async fn authenticate(
        &self,
        token: &str,
        ip: Option<IpAddr>,
    ) -> Result<Verified<D::User>, AuthError> {
        // Garbage never reaches the store.
        let digest = self
            .config
            .format
            .digest_if_well_formed(token)
            .ok_or(AuthError::InvalidToken)?;
        let record = self
            .store
            .find_by_digest(&digest)
            .await
            .map_err(BackendError::new)?
            .filter(|record| record.digest == digest)
            .ok_or(AuthError::InvalidToken)?;
        let user = self
            .users
            .find_user(&record.user_id)
            .await
            .map_err(BackendError::new)?
            .ok_or(AuthError::UserInactive)?;
        if user
            .password_changed()
            .is_some_and(|changed| record.created < changed)
        {
            return Err(AuthError::InvalidToken);
        }
        if !user.is_active() {
            return Err(AuthError::UserInactive);
        }
        let now = self.clock.now();
        let (last_used, _) = self.latest_use(&record);
        if now > self.config.policy.expires_at(&record, last_used) {
            self.emit(AuthEvent::ExpiredRejected {
                token_id: record.id.clone(),
                user_id: record.user_id.clone(),
            });
            return Err(AuthError::Expired);
        }
        self.record_use(&record, now, ip);
        Ok(Verified {
            user,
            token: self.info(&record),
        })
    }

    /// The freshest use known here, when and from where: the record's, or a newer one
    /// not yet written.
    fn latest_use(&self, record: &TokenRecord) -> (Option<OffsetDateTime>, Option<IpAddr>) {
        match self.usage.latest(&record.id) {
            Some((at, ip)) if record.last_used.is_none_or(|stored| at >= stored) => {
                (Some(at), ip.or(record.last_ip))
            }
            _ => (record.last_used, record.last_ip),
        }
    }

    fn record_use(&self, record: &TokenRecord, now: OffsetDateTime, ip: Option<IpAddr>) {
        let recorded = self.usage.record(&record.id, &record.user_id, now, ip);
        if let Some(ip) = ip {
            let previous = recorded.previous_ip.or(record.last_ip);
            if previous != Some(ip) {
                self.emit(AuthEvent::UsedFromNewIp {
                    token_id: record.id.clone(),
                    user_id: record.user_id.clone(),
                    ip,
                    previous,
                });
            }
        }
        if recorded.first_in_window && self.config.policy.idle_timeout().is_some() {
            self.emit(AuthEvent::Renewed {
                token_id: record.id.clone(),
                user_id: record.user_id.clone(),
                until: self.config.policy.expires_at(record, Some(now)),
            });
        }
    }

    /// Logs an event and passes it to the hook.
    pub(crate) fn emit(&self, event: AuthEvent) {
        events::trace(&event);
        if let Some(hook) = &self.hook {
            hook.on_event(&event);
        }
    }

    /// The public view of a record under the current policy, with its latest use
    /// (including uses not yet written).
    pub fn info(&self, record: &TokenRecord) -> TokenInfo {
        let (last_used, last_ip) = self.latest_use(record);
        TokenInfo {
            id: record.id.clone(),
            user_id: record.user_id.clone(),
            name: record.name.clone(),
            scopes: record.scopes.clone(),
            created: record.created,
            expires: self.config.policy.expires_at(record, last_used),
            last_used,
            last_ip,
        }
    }
}
