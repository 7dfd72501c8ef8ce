//! The serving policy: what `serve` runs with, stores in the database, and what the
//! `token` commands apply (given options first, then the stored policy, then the
//! defaults), so that `token purge` never deletes a token the server still accepts.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use tokenauth::core::TokenAuth;
use tokenauth_core::store::{Capabilities, Settings, TokenStore, UserDirectory};
use tokenauth_core::{
    BackendError, DEFAULT_MAX_TOKENS_PER_USER, DEFAULT_PURGE_GRACE, InvalidScope, Lifespan, ObtainPolicy,
    OnLimit, Scopes, TokenFormat, TokenLimit,
};

use super::import_django::DjangoTokens;
use super::{CliError, Policy};

/// What `serve` keeps for the `token` commands in a backend's [`Settings`]: its policy,
/// which of Django's tokens were imported, and where it keeps its tokens. Reading and writing
/// them is done here, once, for every backend with settings (tokenauth-sqlx's stores):
/// there is nothing to implement.
pub trait PolicyStore: Settings {
    /// The stored policy values; none if no `serve` has stored any.
    fn load_policy(&self) -> impl Future<Output = Result<BTreeMap<String, String>, Self::Error>> + Send {
        self.settings(PREFIX)
    }

    /// Replaces the stored policy values with `values`, at once.
    fn store_policy(
        &self,
        values: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.replace_settings(PREFIX, values)
    }

    /// Which tokens of Django's `tokenauth import-django` stored here (by their
    /// digests), so that `serve` accepts them besides its own format.
    fn imported_tokens(&self) -> impl Future<Output = Result<ImportedTokens, Self::Error>> + Send {
        async {
            let stored = self.settings(IMPORTED).await?;
            Ok(ImportedTokens {
                drf: stored.contains_key(IMPORTED_DRF_KEYS),
                knox: stored.contains_key(IMPORTED_KNOX_TOKENS),
            })
        }
    }

    /// Records that tokens of this kind were imported (kept for good: those tokens stay
    /// valid until they expire, and a later `serve` must keep accepting them).
    fn set_imported(&self, kind: DjangoTokens) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let key = match kind {
            DjangoTokens::Drf => IMPORTED_DRF_KEYS,
            DjangoTokens::Knox => IMPORTED_KNOX_TOKENS,
        };
        let values = BTreeMap::from([(key.to_owned(), "true".to_owned())]);
        async move { self.replace_settings(key, &values).await }
    }

    /// Where the last `serve` kept its tokens (`database` or `redis:PREFIX`), if any
    /// `serve` recorded it.
    fn token_location(&self) -> impl Future<Output = Result<Option<String>, Self::Error>> + Send {
        async { Ok(self.settings(TOKEN_LOCATION).await?.remove(TOKEN_LOCATION)) }
    }

    /// Records where `serve` keeps its tokens.
    fn set_token_location(&self, location: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let values = BTreeMap::from([(TOKEN_LOCATION.to_owned(), location.to_owned())]);
        async move { self.replace_settings(TOKEN_LOCATION, &values).await }
    }
}

impl<S: Settings> PolicyStore for S {}

/// The settings keys of the policy start with this.
const PREFIX: &str = "policy.";

/// The settings `tokenauth import-django` stores start with this (outside the
/// policy's prefix, so that `serve` storing its policy keeps them).
const IMPORTED: &str = "import.";

/// The setting of DRF keys imported.
const IMPORTED_DRF_KEYS: &str = "import.drf_keys";

/// The setting of django-rest-knox tokens imported.
const IMPORTED_KNOX_TOKENS: &str = "import.knox_tokens";

/// The tokens of Django's that `tokenauth import-django` stored in a database
/// ([`PolicyStore::imported_tokens`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportedTokens {
    /// DRF keys, by their SHA-256.
    pub drf: bool,
    /// django-rest-knox tokens, by the digest of their SHA-512.
    pub knox: bool,
}

impl ImportedTokens {
    /// Whether any were: their users' Django hashes then need Django's dummy cost.
    pub fn any(self) -> bool {
        self.drf || self.knox
    }

    /// `format`, accepting the imported tokens too.
    pub fn accepted_by(self, format: TokenFormat) -> TokenFormat {
        format
            .with_imported_drf_keys(self.drf)
            .with_imported_knox_tokens(self.knox)
    }
}

/// The setting where `serve` records where it keeps tokens (outside the policy's
/// prefix, like [`IMPORTED_DRF_KEYS`]).
const TOKEN_LOCATION: &str = "serve.token_store";

/// Where tokens are kept: in the database (`database`), or in Redis under a prefix
/// (`redis:PREFIX`). No URL: URLs carry passwords, and the servers and commands of one
/// deployment may reach Redis by different addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TokenLocation {
    /// The `--database`'s own tables.
    Database,
    /// Redis (`--token-store`), under this key prefix.
    Redis(String),
}

impl fmt::Display for TokenLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Database => f.write_str("database"),
            Self::Redis(prefix) => write!(f, "redis:{prefix}"),
        }
    }
}

impl TokenLocation {
    /// Refuses to run a command against tokens elsewhere than where the last `serve`
    /// keeps them (`recorded`): its revocations would reach no server's cache, and its
    /// changes would miss the tokens the servers check.
    pub(super) fn check(&self, recorded: Option<&str>) -> Result<(), CliError> {
        let Some(recorded) = recorded.filter(|recorded| *recorded != self.to_string()) else {
            return Ok(());
        };
        let there = match recorded.strip_prefix("redis:") {
            Some(prefix) => format!(
                "in Redis under the prefix {prefix:?}: give --token-store with                  --token-store-prefix {prefix}"
            ),
            None => "in the database: drop --token-store".to_owned(),
        };
        Err(CliError::Options(format!(
            "the server (the last `serve` on this database) keeps its tokens {there}"
        )))
    }
}

/// Where a setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// An option or `TOKENAUTH_*` variable.
    Given,
    /// The policy the last `serve` stored in the database.
    Stored,
    /// The built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Given => "given",
            Self::Stored => "stored by serve",
            Self::Default => "default",
        })
    }
}

/// A policy whose settings may each be missing: as given on a command line, or as
/// read from the database.
#[derive(Debug, Clone, Default)]
pub(super) struct Partial {
    lifespan: Option<Lifespan>,
    /// `Some(None)`: no idle timeout.
    idle_timeout: Option<Option<Lifespan>>,
    purge_grace: Option<Lifespan>,
    scopes: Option<Scopes>,
    max_tokens_per_user: Option<usize>,
    on_limit: Option<OnLimit>,
    obtain_policy: Option<ObtainPolicy>,
}

/// The policy a command runs under, every setting decided.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    pub(super) lifespan: Lifespan,
    pub(super) lifespan_source: Source,
    idle_timeout: Option<Lifespan>,
    pub(super) purge_grace: Lifespan,
    scopes: Scopes,
    max_tokens_per_user: usize,
    on_limit: OnLimit,
    obtain_policy: ObtainPolicy,
}

impl Partial {
    /// What a command was given: `lifespan` and `purge_grace` if any, and `policy`.
    /// An idle timeout counts as given only when set.
    pub(super) fn given(lifespan: Option<Lifespan>, purge_grace: Option<Lifespan>, policy: &Policy) -> Self {
        Self {
            lifespan,
            idle_timeout: policy.idle_timeout.map(Some),
            purge_grace,
            scopes: policy.scopes.clone(),
            max_tokens_per_user: policy.max_tokens_per_user,
            on_limit: policy.on_limit,
            obtain_policy: policy.obtain_policy,
        }
    }

    /// What a store that holds `holds` fixes: one that keeps one token per user is
    /// served as DRF serves it, returning the valid key again and keeping at most one.
    pub(super) fn fixed_by(holds: &Capabilities) -> Self {
        if holds.several_tokens_per_user {
            return Self::default();
        }
        Self {
            obtain_policy: Some(ObtainPolicy::Reuse),
            max_tokens_per_user: Some(1),
            on_limit: Some(OnLimit::EvictOldest),
            ..Self::default()
        }
    }

    /// Each setting from `self`, else from `fallback`.
    fn or(self, fallback: Self) -> Self {
        Self {
            lifespan: self.lifespan.or(fallback.lifespan),
            idle_timeout: self.idle_timeout.or(fallback.idle_timeout),
            purge_grace: self.purge_grace.or(fallback.purge_grace),
            scopes: self.scopes.or(fallback.scopes),
            max_tokens_per_user: self.max_tokens_per_user.or(fallback.max_tokens_per_user),
            on_limit: self.on_limit.or(fallback.on_limit),
            obtain_policy: self.obtain_policy.or(fallback.obtain_policy),
        }
    }

    /// Every setting decided: from `self`, then `stored`, then the defaults.
    pub(super) fn resolve(self, stored: Self) -> Resolved {
        let lifespan_source = if self.lifespan.is_some() {
            Source::Given
        } else if stored.lifespan.is_some() {
            Source::Stored
        } else {
            Source::Default
        };
        let policy = self.or(stored);
        Resolved {
            lifespan: policy.lifespan.unwrap_or(Lifespan::DEFAULT),
            lifespan_source,
            idle_timeout: policy.idle_timeout.flatten(),
            purge_grace: policy.purge_grace.unwrap_or_else(|| {
                Lifespan::new(DEFAULT_PURGE_GRACE).expect("the default grace is a lifespan")
            }),
            scopes: policy.scopes.unwrap_or_default(),
            max_tokens_per_user: policy.max_tokens_per_user.unwrap_or(DEFAULT_MAX_TOKENS_PER_USER),
            on_limit: policy.on_limit.unwrap_or_default(),
            obtain_policy: policy.obtain_policy.unwrap_or_default(),
        }
    }

    /// The policy stored in `store`, for the settings `given` lacks. An unreadable
    /// value is an error, never a default (a default lifespan shorter than the
    /// server's would purge live tokens); a given setting does not need its stored one.
    pub(super) async fn load<P: PolicyStore>(store: &P, given: &Self) -> Result<Self, CliError> {
        let values = store.load_policy().await.map_err(BackendError::new)?;
        // The stored value of `key`, parsed, if it is needed and stored.
        fn parse<T: FromStr>(
            values: &BTreeMap<String, String>,
            key: &'static str,
            needed: bool,
        ) -> Result<Option<T>, CliError> {
            let Some(value) = values.get(&format!("{PREFIX}{key}")).filter(|_| needed) else {
                return Ok(None);
            };
            value.parse().map(Some).map_err(|_| CliError::StoredPolicy {
                key,
                value: value.clone(),
            })
        }
        let idle_timeout = match values.get(&format!("{PREFIX}idle_timeout")) {
            Some(none) if none == "none" => Some(None),
            _ => parse(&values, "idle_timeout", given.idle_timeout.is_none())?.map(Some),
        };
        Ok(Self {
            lifespan: parse(&values, "lifespan", given.lifespan.is_none())?,
            idle_timeout,
            purge_grace: parse(&values, "purge_grace", given.purge_grace.is_none())?,
            scopes: parse::<StoredScopes>(&values, "scopes", given.scopes.is_none())?.map(|s| s.0),
            max_tokens_per_user: parse(
                &values,
                "max_tokens_per_user",
                given.max_tokens_per_user.is_none(),
            )?,
            on_limit: parse(&values, "on_limit", given.on_limit.is_none())?,
            obtain_policy: parse(&values, "obtain_policy", given.obtain_policy.is_none())?,
        })
    }
}

/// [`Scopes`] as stored (space-separated), for [`Partial::load`].
struct StoredScopes(Scopes);

impl FromStr for StoredScopes {
    type Err = tokenauth_core::InvalidScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scopes::parse(s).map(Self)
    }
}

impl Resolved {
    /// Adds `more` to the scopes tokens may carry.
    pub(super) fn grant(&mut self, more: &Scopes) -> Result<(), InvalidScope> {
        let names = self.scopes.iter().chain(more.iter()).map(str::to_owned);
        self.scopes = Scopes::new(names.collect::<Vec<_>>())?;
        Ok(())
    }

    /// How long a token may be needed under this policy: the lifespan (the longest a
    /// token may live) plus the purge grace.
    pub(super) fn retention(&self) -> Duration {
        let total = self.lifespan.as_duration() + self.purge_grace.as_duration();
        total.try_into().unwrap_or(Duration::MAX)
    }

    /// Stores this policy in `store`, for the `token` commands.
    pub(super) async fn store<P: PolicyStore>(&self, store: &P) -> Result<(), CliError> {
        let values = [
            ("lifespan", self.lifespan.to_string()),
            (
                "idle_timeout",
                self.idle_timeout
                    .map_or_else(|| "none".to_owned(), |t| t.to_string()),
            ),
            ("purge_grace", self.purge_grace.to_string()),
            ("scopes", self.scopes.to_string()),
            ("max_tokens_per_user", self.max_tokens_per_user.to_string()),
            (
                "on_limit",
                match self.on_limit {
                    OnLimit::EvictOldest => "evict_oldest",
                    OnLimit::Reject => "reject",
                }
                .to_owned(),
            ),
            (
                "obtain_policy",
                match self.obtain_policy {
                    ObtainPolicy::New => "new",
                    ObtainPolicy::Replace => "replace",
                    ObtainPolicy::Reuse => "reuse",
                }
                .to_owned(),
            ),
        ];
        let values = values
            .into_iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v))
            .collect();
        store.store_policy(&values).await.map_err(BackendError::new)?;
        Ok(())
    }

    /// `auth` under this policy, writing last-used times every `refresh_interval`.
    pub(super) fn apply<S: TokenStore, D: UserDirectory>(
        &self,
        auth: TokenAuth<S, D>,
        refresh_interval: Lifespan,
    ) -> TokenAuth<S, D> {
        let limit =
            (self.max_tokens_per_user > 0).then(|| TokenLimit::new(self.max_tokens_per_user, self.on_limit));
        auth.with_lifespan(self.lifespan)
            .with_idle_timeout(self.idle_timeout)
            .with_refresh_interval(refresh_interval)
            .with_obtain_policy(self.obtain_policy)
            .with_token_limit(limit)
            .with_scopes(self.scopes.clone())
            // The scopes include the session scope `serve` granted: no default is added.
            // (`serve` names its own after this.)
            .with_session_scope(None)
    }
}
