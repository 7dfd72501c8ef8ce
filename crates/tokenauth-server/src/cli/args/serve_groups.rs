//! The option groups `tokenauth serve` flattens: metrics, forward auth, the cache.

use super::*;

/// `tokenauth serve`'s metrics options (docs/operations.md, "Metrics").
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at /metrics: `on` or `off`. They hold no user, token or
    /// address, but tell anyone who can reach them how the service is used: keep them
    /// off a public port with --metrics-bind, or turn them off.
    #[arg(
        long = "metrics",
        env = "TOKENAUTH_METRICS",
        value_enum,
        default_value = "on",
        value_name = "on|off"
    )]
    pub switch: Switch,
    /// Serve /metrics on this address only, not on --bind (say, 127.0.0.1:9090 or a
    /// private interface's address; a name is resolved as --bind's); port 0 picks a
    /// free port (printed on start).
    #[arg(long, env = "TOKENAUTH_METRICS_BIND")]
    pub metrics_bind: Option<crate::cli::BindAddr>,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// `tokenauth serve`'s forward-auth options: the headers of `/auth/verify`'s answers
/// and requests, and the cookie it may read a token from (docs/gateway.md).
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The header in which /auth/verify names the user (its username).
    #[arg(long, env = "TOKENAUTH_VERIFY_USER_HEADER", default_value = "X-Auth-User")]
    pub verify_user_header: HeaderName,
    /// The header in which /auth/verify gives the user's id.
    #[arg(
        long,
        env = "TOKENAUTH_VERIFY_USER_ID_HEADER",
        default_value = "X-Auth-User-Id"
    )]
    pub verify_user_id_header: HeaderName,
    /// The header in which /auth/verify gives the token's scopes, space-separated.
    #[arg(long, env = "TOKENAUTH_VERIFY_SCOPES_HEADER", default_value = "X-Auth-Scopes")]
    pub verify_scopes_header: HeaderName,
    /// The header in which /auth/verify gives the token's id (never the token).
    #[arg(
        long,
        env = "TOKENAUTH_VERIFY_TOKEN_ID_HEADER",
        default_value = "X-Auth-Token-Id"
    )]
    pub verify_token_id_header: HeaderName,
    /// The header in which /auth/verify gives the token's expiry (RFC 3339).
    #[arg(
        long,
        env = "TOKENAUTH_VERIFY_EXPIRES_HEADER",
        default_value = "X-Auth-Expires"
    )]
    pub verify_expires_header: HeaderName,
    /// The request header in which a proxy asks /auth/verify for scopes (space-separated,
    /// all required), besides its `scope` query parameter.
    #[arg(
        long,
        env = "TOKENAUTH_VERIFY_REQUIRED_SCOPE_HEADER",
        default_value = "X-Auth-Required-Scope"
    )]
    pub verify_required_scope_header: HeaderName,
    /// A cookie holding a token, which /auth/verify reads when a request has no
    /// credentials in Authorization. Default: none (Authorization only).
    #[arg(long, env = "TOKENAUTH_VERIFY_COOKIE")]
    pub verify_cookie: Option<CookieName>,
}

impl VerifyArgs {
    /// The forward-auth route's options.
    pub fn options(&self) -> VerifyOptions {
        VerifyOptions {
            user_header: self.verify_user_header.clone(),
            user_id_header: self.verify_user_id_header.clone(),
            scopes_header: self.verify_scopes_header.clone(),
            token_id_header: self.verify_token_id_header.clone(),
            expires_header: self.verify_expires_header.clone(),
            required_scope_header: self.verify_required_scope_header.clone(),
            cookie: self.verify_cookie.clone(),
        }
    }
}

/// `tokenauth serve`'s cache options.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Cache token and user lookups in memory: `on` or `off` (default: on, except with
    /// --schema django, whose tables Django writes without telling any cache). This
    /// server's own revocations reach its cache at once; every other process's (other
    /// servers, the `user` and `token` commands) within 1 s: with PostgreSQL through
    /// LISTEN/NOTIFY, with a SQLite file or a MySQL database through a revocation log
    /// polled four times a second. While that signal is down or late, the cache serves nothing. An
    /// in-memory SQLite database has no other process. `off`: every change made
    /// elsewhere is seen on the next request, for a database lookup per request.
    #[arg(
        long = "cache",
        env = "TOKENAUTH_CACHE",
        value_name = "on|off",
        action = clap::ArgAction::Set,
        value_parser = on_off
    )]
    pub enabled: Option<bool>,
    /// How long a cached lookup is served (--cache on): the longest a change made by
    /// another process stays unseen when nothing tells this one.
    #[arg(long, env = "TOKENAUTH_CACHE_TTL", default_value = "10s", value_parser = duration)]
    pub cache_ttl: Lifespan,
    /// The most tokens cached (as many users, and an eighth as many unknown tokens);
    /// about 600 bytes per token with its user, 6 MiB at the default. Size it to the
    /// tokens clients use within --cache-ttl: beyond that, requests miss.
    #[arg(long, env = "TOKENAUTH_CACHE_SIZE", default_value = "10000")]
    pub cache_size: NonZeroUsize,
}

impl CacheArgs {
    /// Whether the cache is on: as given, else on wherever every writer of the tables
    /// signals its revocations (`unsignalled_writers`: Django's own tables).
    pub(crate) fn is_on(&self, unsignalled_writers: bool) -> bool {
        self.enabled.unwrap_or(!unsignalled_writers)
    }
}
