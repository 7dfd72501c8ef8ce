//! The `tokenauth` command line: arguments (clap) and the commands they run.
//!
//! - `args`: the arguments;
//! - `config`: the configuration file, read into clap's definition, and `config show`;
//! - `bind_addr`: `--bind`'s address or host name, resolved at start;
//! - `backend`: the one place the backend is opened, from the configuration;
//! - `refusals`: what backends declare, and the one check of a command against it;
//! - `commands`: the one runner of every command, on whichever backend;
//! - `users`: `tokenauth user ...`;
//! - `tokens`: `tokenauth token ...`;
//! - `password`: reading a password from standard input or the terminal;
//! - `policy`: the serving policy `serve` stores and the `token` commands apply;
//! - `import`: `tokenauth import`, users and tokens in bulk;
//! - `copy`: `tokenauth copy-database`, the move from one database to another;
//! - `import_django`: `tokenauth import-django`, the move off a Django database;
//! - `report`: an error as the binary prints it, each cause once;
//! - `standalone`: the commands that open no database (completions, the man page, the
//!   health check, `config show`).
//!
//! The backend is chosen once, in `backend`, from the schema, the database URL's scheme
//! and the token store's (`--token-store`); every command is generic over the store and
//! the directory. Commands write to the `Write` they are given, so tests run them
//! without spawning a process.

mod args;
mod backend;
mod bind_addr;
mod commands;
mod config;
mod copy;
mod import;
mod import_django;
mod password;
mod policy;
mod refusals;
mod report;
mod standalone;
mod tokens;
mod users;

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;

use tokenauth_core::{BackendError, InvalidScope, IssueError};

pub use args::{
    ActiveField, CacheArgs, Cli, Command, ConfigCommand, DatabaseUrl, DjangoModelArgs, HealthcheckArgs,
    Output, Policy, ServeArgs, TokenArgs, TokenCommand, UserCommand,
};
pub use backend::Schema;
pub use bind_addr::BindAddr;
pub use config::parse_from;
pub use copy::CopyArgs;
pub use import::{ImportArgs, ImportError};
pub use import_django::{DjangoTokens, ImportDjangoArgs};
pub use policy::{ImportedTokens, PolicyStore};
pub use report::report;

/// Why a command failed. Printed as `error: ...` with a non-zero exit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The Django database cannot be used (`--schema django`).
    #[error(transparent)]
    Django(#[from] tokenauth_django::Error),
    /// An option or command that the backend (`--schema django`) declares it cannot
    /// honour.
    #[error("not with {backend}: {what}")]
    NotWith {
        /// The backend, as the option that chose it.
        backend: &'static str,
        /// What it cannot honour, and why.
        what: &'static str,
    },
    /// The database failed.
    #[error("database error")]
    Database(#[from] tokenauth_sqlx::Error),
    /// A database lacks this build's migrations (or is new), and the command is not
    /// one that changes the schema (only `migrate` and `serve` do).
    #[error(
        "{database} lacks {pending} of this tokenauth's migrations: run `{migrate}` first (only `migrate` and `serve` change the schema)"
    )]
    NotMigrated {
        /// Which database, by its option.
        database: &'static str,
        /// The command that migrates it.
        migrate: &'static str,
        /// How many migrations it lacks.
        pending: usize,
    },
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
    /// A token given by its value (`token revoke --token-stdin`) that is missing,
    /// malformed or not stored; never echoed.
    #[error("{0}")]
    TokenValue(&'static str),
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
    /// A host name (`--bind`, `--metrics-bind`) that does not resolve.
    #[error("cannot resolve {name}")]
    Resolve {
        /// The `HOST:PORT` given.
        name: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An import stopped.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// Options that contradict each other or name what this build cannot open (a
    /// database URL's scheme, the same database twice), or where the server keeps its
    /// tokens.
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
    /// A server did not answer its health check.
    #[error("{url} did not answer 200: {reason}")]
    Unhealthy {
        /// What was asked.
        url: String,
        /// What happened instead.
        reason: String,
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

/// Writes `rows` as one JSON document (`--output json`), ending with a line ending.
fn write_json<W: Write>(out: &mut W, rows: &impl serde::Serialize) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, rows).map_err(io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

/// Runs a command: opens the backend the configuration names (`migrate` and `serve`
/// create a SQLite file if needed and migrate tokenauth's schema; the other commands
/// refuse a database that lacks a migration), then runs the command on it.
pub async fn run<R: BufRead, W: Write>(cli: Cli, io: &mut Io<R, W>) -> Result<(), CliError> {
    if let Some(done) = standalone::run(&cli.command, &mut io.stdout).await {
        return done;
    }
    // Two databases of its own, not `--database` (unless its schema refuses it).
    if let Command::CopyDatabase(args) = &cli.command
        && cli.schema.declaration().bulk_writes
    {
        return copy::run(args, io).await;
    }
    let django = cli.django.clone();
    // Names of a Django user model (or token package) that nothing reads are a
    // mistake, not a no-op.
    let reads_django = cli.schema == Schema::Django || matches!(cli.command, Command::ImportDjango(_));
    if !reads_django
        && (django.model() != tokenauth_django::UserModel::default()
            || django.django_tokens != DjangoTokens::Drf)
    {
        return Err(CliError::Options(
            "--django-user-table, --django-login-field, --django-login-match, --django-active-field \
             and --django-tokens name a Django database's user model and tokens: they apply with \
             --schema django and to import-django (--django-login-match iexact with --schema django \
             only)"
                .to_owned(),
        ));
    }
    // Imported users log in to tokenauth's own directory, which matches logins exactly.
    if matches!(cli.command, Command::ImportDjango(_))
        && django.django_login_match != tokenauth_django::LoginMatch::Exact
    {
        return Err(CliError::Options(
            "--django-login-match iexact applies with --schema django: users imported into \
             tokenauth's own schema log in with their login exactly as stored"
                .to_owned(),
        ));
    }
    let knox_served = cli.schema == Schema::Django && django.django_tokens == DjangoTokens::Knox;
    let knox_options = !django.django_knox_prefix.is_empty()
        || django.django_knox_ttl.is_some()
        || django.django_knox_auto_refresh == args::Switch::On;
    if knox_options && !knox_served {
        return Err(CliError::Options(
            "--django-knox-prefix, --django-knox-ttl and --django-knox-auto-refresh are knox's \
             TOKEN_PREFIX, TOKEN_TTL and AUTO_REFRESH: they apply with --schema django --django-tokens knox"
                .to_owned(),
        ));
    }
    backend::open(cli, commands::Commands { io, django }).await
}
