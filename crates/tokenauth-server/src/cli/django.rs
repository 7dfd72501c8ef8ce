//! `--schema django`: serving and administering on a Django/DRF database's own tables
//! (`auth_user`, `authtoken_token`) through `tokenauth-django`, with DRF's semantics.
//!
//! The schema is checked at start and never migrated; no policy is stored (Django's
//! database gets no table of tokenauth's), so the `token` commands take the server's
//! lifespan as an option (`--server-lifespan`, default 30d). The options that DRF's
//! table cannot honour (scopes, idle expiry, per-token lifespans and names, another
//! obtain policy or token limit), a token store and the cache are refused, not
//! ignored.

use std::io::{BufRead, Write};

use tokenauth::TokenAuth;
use tokenauth_core::{Maintenance, TokenStore, UserAdmin};
use tokenauth_django::django_auth;
use tokenauth_django::postgres::{PostgresStore, PostgresUserDirectory};
use tokenauth_django::sqlite::{SqliteStore, SqliteUserDirectory};

use super::args::TOKEN_STORE_PREFIX;
use super::policy::Partial;
use super::{Backend, Cli, CliError, Command, Io, Policy, TokenCommand, tokens, users};

/// Whose tables the database URL holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Schema {
    /// tokenauth's own tables (created and migrated by tokenauth).
    #[default]
    Tokenauth,
    /// A Django/DRF database's `auth_user` and `authtoken_token`, shared with the
    /// Django application: checked at start, never migrated.
    Django,
}

/// Runs a command on the Django database the URL names.
pub(super) async fn run<R: BufRead, W: Write>(cli: Cli, io: &mut Io<R, W>) -> Result<(), CliError> {
    refuse_token_store(&cli)?;
    let url = cli.database.as_str();
    match Backend::of(&cli.database)? {
        Backend::Sqlite => {
            let pool = tokenauth_django::sqlite::connect(url).await?;
            let auth = django_auth(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool));
            run_on(auth, cli.command, io).await
        }
        Backend::Postgres => {
            let pool = tokenauth_django::postgres::connect(url).await?;
            let auth = django_auth(PostgresStore::new(pool.clone()), PostgresUserDirectory::new(pool));
            run_on(auth, cli.command, io).await
        }
    }
}

async fn run_on<S, D, R, W>(
    auth: TokenAuth<S, D>,
    command: Command,
    io: &mut Io<R, W>,
) -> Result<(), CliError>
where
    S: TokenStore,
    D: UserAdmin,
    R: BufRead,
    W: Write,
{
    match command {
        Command::Migrate => Err(CliError::NotInDjangoMode(
            "tokenauth never migrates a Django database: its schema belongs to Django's `migrate`",
        )),
        Command::Serve(args) => {
            refuse_policy(&args.policy)?;
            if args.cache.enabled {
                return Err(CliError::NotInDjangoMode(
                    "--cache: Django's own changes (a deleted token, a new password, a deactivated user) would reach no cache",
                ));
            }
            if args.session_scope().is_some() {
                return Err(CliError::NotInDjangoMode(
                    "--session-scope: DRF's tokens carry no scopes",
                ));
            }
            let listener = crate::bind(args.bind).await?;
            let auth = auth
                .with_lifespan(args.lifespan)
                .with_backend_timeout(Some(args.backend_timeout()));
            // Like the original, expired tokens stay until their user logs in again
            // (and answer "Token has expired" meanwhile): no purge.
            let maintenance = Maintenance {
                purge_interval: None,
                ..Maintenance::default()
            };
            let options = crate::LoginOptions {
                throttle: tokenauth::routes::LoginThrottle::new(args.login_throttle),
                proxies: args.trusted_proxies.clone(),
                session_scope: None,
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
            .await
        }
        Command::User(command) => users::run(command, &auth, io).await,
        Command::Import(_) | Command::CopyDatabase(_) | Command::ImportDjango(_) => {
            Err(CliError::NotInDjangoMode(
                "import, import-django and copy-database write tokenauth's own schema: give its database, without --schema django",
            ))
        }
        Command::Token(args) => {
            refuse_policy(&args.policy)?;
            if let TokenCommand::Create {
                name,
                lifespan,
                scope,
                ..
            } = &args.command
                && (name.is_some() || lifespan.is_some() || !scope.is_empty())
            {
                return Err(CliError::NotInDjangoMode(
                    "--name, --lifespan and --scope: DRF's table has no column for them",
                ));
            }
            let purge_grace = match args.command {
                TokenCommand::Purge { older_than } => older_than,
                _ => None,
            };
            let policy =
                Partial::given(args.server_lifespan, purge_grace, &args.policy).resolve(Partial::default());
            let auth = auth.with_lifespan(policy.lifespan);
            tokens::run(args.command, &auth, &policy, io).await
        }
    }
}

/// Refuses the token store options: tokens are DRF's rows in the Django database. A
/// prefix is refused when it is not the default (whether it was given cannot be told).
fn refuse_token_store(cli: &Cli) -> Result<(), CliError> {
    let default_prefix = cli.token_store_prefix == TOKEN_STORE_PREFIX;
    if cli.token_store.is_some() || cli.token_store_ca.is_some() || !default_prefix {
        return Err(CliError::NotInDjangoMode(
            "--token-store, --token-store-prefix and --token-store-ca: the tokens are DRF's rows in authtoken_token",
        ));
    }
    Ok(())
}

/// Refuses the policy options DRF's semantics and table cannot honour.
fn refuse_policy(policy: &Policy) -> Result<(), CliError> {
    let refused = [
        (
            policy.idle_timeout.is_some(),
            "--idle-timeout: DRF's table records no use",
        ),
        (policy.scopes.is_some(), "--scopes: DRF's tokens carry no scopes"),
        (
            policy.obtain_policy.is_some(),
            "--obtain-policy: DRF's is fixed (the valid key again, one per user)",
        ),
        (
            policy.max_tokens_per_user.is_some() || policy.on_limit.is_some(),
            "--max-tokens-per-user and --on-limit: DRF keeps one token per user",
        ),
    ];
    match refused.into_iter().find(|(given, _)| *given) {
        Some((_, what)) => Err(CliError::NotInDjangoMode(what)),
        None => Ok(()),
    }
}
