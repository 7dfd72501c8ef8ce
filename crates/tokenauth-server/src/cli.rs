//! The `tokenauth` command line: arguments (clap) and the commands they run.
//!
//! Commands write to the `Write` they are given, so tests run them without spawning a
//! process.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::str::FromStr;

use std::collections::HashMap;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tokenauth::TokenAuth;
use tokenauth_core::time::OffsetDateTime;
use tokenauth_core::time::format_description::well_known::Rfc3339;
use tokenauth_core::{
    BackendError, DEFAULT_MAX_TOKENS_PER_USER, DEFAULT_PURGE_BATCH, InvalidScope, IssueError, Lifespan,
    Maintenance, ObtainPolicy, OnLimit, RevokeReason, Scopes, TokenId, TokenLimit, TokenRequest, TokenStore,
    UserDirectory,
};
use tokenauth_sqlx::{SqliteStore, SqliteUserDirectory};

/// Expiring API tokens over HTTP, wire-compatible with Django REST Framework.
#[derive(Debug, Parser)]
#[command(name = "tokenauth", version)]
pub struct Cli {
    /// Database URL; a SQLite file is created and migrated if missing.
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_DATABASE_URL",
        default_value = "sqlite://tokenauth.db",
        hide_env_values = true
    )]
    pub database: DatabaseUrl,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tokens.
    Token(TokenArgs),
}

/// Arguments of `tokenauth serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, env = "TOKENAUTH_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    /// How long tokens live after they are issued (30d, 12h, 3s...). Applies to existing
    /// tokens too, and is the longest lifespan a client may ask for.
    #[arg(long, env = "TOKENAUTH_LIFESPAN", default_value = "30d")]
    pub lifespan: Lifespan,
    /// Token policy.
    #[command(flatten)]
    pub policy: Policy,
    /// How often to delete long-expired tokens in the background.
    #[arg(long, env = "TOKENAUTH_PURGE_INTERVAL", default_value = "1h")]
    pub purge_interval: Lifespan,
    /// How long after expiry a token is deleted (until then it answers "Token has expired").
    #[arg(long, env = "TOKENAUTH_PURGE_GRACE", default_value = "7d")]
    pub purge_grace: Lifespan,
}

/// The token policy besides the lifespan: sliding expiry, the per-user limit, scopes.
/// `serve` and the `token` commands take the same options (and `TOKENAUTH_*`
/// variables), so that administration applies the server's policy.
#[derive(Debug, Clone, Args)]
pub struct Policy {
    /// Sliding expiry: tokens unused for this long expire (never past their lifespan).
    #[arg(long, global = true, env = "TOKENAUTH_IDLE_TIMEOUT")]
    pub idle_timeout: Option<Lifespan>,
    /// How often last-used times are written to the database.
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_REFRESH_INTERVAL",
        default_value = "60s"
    )]
    pub refresh_interval: Lifespan,
    /// What a login does to the user's other tokens: `new` keeps them (a token per
    /// device), `replace` revokes them.
    #[arg(long, global = true, env = "TOKENAUTH_OBTAIN_POLICY", default_value = "new")]
    pub obtain_policy: ObtainPolicy,
    /// The most live tokens one user may hold; 0 for no limit.
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_MAX_TOKENS_PER_USER",
        default_value_t = DEFAULT_MAX_TOKENS_PER_USER
    )]
    pub max_tokens_per_user: usize,
    /// At the limit: `evict_oldest` revokes the oldest tokens, `reject` refuses the login (403).
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_ON_LIMIT",
        default_value = "evict_oldest"
    )]
    pub on_limit: OnLimit,
    /// The scopes tokens may carry, space-separated ("read write"); tokens issued
    /// without a scope request get them all.
    #[arg(long, global = true, env = "TOKENAUTH_SCOPES", default_value = "", value_parser = Scopes::parse)]
    pub scopes: Scopes,
}

impl Policy {
    /// `auth` configured with `lifespan` and this policy.
    pub fn apply<S: TokenStore, D: UserDirectory>(
        &self,
        auth: TokenAuth<S, D>,
        lifespan: Lifespan,
    ) -> TokenAuth<S, D> {
        let limit =
            (self.max_tokens_per_user > 0).then(|| TokenLimit::new(self.max_tokens_per_user, self.on_limit));
        auth.with_lifespan(lifespan)
            .with_idle_timeout(self.idle_timeout)
            .with_refresh_interval(self.refresh_interval)
            .with_obtain_policy(self.obtain_policy)
            .with_token_limit(limit)
            .with_scopes(self.scopes.clone())
    }
}

/// `tokenauth token ...`: the server's policy, then what to do.
///
/// Give these commands the same policy as `serve` (options or `TOKENAUTH_*`
/// variables): the lifespan decides what `purge` deletes and what `create` allows.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The server's lifespan (its `serve --lifespan`).
    #[arg(long, global = true, env = "TOKENAUTH_LIFESPAN", default_value = "30d")]
    pub server_lifespan: Lifespan,
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
        /// The login name (matched exactly, case-sensitive).
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
    List,
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
        #[arg(long)]
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
    },
    /// Revoke a token by its id: it stops working at once.
    Revoke {
        /// The token's id, as `token list` shows it.
        id: String,
    },
    /// Delete tokens that expired long ago, in small batches.
    Purge {
        /// How long after expiry a token is deleted (the server's `--purge-grace`).
        #[arg(long, env = "TOKENAUTH_PURGE_GRACE", default_value = "7d")]
        older_than: Lifespan,
    },
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

/// Why a command failed. Printed as `error: ...` with a non-zero exit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The URL names a database this build does not support.
    #[error("unsupported database URL scheme {0:?}: this build supports sqlite: URLs")]
    UnsupportedDatabase(String),
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

type SqliteAuth = TokenAuth<SqliteStore, SqliteUserDirectory>;

/// Opens (creating and migrating if needed) the SQLite database.
async fn open(url: &DatabaseUrl) -> Result<(SqliteAuth, SqliteUserDirectory), CliError> {
    if !url.as_str().starts_with("sqlite:") {
        let scheme = url
            .as_str()
            .split_once(':')
            .map_or("(none)", |(scheme, _)| scheme);
        return Err(CliError::UnsupportedDatabase(scheme.to_owned()));
    }
    let pool = tokenauth_sqlx::connect(url.as_str()).await?;
    let users = SqliteUserDirectory::new(pool.clone());
    Ok((TokenAuth::new(SqliteStore::new(pool), users.clone()), users))
}

/// Runs a command.
pub async fn run<R: BufRead, W: Write>(cli: Cli, io: &mut Io<R, W>) -> Result<(), CliError> {
    match cli.command {
        Command::Migrate => {
            open(&cli.database).await?;
            writeln!(io.stdout, "database is up to date")?;
        }
        Command::Serve(args) => {
            let (auth, _) = open(&cli.database).await?;
            let maintenance = Maintenance {
                purge_interval: Some(args.purge_interval),
                purge_grace: args.purge_grace.as_duration(),
            };
            let auth = args.policy.apply(auth, args.lifespan);
            crate::serve(
                auth,
                args.bind,
                maintenance,
                &mut io.stdout,
                crate::shutdown_signal(),
            )
            .await?;
        }
        Command::User(command) => {
            let (auth, users) = open(&cli.database).await?;
            user_command(command, &auth, &users, io).await?;
        }
        Command::Token(args) => {
            let (auth, users) = open(&cli.database).await?;
            let auth = args.policy.apply(auth, args.server_lifespan);
            token_command(args.command, auth, &users, io).await?;
        }
    }
    Ok(())
}

async fn user_command<R: BufRead, W: Write>(
    command: UserCommand,
    auth: &SqliteAuth,
    users: &SqliteUserDirectory,
    io: &mut Io<R, W>,
) -> Result<(), CliError> {
    let out = &mut io.stdout;
    match command {
        UserCommand::Add {
            username,
            password_stdin,
            inactive,
        } => {
            if username.is_empty() || username.trim() != username {
                // Logins trim the username, as DRF does: such a user could never log in.
                return Err(CliError::Username);
            }
            let password = if password_stdin {
                password_from(&mut io.stdin)?
            } else if io.interactive {
                password_from_terminal()?
            } else {
                return Err(CliError::Password(
                    "standard input is not a terminal: pass the password with --password-stdin",
                ));
            };
            let upserted = users
                .upsert_user(&username, &password, !inactive, auth.clock())
                .await?;
            let user = &upserted.user;
            let verb = if upserted.created { "created" } else { "updated" };
            let state = if user.is_active { "active" } else { "inactive" };
            write!(out, "{verb} user {:?} (id {}, {state})", user.username, user.id)?;
            if let (true, Some(changed)) = (upserted.password_changed, user.password_changed) {
                // Older tokens already fail (the user's password_changed time); this
                // deletes them.
                let reason = RevokeReason::PasswordChanged;
                let revoked = auth
                    .revoke_tokens_issued_before(&user.id, changed, reason)
                    .await?;
                write!(out, "; password changed, {revoked} older token(s) revoked")?;
            }
            writeln!(out)?;
        }
        UserCommand::List => {
            writeln!(out, "{:<8} {:<7} USERNAME", "ID", "ACTIVE")?;
            for user in users.list_users().await? {
                let active = if user.is_active { "yes" } else { "no" };
                writeln!(out, "{:<8} {active:<7} {}", user.id, user.username)?;
            }
        }
        UserCommand::Activate { username } => set_active(users, &username, true, out).await?,
        UserCommand::Deactivate { username } => set_active(users, &username, false, out).await?,
    }
    Ok(())
}

async fn set_active(
    users: &SqliteUserDirectory,
    username: &str,
    active: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if !users.set_active(username, active).await? {
        return Err(CliError::NoSuchUser(username.to_owned()));
    }
    let state = if active { "activated" } else { "deactivated" };
    writeln!(out, "{state} user {username:?}")?;
    Ok(())
}

/// The first line of `input`, without its line ending (`\n` or `\r\n`).
fn password_from(input: &mut impl BufRead) -> Result<String, CliError> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Err(CliError::Password("no password on standard input"));
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    non_empty(line)
}

fn password_from_terminal() -> Result<String, CliError> {
    let password = rpassword::prompt_password("Password: ")?;
    if rpassword::prompt_password("Password (again): ")? != password {
        return Err(CliError::Password("the passwords do not match"));
    }
    non_empty(password)
}

fn non_empty(password: String) -> Result<String, CliError> {
    if password.is_empty() {
        Err(CliError::Password("the password must not be empty"))
    } else {
        Ok(password)
    }
}

async fn token_command<R, W: Write>(
    command: TokenCommand,
    auth: SqliteAuth,
    users: &SqliteUserDirectory,
    io: &mut Io<R, W>,
) -> Result<(), CliError> {
    let out = &mut io.stdout;
    let find_user = async |username: &str| {
        users
            .find_by_username(username)
            .await?
            .ok_or_else(|| CliError::NoSuchUser(username.to_owned()))
    };
    match command {
        TokenCommand::Create {
            username,
            name,
            lifespan,
            scope,
        } => {
            if name.as_deref().is_some_and(|n| n.chars().any(char::is_control)) {
                return Err(CliError::TokenName);
            }
            let user = find_user(&username).await?;
            let scopes = if scope.is_empty() {
                None
            } else {
                Some(Scopes::new(
                    scope.iter().flat_map(|s| s.split_ascii_whitespace()),
                )?)
            };
            let request = TokenRequest {
                name,
                lifespan,
                scopes,
            };
            let issued = auth.issue(&user.id, request).await?;
            writeln!(out, "{}", issued.token.expose_secret())?;
        }
        TokenCommand::List { user } => {
            let user = match user {
                Some(username) => Some(find_user(&username).await?),
                None => None,
            };
            let tokens = auth.list(user.as_ref().map(|u| &u.id)).await?;
            let owners: HashMap<_, _> = users
                .list_users()
                .await?
                .into_iter()
                .map(|u| (u.id.clone(), u))
                .collect();
            let now = auth.now();
            writeln!(
                out,
                "{:<22}  {:<16}  {:<27}  {:<27}  {:<27}  {:<15}  {:<8}  {:<16}  NAME",
                "ID", "USER", "CREATED", "EXPIRES", "LAST USED", "LAST IP", "STATUS", "SCOPES"
            )?;
            for token in tokens {
                let owner = owners.get(&token.user_id);
                let username = owner.map_or("(deleted)", |u| u.username.as_str());
                // As authentication decides: a password change or an inactive user
                // outranks expiry.
                let status = match owner {
                    Some(u) if u.password_changed.is_some_and(|c| token.created < c) => "revoked",
                    Some(u) if !u.is_active => "inactive",
                    None => "orphan",
                    _ if now > token.expires => "expired",
                    _ => "valid",
                };
                writeln!(
                    out,
                    "{:<22}  {username:<16}  {:<27}  {:<27}  {:<27}  {:<15}  {status:<8}  {:<16}  {}",
                    token.id,
                    rfc3339(token.created),
                    rfc3339(token.expires),
                    token.last_used.map_or_else(|| "-".to_owned(), rfc3339),
                    token.last_ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
                    if token.scopes.is_empty() {
                        "-".to_owned()
                    } else {
                        token.scopes.to_string().replace(' ', ",")
                    },
                    // Names come from clients too: no control character reaches the terminal.
                    token.name.as_deref().unwrap_or("").replace(char::is_control, "?")
                )?;
            }
        }
        TokenCommand::Revoke { id } => {
            let token_id: TokenId = id.parse().map_err(|_| CliError::NoSuchToken(id.clone()))?;
            if !auth.revoke(&token_id).await? {
                return Err(CliError::NoSuchToken(id));
            }
            writeln!(out, "revoked token {id}")?;
        }
        TokenCommand::Purge { older_than } => {
            let bar = if io.show_progress {
                ProgressBar::new_spinner()
            } else {
                ProgressBar::hidden()
            };
            bar.set_style(
                ProgressStyle::with_template("{spinner} purged {pos} tokens ({elapsed})")
                    .expect("valid template"),
            );
            let total = auth
                .purge(older_than.as_duration(), DEFAULT_PURGE_BATCH, |done| {
                    bar.set_position(u64::try_from(done).unwrap_or(u64::MAX));
                })
                .await?;
            bar.finish_and_clear();
            let lifespan = auth.policy().lifespan();
            writeln!(
                out,
                "purged {total} token(s) expired over {older_than} ago (server lifespan {lifespan})"
            )?;
        }
    }
    Ok(())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}
