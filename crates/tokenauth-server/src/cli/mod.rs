//! The `tokenauth` command line: arguments (clap) and the commands they run.
//!
//! - `args`: the arguments;
//! - `users`: `tokenauth user ...`;
//! - `tokens`: `tokenauth token ...`;
//! - `password`: reading a password from standard input or the terminal;
//! - `policy`: the serving policy `serve` stores and the `token` commands apply;
//! - `import`: `tokenauth import`, users and tokens in bulk;
//! - `copy`: `tokenauth copy-database`, the move from one database to another;
//! - `import_django`: `tokenauth import-django`, the move off a Django database.
//!
//! The backend is chosen once, here, from the database URL's scheme (and the token
//! store's, with `--token-store`); every command is generic over the store and the
//! directory. Commands write to the `Write` they are
//! given, so tests run them without spawning a process.

mod args;
mod copy;
mod django;
mod import;
mod import_django;
mod password;
mod policy;
mod tokens;
mod users;

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokenauth::TokenAuth;
use tokenauth_core::{
    AuthCache, BackendError, Cached, InvalidScope, IssueError, Lifespan, LocalBus, Maintenance, Publisher,
    RevocationBus, Scopes, TokenImport, TokenStore, UserAdmin, UserImport,
};
use tokenauth_django::hashers::{DjangoHashers, upgrading_hasher};
use tokenauth_redis::{BusOptions, RedisBus, RedisStore, Target};
use tokenauth_sqlx::postgres::{PostgresRevocationBus, PostgresStore, PostgresUserDirectory};
use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory};

use self::policy::{Partial, TokenLocation};

pub use args::{
    CacheArgs, Cli, Command, DatabaseUrl, Policy, ServeArgs, TokenArgs, TokenCommand, UserCommand,
};
pub use copy::CopyArgs;
pub use django::Schema;
pub use import::{ImportArgs, ImportError};
pub use import_django::ImportDjangoArgs;
pub use policy::{PolicyStore, Retention};

/// Why a command failed. Printed as `error: ...` with a non-zero exit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The URL names a database this build does not support.
    #[error("unsupported database URL scheme {0:?}: this build supports sqlite: and postgres: URLs")]
    UnsupportedDatabase(String),
    /// The Django database cannot be used (`--schema django`).
    #[error(transparent)]
    Django(#[from] tokenauth_django::Error),
    /// An option or command that `--schema django` cannot honour.
    #[error("not with --schema django: {0}")]
    NotInDjangoMode(&'static str),
    /// The database failed.
    #[error("database error")]
    Database(#[from] tokenauth_sqlx::Error),
    /// The token store failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The Redis token store (`--token-store`) cannot be used.
    #[error("token store error")]
    Redis(#[from] tokenauth_redis::Error),
    /// The token cannot be issued (lifespan, scope or limit).
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// A scope name is malformed.
    #[error(transparent)]
    Scope(#[from] InvalidScope),
    /// A username that could never log in.
    #[error("a username must not be empty or start or end with whitespace (logins trim it)")]
    Username,
    /// A token name with control characters.
    #[error("a token name must not contain control characters")]
    TokenName,
    /// No such user.
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    /// No such token.
    #[error("no token with id {0:?}")]
    NoSuchToken(String),
    /// A policy value stored in the database cannot be read.
    #[error(
        "the serving policy stored in the database has an unreadable {key}: {value:?} (run `serve` to store it again, or give the option)"
    )]
    StoredPolicy {
        /// The setting.
        key: &'static str,
        /// Its stored value.
        value: String,
    },
    /// A password could not be read, or was refused.
    #[error("{0}")]
    Password(&'static str),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An import stopped.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// `copy-database` was given the same database twice.
    #[error("--from and --to name the same database")]
    SameDatabase,
    /// Options that contradict each other, or where the server keeps its tokens.
    #[error("{0}")]
    Options(String),
    /// A file an option names cannot be read or written.
    #[error("cannot use {}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Reading or writing the terminal or standard streams failed.
    #[error("input/output error")]
    Io(#[from] io::Error),
}

/// The standard streams a command uses.
#[derive(Debug)]
pub struct Io<R, W> {
    /// Standard input.
    pub stdin: R,
    /// Standard output.
    pub stdout: W,
    /// Whether standard input is a terminal, where a password can be prompted for.
    pub interactive: bool,
    /// Whether to draw progress on standard error (it is a terminal).
    pub show_progress: bool,
}

/// The backends this build serves, by URL scheme.
enum Backend {
    /// `sqlite:` URLs: tokens and users in one SQLite file.
    Sqlite,
    /// `postgres:` (or `postgresql:`) URLs: tokens and users in a PostgreSQL database.
    Postgres,
}

impl Backend {
    fn of(url: &DatabaseUrl) -> Result<Self, CliError> {
        match url.as_str().split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Self::Sqlite),
            Some("postgres" | "postgresql") => Ok(Self::Postgres),
            other => Err(CliError::UnsupportedDatabase(
                other.unwrap_or("(none)").to_owned(),
            )),
        }
    }
}

/// Runs a command: opens the backend the database URL names (creating a SQLite file if
/// needed, and migrating either database), then runs the command on it.
pub async fn run<R: BufRead, W: Write>(cli: Cli, io: &mut Io<R, W>) -> Result<(), CliError> {
    if cli.schema == Schema::Django {
        return django::run(cli, io).await;
    }
    let Cli {
        database,
        token_store,
        token_store_prefix,
        token_store_ca,
        command,
        schema: _,
    } = cli;
    let (timeout, listen_database) = match &command {
        Command::Serve(args) => (args.store_timeout(), args.listen_database.clone()),
        _ => (tokenauth_sqlx::DEFAULT_TIMEOUT, None),
    };
    // Two databases of its own, not `--database`.
    let command = match command {
        Command::CopyDatabase(args) => return copy::run(args, io).await,
        command => command,
    };
    let tokens = TokenStoreUrl {
        url: token_store.as_ref(),
        prefix: &token_store_prefix,
        ca: token_store_ca.as_deref(),
        timeout,
    };
    match Backend::of(&database)? {
        Backend::Sqlite => {
            if listen_database.is_some() {
                return Err(CliError::Options(
                    "--listen-database is for PostgreSQL: a SQLite database has no LISTEN".to_owned(),
                ));
            }
            let pool = tokenauth_sqlx::sqlite::connect_with_timeout(database.as_str(), timeout).await?;
            let users = SqliteUserDirectory::new(pool.clone());
            // One file, no engine to carry revocations between processes.
            with_token_store(
                SqliteStore::new(pool),
                users,
                None::<LocalBus>,
                tokens,
                command,
                io,
            )
            .await
        }
        Backend::Postgres => {
            let pool = tokenauth_sqlx::postgres::connect_with_timeout(database.as_str(), timeout).await?;
            let mut bus = PostgresRevocationBus::new(pool.clone());
            if let Some(url) = listen_database {
                let options = url.as_str().parse().map_err(tokenauth_sqlx::Error::from)?;
                bus = bus.with_listen_options(options);
            }
            let users = PostgresUserDirectory::new(pool.clone());
            with_token_store(PostgresStore::new(pool), users, Some(bus), tokens, command, io).await
        }
    }
}

/// `--token-store`, its key prefix and CA file, and how long its commands may take.
#[derive(Clone, Copy)]
struct TokenStoreUrl<'a> {
    url: Option<&'a DatabaseUrl>,
    prefix: &'a str,
    ca: Option<&'a Path>,
    timeout: Duration,
}

impl TokenStoreUrl<'_> {
    /// Where Redis is, trusting the CA file if one is given.
    fn target(&self, url: &DatabaseUrl) -> Result<Target, CliError> {
        let target = Target::parse(url.as_str())?;
        let Some(path) = self.ca else {
            return Ok(target);
        };
        let pem = std::fs::read(path).map_err(|source| CliError::File {
            path: path.to_owned(),
            source,
        })?;
        Ok(target.with_root_certificates(&pem)?)
    }
}

/// Runs the command with tokens in `sql`, or in Redis with `--token-store`; the
/// serving policy stays in `sql` either way. Revocations travel on `sql_bus`, or on
/// Redis pub/sub when the tokens are in Redis. Passwords are argon2id, and Django's
/// hashes (of users `import-django` brought) verify until a login re-hashes them.
async fn with_token_store<S, D, B, R, W>(
    sql: S,
    users: D,
    sql_bus: Option<B>,
    token_store: TokenStoreUrl<'_>,
    command: Command,
    io: &mut Io<R, W>,
) -> Result<(), CliError>
where
    S: TokenImport + PolicyStore + Retention + Clone,
    D: UserImport,
    B: RevocationBus + Clone,
    R: BufRead,
    W: Write,
{
    let location = match token_store.url {
        None => TokenLocation::Database,
        Some(_) => TokenLocation::Redis(token_store.prefix.to_owned()),
    };
    if !matches!(command, Command::Serve(_) | Command::Migrate) {
        let recorded = sql.token_location().await.map_err(BackendError::new)?;
        location.check(recorded.as_deref())?;
    }
    match token_store.url {
        None => {
            run_on(
                TokenAuth::new(sql.clone(), users).with_password_hasher(upgrading_hasher()),
                &sql,
                sql_bus,
                &location,
                command,
                io,
            )
            .await
        }
        Some(url) => {
            let target = token_store.target(url)?;
            let tokens = RedisStore::connect_to(&target, token_store.timeout)
                .await?
                .with_prefix(token_store.prefix)?;
            let options = BusOptions::default().with_timeout(token_store.timeout);
            let bus = RedisBus::connect_with(&target, token_store.prefix, options).await?;
            run_on(
                TokenAuth::new(tokens, users).with_password_hasher(upgrading_hasher()),
                &sql,
                Some(bus),
                &location,
                command,
                io,
            )
            .await
        }
    }
}

/// Puts the cache `args` ask for in front of `auth`, following `bus` if there is one;
/// keep the returned handle while serving. With `--cache off` the cache is a disabled
/// one, which passes every lookup on: one service type either way.
fn with_cache<S: TokenStore, D: UserAdmin, B: RevocationBus>(
    auth: TokenAuth<S, D>,
    args: &CacheArgs,
    bus: Option<&B>,
) -> (TokenAuth<Cached<S>, Cached<D>>, Option<tokenauth_core::Following>) {
    if !args.enabled {
        return (auth.with_cache(AuthCache::disabled()), None);
    }
    let cache = AuthCache::new(args.cache_size.get()).with_ttl(args.cache_ttl.as_duration());
    let following = bus.map(|bus| cache.follow(bus));
    if following.is_none() {
        tracing::info!(
            ttl = %args.cache_ttl,
            "cache on without a revocation bus: changes made by other processes are seen after the TTL"
        );
    }
    (auth.with_cache(cache), following)
}

/// Runs a command on a backend, whichever it is. With a `bus`, what the command ends
/// is published on it (for the caches of every server), and a serving cache follows it.
async fn run_on<S, D, P, B, R, W>(
    auth: TokenAuth<S, D>,
    settings: &P,
    bus: Option<B>,
    location: &TokenLocation,
    command: Command,
    io: &mut Io<R, W>,
) -> Result<(), CliError>
where
    S: TokenImport + Retention,
    D: UserImport,
    P: PolicyStore,
    B: RevocationBus + Clone,
    R: BufRead,
    W: Write,
{
    let publisher = bus.clone().map(Publisher::start);
    let auth = match &publisher {
        Some(publisher) => auth.with_revocation_listener(publisher.clone()),
        None => auth,
    };
    let result = run_command(auth, settings, bus, location, command, io).await;
    if let Some(publisher) = publisher {
        // Before the process exits: the servers' caches must hear what ended.
        publisher.flush().await;
    }
    result
}

async fn run_command<S, D, P, B, R, W>(
    auth: TokenAuth<S, D>,
    settings: &P,
    bus: Option<B>,
    location: &TokenLocation,
    command: Command,
    io: &mut Io<R, W>,
) -> Result<(), CliError>
where
    S: TokenImport + Retention,
    D: UserImport,
    P: PolicyStore,
    B: RevocationBus,
    R: BufRead,
    W: Write,
{
    match command {
        Command::Migrate => writeln!(io.stdout, "database is up to date")?,
        Command::Serve(args) => {
            // Bound first: a second server started by mistake on a taken address must
            // not overwrite the running one's policy.
            let listener = crate::bind(args.bind).await?;
            // What serve is given, else the defaults; stored for the token commands.
            let given = Partial::given(Some(args.lifespan), Some(args.purge_grace), &args.policy);
            let mut policy = given.resolve(Partial::default());
            let session_scope = args.session_scope();
            if let Some(scope) = &session_scope {
                // Tokens obtained without asking for scopes get it; narrow ones do not.
                policy.grant(&Scopes::parse(scope)?)?;
            }
            policy.store(settings).await?;
            // Where the tokens are, so that every command uses (or refuses) the same.
            settings
                .set_token_location(&location.to_string())
                .await
                .map_err(BackendError::new)?;
            auth.store().retain(policy.retention(), true).await?;
            // After `import-django`, the DRF keys it stored (as digests) work here.
            let imported = settings.imported_drf_keys().await.map_err(BackendError::new)?;
            let format = auth.format().clone().with_imported_drf_keys(imported);
            let auth = auth.with_format(format);
            // ...and its users' Django hashes, until re-hashed, cost about ten times
            // argon2id's: unknown users (and every failed login) must cost as much, or
            // response times tell which usernames exist.
            let auth = if imported {
                let hasher = auth.password_hasher().clone().with_dummy_of(DjangoHashers::new());
                auth.with_password_hasher(hasher)
            } else {
                auth
            };
            let maintenance = Maintenance {
                purge_interval: Some(args.purge_interval),
                purge_grace: policy.purge_grace.as_duration(),
            };
            let auth = policy
                .apply(auth, args.policy.refresh_interval)
                .with_backend_timeout(Some(args.backend_timeout()));
            let (auth, _following) = with_cache(auth, &args.cache, bus.as_ref());
            let options = crate::LoginOptions {
                throttle: tokenauth::routes::LoginThrottle::new(args.login_throttle),
                proxies: args.trusted_proxies.clone(),
                session_scope,
            };
            crate::serve(
                auth,
                &options,
                listener,
                maintenance,
                &args.limits,
                &mut io.stdout,
                crate::shutdown_signal(),
            )
            .await?;
        }
        Command::User(command) => users::run(command, &auth, io).await?,
        Command::Token(args) => {
            let purge_grace = match args.command {
                TokenCommand::Purge { older_than } => older_than,
                _ => None,
            };
            let given = Partial::given(args.server_lifespan, purge_grace, &args.policy);
            let stored = Partial::load(settings, &given).await?;
            let policy = given.resolve(stored);
            auth.store().retain(policy.retention(), false).await?;
            let auth = policy.apply(auth, args.policy.refresh_interval);
            tokens::run(args.command, &auth, &policy, io).await?;
        }
        Command::Import(args) => {
            // Generated tokens carry what a login would give: the stored policy's scopes.
            let given = Partial::default();
            let stored = Partial::load(settings, &given).await?;
            let auth = given.resolve(stored).apply(auth, Lifespan::DEFAULT);
            import::run(args, &auth, io).await?;
        }
        Command::ImportDjango(args) => import_django::run(args, &auth, settings, io).await?,
        // Handled by `run`, before any `--database` is opened.
        Command::CopyDatabase(args) => copy::run(args, io).await?,
    }
    Ok(())
}
