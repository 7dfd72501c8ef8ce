//! The `tokenauth` command line: arguments (clap) and the commands they run.
//!
//! - `args`: the arguments;
//! - `users`: `tokenauth user ...`;
//! - `tokens`: `tokenauth token ...`;
//! - `password`: reading a password from standard input or the terminal;
//! - `policy`: the serving policy `serve` stores and the `token` commands apply.
//!
//! The backend is chosen once, here, from the database URL's scheme; every command is
//! generic over the store and the directory. Commands write to the `Write` they are
//! given, so tests run them without spawning a process.

mod args;
mod django;
mod password;
mod policy;
mod tokens;
mod users;

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;

use tokenauth::TokenAuth;
use tokenauth_core::{BackendError, InvalidScope, IssueError, Maintenance, Scopes, TokenStore, UserAdmin};
use tokenauth_sqlx::{PgStore, PgUserDirectory, SqliteStore, SqliteUserDirectory};

use self::policy::Partial;

pub use args::{Cli, Command, DatabaseUrl, Policy, ServeArgs, TokenArgs, TokenCommand, UserCommand};
pub use django::Schema;
pub use policy::PolicyStore;

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
    match Backend::of(&cli.database)? {
        Backend::Sqlite => {
            let pool = tokenauth_sqlx::connect(cli.database.as_str()).await?;
            let auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool));
            run_on(auth, cli.command, io).await
        }
        Backend::Postgres => {
            let pool = tokenauth_sqlx::connect_postgres(cli.database.as_str()).await?;
            let auth = TokenAuth::new(PgStore::new(pool.clone()), PgUserDirectory::new(pool));
            run_on(auth, cli.command, io).await
        }
    }
}

/// Runs a command on a backend, whichever it is.
async fn run_on<S, D, R, W>(
    auth: TokenAuth<S, D>,
    command: Command,
    io: &mut Io<R, W>,
) -> Result<(), CliError>
where
    S: TokenStore + PolicyStore,
    D: UserAdmin,
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
            policy.store(auth.store()).await?;
            let maintenance = Maintenance {
                purge_interval: Some(args.purge_interval),
                purge_grace: policy.purge_grace.as_duration(),
            };
            let auth = policy.apply(auth, args.policy.refresh_interval);
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
            let stored = Partial::load(auth.store(), &given).await?;
            let policy = given.resolve(stored);
            let auth = policy.apply(auth, args.policy.refresh_interval);
            tokens::run(args.command, &auth, &policy, io).await?;
        }
    }
    Ok(())
}
