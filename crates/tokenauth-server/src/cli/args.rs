//! The arguments (clap derive: the doc comments are `--help`).

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::str::FromStr;

use axum::http::HeaderName;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use tokenauth::TrustedProxies;
use tokenauth::routes::{CookieName, ThrottleConfig, VerifyOptions};
use tokenauth_core::{Challenge, Lifespan, ObtainPolicy, OnLimit, Realm, Scopes};

/// `--token-store-prefix`'s default.
pub(crate) const TOKEN_STORE_PREFIX: &str = "tokenauth";

/// Expiring API tokens over HTTP, wire-compatible with Django REST Framework.
#[derive(Debug, Parser)]
#[command(name = "tokenauth", version)]
pub struct Cli {
    /// Database URL: `sqlite://FILE`, `postgres://USER@HOST/DATABASE` or
    /// `mysql://USER@HOST/DATABASE`. `migrate` and `serve` create a missing SQLite file
    /// and migrate any; the other commands refuse a database that is not migrated.
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_DATABASE_URL",
        default_value = "sqlite://tokenauth.db",
        hide_env_values = true
    )]
    pub database: DatabaseUrl,

    /// Whose tables the database holds: `tokenauth` (its own, migrated by `migrate` and
    /// `serve`) or `django` (a Django/DRF application's `auth_user` and
    /// `authtoken_token`, shared with it: checked, never migrated; DRF's keys and
    /// semantics).
    #[arg(long, global = true, env = "TOKENAUTH_SCHEMA", value_enum, default_value_t)]
    pub schema: super::Schema,

    /// Django's user model (--schema django, import-django).
    #[command(flatten)]
    pub django: DjangoModelArgs,

    /// Keep tokens in Redis instead of the database: `redis://HOST:PORT[/DB]`, or
    /// `redis+cluster://HOST:PORT,HOST:PORT,...` for a Redis Cluster; `rediss://` and
    /// `rediss+cluster://` for TLS (verified against the system's roots, or
    /// --token-store-ca). Users and the serving policy stay in --database.
    #[arg(long, global = true, env = "TOKENAUTH_TOKEN_STORE", hide_env_values = true)]
    pub token_store: Option<DatabaseUrl>,

    /// The prefix of every Redis key (and of the revocation channel) of --token-store,
    /// so that deployments can share a Redis.
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_TOKEN_STORE_PREFIX",
        default_value = TOKEN_STORE_PREFIX
    )]
    pub token_store_prefix: String,

    /// A PEM file of the certificate authorities that a `rediss://` --token-store is
    /// verified against, instead of the system's roots (as `sslrootcert=` in a
    /// PostgreSQL URL).
    #[arg(long, global = true, env = "TOKENAUTH_TOKEN_STORE_CA")]
    pub token_store_ca: Option<PathBuf>,

    /// The format of the log lines on standard error: `text`, or `json` (one object a
    /// line, for a log shipper). RUST_LOG filters them (default `info`); the access
    /// log's target is `tokenauth::access`.
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: crate::logs::LogFormat,
    /// A TOML file of options: `tokenauth`'s at the top level (`database = "..."`), a
    /// command's in its table (`[serve]`, `bind = "0.0.0.0:8000"`), each named as its
    /// long option. The command line and the environment win over the file, which wins
    /// over the defaults; `tokenauth config show` prints the outcome.
    #[arg(long, global = true, env = "TOKENAUTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database if missing and apply pending migrations (`serve` does too;
    /// no other command changes the schema).
    Migrate,
    /// Serve the HTTP API.
    // Boxed: its options make it several times the size of the others.
    Serve(Box<ServeArgs>),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tokens.
    Token(TokenArgs),
    /// Create users and tokens in bulk: from JSON Lines files, or generated (benchmarks).
    Import(super::import::ImportArgs),
    /// Copy a database's users, tokens and stored policy into another (SQLite to
    /// PostgreSQL); running it again brings the copy up to date.
    CopyDatabase(super::copy::CopyArgs),
    /// Copy a Django/DRF database's users (with their Django hashes) and tokens (as
    /// digests, keeping their creation time) into this database; running it again
    /// changes nothing.
    ImportDjango(super::import_django::ImportDjangoArgs),
    /// Print the completion script of a shell on standard output (bash: `source
    /// <(tokenauth completions bash)`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of `tokenauth`, or of one of its commands, on
    /// standard output: `tokenauth man serve | man -l -`.
    Man {
        /// The command (`serve`, `user add`...); none for `tokenauth` itself.
        command: Vec<String>,
    },
    /// Ask a running server's `/healthz` whether it serves: exit 0 if it answers 200,
    /// else 1 (a container's HEALTHCHECK, where there is no curl).
    Healthcheck(HealthcheckArgs),
    /// The configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `tokenauth config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML: the options of `tokenauth` and
    /// `serve`, and of other commands the environment or the file sets, each with its
    /// value and where it came from (command line, variable, file or default);
    /// passwords in URLs are masked.
    Show {
        /// The text, made when the arguments are parsed (`cli::parse_from`).
        #[arg(skip)]
        effective: Option<String>,
    },
}

/// Arguments of `tokenauth healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The server's --bind (the same variable), a name resolved as serve does; an
    /// unspecified address (`0.0.0.0`, `[::]`) is asked on loopback.
    #[arg(long, env = "TOKENAUTH_BIND", default_value = "127.0.0.1:8000")]
    pub bind: super::BindAddr,
    /// How long the server has to answer.
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub timeout: Lifespan,
}

/// Arguments of `tokenauth serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, HOST:PORT: an IP address, or a name (`localhost:8000`)
    /// resolved at start to its first IPv4 address (else its first address), as Go's
    /// net.Listen does; port 0 picks a free port (printed on start).
    #[arg(long, env = "TOKENAUTH_BIND", default_value = "127.0.0.1:8000")]
    pub bind: super::BindAddr,
    /// How long tokens live after they are issued (30d, 12h, 3s...). Applies to existing
    /// tokens too, and is the longest lifespan a client may ask for.
    #[arg(long, env = "TOKENAUTH_LIFESPAN", default_value = "30d", value_parser = duration)]
    pub lifespan: Lifespan,
    /// Token policy.
    #[command(flatten)]
    pub policy: Policy,
    /// How often to delete long-expired tokens (past --purge-grace) in the background.
    #[arg(long, env = "TOKENAUTH_PURGE_INTERVAL", default_value = "1h", value_parser = duration)]
    pub purge_interval: Lifespan,
    /// How long after expiry a token is deleted (until then it answers "Token has expired").
    #[arg(long, env = "TOKENAUTH_PURGE_GRACE", default_value = "7d", value_parser = duration)]
    pub purge_grace: Lifespan,
    /// How long a request waits for the database (a pool connection, a lock) before
    /// it fails with 503 and Retry-After: the database is down, unreachable or locked.
    /// A database that stops answering on an open connection is given up on after
    /// twice this. The server recovers by itself when the database answers again.
    #[arg(long, env = "TOKENAUTH_STORE_TIMEOUT", default_value = "3s", value_parser = duration)]
    pub store_timeout: Lifespan,
    /// PostgreSQL only: where the connection that LISTENs for other processes'
    /// revocations goes, if not to --database (a `postgres://` URL of the same
    /// database). Behind a transaction-pooling PgBouncer, which cannot LISTEN, point
    /// --database at PgBouncer and this at the database itself.
    #[arg(long, env = "TOKENAUTH_LISTEN_DATABASE_URL", hide_env_values = true)]
    pub listen_database: Option<DatabaseUrl>,
    /// Connection limits: timeouts, the connection cap, the shutdown deadline.
    #[command(flatten)]
    pub limits: crate::ServeConfig,
    /// Login limits: `user=N/UNIT[:BURST]` per username and `ip=N/UNIT[:BURST]` per
    /// client address (UNIT s, min, h or d), comma-separated; `off` for none (test rigs,
    /// or a proxy that throttles). Over a limit: 429 with Retry-After, no password work.
    #[arg(long, env = "TOKENAUTH_LOGIN_THROTTLE", default_value_t = ThrottleConfig::default())]
    pub login_throttle: ThrottleConfig,
    /// Reverse proxies whose X-Forwarded-For names the client (addresses or networks,
    /// comma-separated: "10.0.0.0/8,::1"); by default none, and the header is ignored.
    #[arg(long, env = "TOKENAUTH_TRUSTED_PROXIES", default_value_t = TrustedProxies::none())]
    pub trusted_proxies: TrustedProxies,
    /// The scope that logoutall, the token list, personal tokens (POST /auth/tokens) and
    /// revoke require ("" for none). Default:
    /// `sessions` when --scopes is set (and it is added to them, so ordinary logins get
    /// it), none otherwise.
    #[arg(long, env = "TOKENAUTH_SESSION_SCOPE")]
    pub session_scope: Option<String>,
    /// How refusals challenge the client: `auto` answers RFC 6750's (`WWW-Authenticate:
    /// Bearer realm="api", error="invalid_token", ...`; 400 `invalid_request` for
    /// malformed credentials; 403 `insufficient_scope`) to clients that send `Bearer`
    /// credentials, and DRF's (`WWW-Authenticate: Token`) to the others, those without
    /// credentials included; `drf` answers DRF's to every client, `rfc6750` RFC 6750's.
    /// Bodies are DRF's JSON `{"detail": ...}` in every mode. (/auth/verify answers
    /// malformed credentials 401 in every mode: nginx turns a 400 into its 500.)
    #[arg(
        long,
        env = "TOKENAUTH_CHALLENGE",
        default_value = "auto",
        value_parser = PossibleValuesParser::new(["auto", "drf", "rfc6750"])
            .map(|s| s.parse::<Challenge>().expect("one of the possible values"))
    )]
    pub challenge: Challenge,
    /// The realm RFC 6750 challenges name (printable ASCII without quotes or
    /// backslashes).
    #[arg(long, env = "TOKENAUTH_REALM", default_value = "api")]
    pub realm: Realm,
    /// The cache of token and user lookups.
    #[command(flatten)]
    pub cache: CacheArgs,
    /// What forward auth (`/auth/verify`) answers with and reads.
    #[command(flatten)]
    pub verify: VerifyArgs,
    /// The client id a resource server presents with HTTP Basic to `POST
    /// /auth/introspect`, with --introspection-client-secret-file. Without it, only a
    /// token carrying the `introspect` scope (granted with --scopes) may introspect.
    #[arg(
        long,
        env = "TOKENAUTH_INTROSPECTION_CLIENT_ID",
        requires = "introspection_client_secret_file"
    )]
    pub introspection_client_id: Option<String>,
    /// A file whose first line is that client's secret (at least 32 bytes: `openssl
    /// rand -hex 32`). The secret is never printed or logged; only its SHA-256 digest
    /// is kept in memory.
    #[arg(
        long,
        env = "TOKENAUTH_INTROSPECTION_CLIENT_SECRET_FILE",
        requires = "introspection_client_id"
    )]
    pub introspection_client_secret_file: Option<PathBuf>,
    /// The origins whose browser apps may call the API (CORS): exact origins, comma-
    /// or space-separated (`"https://app.example.com http://localhost:5173"`), sent
    /// with credentials; or `*` for any, without credentials. A preflight from another
    /// origin gets 403. Default: none (no CORS headers; a preflight gets 405).
    #[arg(long, env = "TOKENAUTH_CORS_ORIGINS", value_name = "ORIGINS")]
    pub cors_origins: Option<crate::cors::CorsOrigins>,
    /// Prometheus metrics (`/metrics`).
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

mod django;
mod serve_groups;
mod values;
pub use django::{ActiveField, DjangoModelArgs};
pub use serve_groups::CacheArgs;
pub(crate) use serve_groups::{MetricsArgs, Switch, VerifyArgs};
use values::{duration, on_off};

impl ServeArgs {
    /// `--store-timeout`: the bound on each wait for the database (the pool's
    /// acquire timeout, SQLite's busy timeout).
    pub fn store_timeout(&self) -> std::time::Duration {
        self.store_timeout.as_duration().unsigned_abs()
    }

    /// The bound on each call to the store or the directory
    /// ([`TokenAuth::with_backend_timeout`](tokenauth::core::TokenAuth::with_backend_timeout)):
    /// twice `--store-timeout`, so that the database's own timeouts, which fail
    /// cleanly (nothing written), come first, and this one only cuts off a database
    /// that does not answer at all.
    pub fn backend_timeout(&self) -> std::time::Duration {
        self.store_timeout() * 2
    }

    /// The scope the session routes require: `--session-scope`, or `sessions` when
    /// scopes are configured.
    pub fn session_scope(&self) -> Option<String> {
        match &self.session_scope {
            Some(scope) if scope.trim().is_empty() => None,
            Some(scope) => Some(scope.trim().to_owned()),
            None => self
                .policy
                .scopes
                .as_ref()
                .is_some_and(|scopes| !scopes.is_empty())
                .then(|| "sessions".to_owned()),
        }
    }
}

/// The token policy besides the lifespan: sliding expiry, the per-user limit, scopes.
/// `serve` and the `token` commands take the same options (and `TOKENAUTH_*`
/// variables). `serve` stores the policy it runs with in the database; the `token`
/// commands apply it, except for the options they are given.
#[derive(Debug, Clone, Args)]
pub struct Policy {
    /// Sliding expiry: tokens unused for this long expire (never past their lifespan).
    /// Default: none.
    #[arg(long, global = true, env = "TOKENAUTH_IDLE_TIMEOUT", value_parser = duration)]
    pub idle_timeout: Option<Lifespan>,
    /// How often last-used times are written to the database.
    #[arg(
        value_parser = duration,
        long,
        global = true,
        env = "TOKENAUTH_REFRESH_INTERVAL",
        default_value = "60s"
    )]
    pub refresh_interval: Lifespan,
    /// What a login does to the user's other tokens: `new` keeps them (a token per
    /// device), `replace` revokes them, `reuse` returns the valid one (DRF's, on
    /// `--schema django`; elsewhere tokens are hashed and it acts as `replace`).
    /// Default: `new`.
    #[arg(long, global = true, env = "TOKENAUTH_OBTAIN_POLICY")]
    pub obtain_policy: Option<ObtainPolicy>,
    /// The most live tokens one user may hold; 0 for no limit. Default: 100.
    #[arg(long, global = true, env = "TOKENAUTH_MAX_TOKENS_PER_USER")]
    pub max_tokens_per_user: Option<usize>,
    /// At the limit: `evict_oldest` revokes the oldest tokens, `reject` refuses the
    /// login (403). Default: `evict_oldest`.
    #[arg(long, global = true, env = "TOKENAUTH_ON_LIMIT")]
    pub on_limit: Option<OnLimit>,
    /// The scopes tokens may carry, space-separated ("read write"); tokens issued
    /// without a scope request get them all. Default: none.
    #[arg(long, global = true, env = "TOKENAUTH_SCOPES", value_parser = Scopes::parse)]
    pub scopes: Option<Scopes>,
}

/// `tokenauth token ...`: the server's policy, then what to do.
///
/// The policy options default to what the last `serve` stored in the database (then
/// to `serve`'s defaults): the lifespan decides what `purge` deletes and what `create`
/// allows.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The server's lifespan (its `serve --lifespan`). Default: the one `serve`
    /// stored in the database, else 30d.
    #[arg(long, global = true, env = "TOKENAUTH_LIFESPAN", value_parser = duration)]
    pub server_lifespan: Option<Lifespan>,
    /// The server's policy.
    #[command(flatten)]
    pub policy: Policy,
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// `tokenauth user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user, or set an existing user's password and active flag. The same
    /// password keeps the user's tokens; a new one revokes every older token.
    Add {
        /// The login name (matched as logins are: exactly, case-sensitive, unless
        /// --django-login-match iexact).
        username: String,
        /// Read the password from the first line of standard input instead of
        /// prompting (the line ending is removed; other spaces are kept).
        #[arg(long)]
        password_stdin: bool,
        /// Create or leave the user inactive: its tokens are refused.
        #[arg(long)]
        inactive: bool,
    },
    /// List users.
    List {
        /// How to print them.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Allow a user to authenticate again.
    Activate {
        /// The login name.
        username: String,
    },
    /// Refuse a user's tokens and logins (they are kept, and work again on activate).
    Deactivate {
        /// The login name.
        username: String,
    },
    /// End every token of a user at once, including any being issued right now (a new
    /// credential version); the password stays.
    RevokeAll {
        /// The login name.
        username: String,
    },
    /// Delete a user and its tokens. Its id is never reused.
    Delete {
        /// The login name.
        username: String,
    },
}

/// The `tokenauth token` commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token to a user and print it (only it) on standard output.
    Create {
        /// The user.
        username: String,
        /// A label: the client or device it is for.
        #[arg(long)]
        name: Option<String>,
        /// A lifespan of its own (7d, 12h...), at most the server's.
        #[arg(long, value_parser = duration)]
        lifespan: Option<Lifespan>,
        /// A scope it carries (repeat for several); default: every grantable scope.
        #[arg(long)]
        scope: Vec<String>,
    },
    /// List tokens (never their secrets).
    List {
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
        /// How to print them.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Revoke a token by its id, or by its value (--token-stdin): it stops working at
    /// once.
    Revoke {
        /// The token's id, as `token list` shows it.
        #[arg(required_unless_present = "token_stdin", conflicts_with = "token_stdin")]
        id: Option<String>,
        /// Read the token itself from the first line of standard input (prompted for,
        /// unechoed, at a terminal): for a leaked token whose id you do not know.
        /// Prints its id and user, or fails if no stored token matches.
        #[arg(long)]
        token_stdin: bool,
    },
    /// Delete tokens that expired long ago, in small batches.
    Purge {
        /// How long after expiry a token is deleted (the server's `--purge-grace`).
        /// Default: the one `serve` stored in the database, else 7d.
        #[arg(long, env = "TOKENAUTH_PURGE_GRACE", value_parser = duration)]
        older_than: Option<Lifespan>,
    },
}

/// How `user list` and `token list` print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns under a header line, for people.
    #[default]
    Text,
    /// One JSON array of objects with fixed keys, for scripts.
    Json,
}

/// A database URL. `Debug` hides it, since URLs can carry passwords.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    // Validated when opened, not here: clap would echo a rejected value, password and
    // all, in its error message.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.0.split_once(':').map_or("", |(scheme, _)| scheme);
        write!(f, "DatabaseUrl({scheme}:..)")
    }
}
