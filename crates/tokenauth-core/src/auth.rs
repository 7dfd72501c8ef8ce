//! Authentication and obtain logic, written once for every store and directory.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::clock::{Clock, SystemClock};
use crate::expiry::{ExpiryPolicy, Lifespan};
use crate::record::{TokenInfo, TokenRecord};
use crate::store::TokenStore;
use crate::token::{PlainToken, TokenFormat, TokenId};
use crate::user::{AuthUser, UserDirectory, UserId};

/// Why a request could not be authenticated. The messages are DRF's, byte for byte.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials at all (no header, or another scheme) where they are required.
    #[error("Authentication credentials were not provided.")]
    NotProvided,
    /// The keyword with no token after it.
    #[error("Invalid token header. No credentials provided.")]
    NoCredentials,
    /// More than one word after the keyword.
    #[error("Invalid token header. Token string should not contain spaces.")]
    ContainsSpaces,
    /// A token that is not valid UTF-8.
    #[error("Invalid token header. Token string should not contain invalid characters.")]
    InvalidCharacters,
    /// Not a token this service issued, or one that was revoked.
    #[error("Invalid token")]
    InvalidToken,
    /// The token's user is deactivated or gone.
    #[error("User inactive or deleted")]
    UserInactive,
    /// The token outlived its lifespan.
    #[error("Token has expired")]
    Expired,
    /// The store or the user directory failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why an obtain (login) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObtainError {
    /// Unknown user, wrong password or inactive user: deliberately indistinguishable.
    #[error("Unable to log in with provided credentials.")]
    InvalidCredentials,
    /// The store or the user directory failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// A failure of the token store or the user directory, with its cause kept as `source`.
#[derive(Debug, thiserror::Error)]
#[error("token store or user directory failed")]
pub struct BackendError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl BackendError {
    /// Wraps a backend's error.
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(source))
    }
}

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
    /// Its id, name, creation and expiry.
    pub info: TokenInfo,
}

#[derive(Debug, Clone)]
struct Config {
    format: TokenFormat,
    policy: ExpiryPolicy,
    /// Accepted `Authorization` keywords; the first is the one named in challenges.
    keywords: Vec<String>,
}

/// The token authentication service: a store, a user directory, a clock and the policy.
///
/// Cheap to clone (its parts are shared), so the tower layer, the obtain endpoint and
/// your own code can each hold one.
///
/// ```
/// use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenAuth, Lifespan};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let users = MemoryUserDirectory::new();
/// users.add_user("alice", "correct horse", true).await?;
/// let auth = TokenAuth::new(MemoryStore::new(), users)
///     .with_lifespan("12h".parse::<Lifespan>()?);
///
/// let issued = auth.obtain("alice", "correct horse", None).await?;
/// let verified = auth.authenticate(issued.token.expose_secret()).await?;
/// assert_eq!(verified.user.username, "alice");
/// # Ok(()) }
/// ```
pub struct TokenAuth<S, D> {
    store: Arc<S>,
    users: Arc<D>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
}

impl<S, D> Clone for TokenAuth<S, D> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            users: Arc::clone(&self.users),
            clock: Arc::clone(&self.clock),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S, D> fmt::Debug for TokenAuth<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuth")
            .field("clock", &self.clock)
            .field("format", &self.config.format)
            .field("lifespan", &self.config.policy.lifespan())
            .field("keywords", &self.config.keywords)
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// A service over `store` and `users` with the defaults: a 30-day lifespan, the
    /// `tka_` prefix, the keywords `Token` and `Bearer`, and the system clock.
    pub fn new(store: S, users: D) -> Self {
        Self {
            store: Arc::new(store),
            users: Arc::new(users),
            clock: Arc::new(SystemClock),
            config: Arc::new(Config {
                format: TokenFormat::default(),
                policy: ExpiryPolicy::default(),
                keywords: vec!["Token".to_owned(), "Bearer".to_owned()],
            }),
        }
    }

    /// Sets how long tokens live (default 30 days). It applies to existing tokens too.
    pub fn with_lifespan(mut self, lifespan: Lifespan) -> Self {
        Arc::make_mut(&mut self.config).policy = ExpiryPolicy::new(lifespan);
        self
    }

    /// Sets the token format (default prefix `tka_`).
    ///
    /// # Warning
    ///
    /// Tokens issued under another prefix stop working: they no longer parse.
    pub fn with_format(mut self, format: TokenFormat) -> Self {
        Arc::make_mut(&mut self.config).format = format;
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
        Arc::make_mut(&mut self.config).keywords = keywords;
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

    /// The expiry policy.
    pub fn policy(&self) -> ExpiryPolicy {
        self.config.policy
    }

    /// The token format.
    pub fn format(&self) -> &TokenFormat {
        &self.config.format
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
    /// credentials for this scheme (anonymous).
    pub async fn authenticate_header(
        &self,
        header: Option<&[u8]>,
    ) -> Result<Option<Verified<D::User>>, AuthError> {
        match self.token_from_header(header)? {
            Some(token) => self.authenticate(token).await.map(Some),
            None => Ok(None),
        }
    }

    /// Authenticates a token. The checks run in the original's order: unknown token,
    /// then inactive or deleted user, then expiry.
    #[tracing::instrument(
        name = "tokenauth.authenticate",
        level = "debug",
        skip_all,
        err(level = "debug", Display)
    )]
    pub async fn authenticate(&self, token: &str) -> Result<Verified<D::User>, AuthError> {
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
            .filter(AuthUser::is_active)
            .ok_or(AuthError::UserInactive)?;
        let now = self.clock.now();
        if self.config.policy.is_expired(&record, now) {
            return Err(AuthError::Expired);
        }
        tracing::debug!(token_id = %record.id, user_id = %record.user_id, "authenticated");
        Ok(Verified {
            user,
            token: self.info(&record),
        })
    }

    /// Trades a username and password for a new token (one per login: several devices
    /// hold several tokens). Unknown users, wrong passwords and inactive users all get
    /// [`ObtainError::InvalidCredentials`].
    ///
    /// `username` is matched exactly; the HTTP endpoint trims it first, as DRF does.
    #[tracing::instrument(name = "tokenauth.obtain", skip_all)]
    pub async fn obtain(
        &self,
        username: &str,
        password: &str,
        name: Option<String>,
    ) -> Result<Issued, ObtainError> {
        let user = self
            .users
            .verify_credentials(username, password)
            .await
            .map_err(BackendError::new)?
            .filter(AuthUser::is_active)
            .ok_or(ObtainError::InvalidCredentials)?;
        Ok(self.issue(&user.id(), name, None).await?)
    }

    /// Issues a token to a user without checking a password (for administrators and
    /// trusted code). With `lifespan`, the token dies after that long even if the
    /// configured lifespan is longer.
    #[tracing::instrument(name = "tokenauth.issue", skip_all, fields(user_id = %user_id))]
    pub async fn issue(
        &self,
        user_id: &UserId,
        name: Option<String>,
        lifespan: Option<Lifespan>,
    ) -> Result<Issued, BackendError> {
        let token = self.config.format.generate();
        let created = self.clock.now();
        let record = TokenRecord {
            id: TokenId::generate(),
            digest: token.digest(),
            user_id: user_id.clone(),
            name,
            created,
            expires: lifespan.map(|l| created + l.as_duration()),
        };
        self.store.insert(&record).await.map_err(BackendError::new)?;
        tracing::info!(token_id = %record.id, "token issued");
        Ok(Issued {
            token,
            info: self.info(&record),
        })
    }

    /// The tokens of one user, or of everyone, oldest first.
    pub async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenInfo>, BackendError> {
        let records = self.store.list(user).await.map_err(BackendError::new)?;
        Ok(records.iter().map(|r| self.info(r)).collect())
    }

    /// Revokes a token by id; `true` if it existed. It stops working at once.
    #[tracing::instrument(name = "tokenauth.revoke", skip_all, fields(token_id = %id))]
    pub async fn revoke(&self, id: &TokenId) -> Result<bool, BackendError> {
        self.store.delete(id).await.map_err(BackendError::new)
    }

    /// The public view of a record under the current policy.
    pub fn info(&self, record: &TokenRecord) -> TokenInfo {
        TokenInfo {
            id: record.id.clone(),
            user_id: record.user_id.clone(),
            name: record.name.clone(),
            created: record.created,
            expires: self.config.policy.expires_at(record),
        }
    }
}
