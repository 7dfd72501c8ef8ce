//! The one place a backend is opened: the configuration (schema × database × token
//! store) chooses the store, the directory, the policy store and the revocation bus,
//! checks the command against what they declare ([`refusals::check`]), and hands them
//! to the command runner, generic over them ([`Runner`]).
//!
//! The other databases a command names are opened here too: the two of
//! `copy-database` ([`open_tables`]) and the Django database `import-django` reads
//! ([`read_django`]).

use std::path::Path;
use std::time::Duration;

use tokenauth::core::TokenAuth;
use tokenauth_core::store::{
    Capabilities, RevocationBus, TokenImport, TokenStore, UserDirectory, UserImport,
};
use tokenauth_core::{Lifespan, LocalBus};
use tokenauth_django::hashers::upgrading_hasher;
use tokenauth_django::knox::{KnoxStore, KnoxToken};
use tokenauth_django::{
    DjangoTables, DjangoToken, DjangoUser, DjangoUserDirectory, UserModel, django_auth, knox_auth,
};
use tokenauth_redis::{BusOptions, RedisBus, RedisStore, Target};
use tokenauth_sqlx::mysql::{MySqlRevocationBus, MySqlStore, MySqlUserDirectory};
use tokenauth_sqlx::postgres::{PostgresRevocationBus, PostgresStore, PostgresUserDirectory};
use tokenauth_sqlx::sqlite::{SqliteRevocationBus, SqliteStore, SqliteUserDirectory};

use super::copy::Tables;
use super::policy::{PolicyStore, TokenLocation};
use super::refusals::{self, Declaration};
use super::{Cli, CliError, Command, DatabaseUrl, DjangoTokens};

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

impl Schema {
    /// What a backend on this schema declares.
    pub(super) fn declaration(self) -> &'static Declaration {
        match self {
            Self::Tokenauth => &Declaration::TOKENAUTH,
            Self::Django => &Declaration::DJANGO,
        }
    }
}

/// The databases this build opens, by URL scheme.
enum Database {
    /// `sqlite:` URLs: one file.
    Sqlite,
    /// `postgres:` (or `postgresql:`) URLs.
    Postgres,
    /// `mysql:` URLs: MySQL or MariaDB.
    MySql,
}

impl Database {
    fn of(url: &DatabaseUrl) -> Result<Self, CliError> {
        match url.as_str().split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Self::Sqlite),
            Some("postgres" | "postgresql") => Ok(Self::Postgres),
            Some("mysql") => Ok(Self::MySql),
            other => Err(CliError::Options(format!(
                "unsupported database URL scheme {:?}: this build supports sqlite:, postgres: and mysql: URLs",
                other.unwrap_or("(none)")
            ))),
        }
    }
}

/// An opened backend, as the command runner gets it.
pub(super) struct Opened<S, D, P, B> {
    /// The service over the store and the directory.
    pub(super) auth: TokenAuth<S, D>,
    /// Where the serving policy is kept; none where the backend keeps none.
    pub(super) settings: Option<P>,
    /// The revocation bus between processes, if the backend has one.
    pub(super) bus: Option<Bus<B>>,
    /// Where the tokens are.
    pub(super) location: TokenLocation,
    /// What the backend declares.
    pub(super) declared: &'static Declaration,
    /// What its token store holds.
    pub(super) holds: Capabilities,
}

/// A revocation bus between processes, and how revocations get onto it.
#[derive(Clone)]
pub(super) struct Bus<B> {
    pub(super) bus: B,
    /// Whether the commands publish what they end on it: not where the tables'
    /// triggers log every revocation in its transaction already (SQLite, MySQL), which
    /// publishing would write a second time.
    pub(super) publish: bool,
}

/// What runs a command on a backend, whichever it is.
pub(super) trait Runner {
    /// Runs `command` on `opened`.
    async fn run<S, D, P, B>(self, opened: Opened<S, D, P, B>, command: Command) -> Result<(), CliError>
    where
        S: TokenImport,
        D: UserImport,
        P: PolicyStore,
        B: RevocationBus + Clone;
}

/// Opens the backend `cli` names (`migrate` and `serve` create a SQLite file if needed
/// and migrate tokenauth's schema, the other commands refuse a database that is
/// behind; Django's is checked), refuses what it cannot do, and runs `cli`'s command
/// on it with `runner`.
pub(super) async fn open(cli: Cli, runner: impl Runner) -> Result<(), CliError> {
    let kind = Database::of(&cli.database)?;
    let declared = cli.schema.declaration();
    // Admin commands leave the schema to whoever upgrades the servers.
    let migrates = matches!(cli.command, Command::Serve(_) | Command::Migrate);
    let database = OPTION_DATABASE;
    let (timeout, listen_database) = match &cli.command {
        Command::Serve(args) => (args.store_timeout(), args.listen_database.clone()),
        _ => (tokenauth_sqlx::DEFAULT_TIMEOUT, None),
    };
    let url = cli.database.as_str();
    match (cli.schema, kind) {
        (Schema::Tokenauth, Database::Sqlite) => {
            if listen_database.is_some() {
                return Err(CliError::Options(
                    "--listen-database is for PostgreSQL: a SQLite database has no LISTEN".to_owned(),
                ));
            }
            let pool = if migrates {
                tokenauth_sqlx::sqlite::connect_with_timeout(url, timeout).await
            } else {
                tokenauth_sqlx::sqlite::open_migrated(url, timeout).await
            }
            .map_err(|error| database.error(error))?;
            let users = SqliteUserDirectory::new(pool.clone());
            // Only this process can open an in-memory database: nothing to follow.
            let bus = (!tokenauth_sqlx::sqlite::is_in_memory(url)).then(|| Bus {
                bus: SqliteRevocationBus::new(pool.clone()),
                publish: false,
            });
            let store = SqliteStore::new(pool);
            with_token_store(store, users, bus, declared, timeout, cli, runner).await
        }
        (Schema::Tokenauth, Database::Postgres) => {
            let pool = if migrates {
                tokenauth_sqlx::postgres::connect_with_timeout(url, timeout).await
            } else {
                tokenauth_sqlx::postgres::open_migrated(url, timeout).await
            }
            .map_err(|error| database.error(error))?;
            let mut bus = PostgresRevocationBus::new(pool.clone());
            if let Some(url) = listen_database {
                let options = url.as_str().parse().map_err(tokenauth_sqlx::Error::from)?;
                bus = bus.with_listen_options(tokenauth_sqlx::postgres::named(options));
            }
            let users = PostgresUserDirectory::new(pool.clone());
            let store = PostgresStore::new(pool);
            let bus = Bus { bus, publish: true };
            with_token_store(store, users, Some(bus), declared, timeout, cli, runner).await
        }
        (Schema::Tokenauth, Database::MySql) => {
            if listen_database.is_some() {
                return Err(CliError::Options(
                    "--listen-database is for PostgreSQL: MySQL has no LISTEN".to_owned(),
                ));
            }
            let pool = if migrates {
                tokenauth_sqlx::mysql::connect_with_timeout(url, timeout).await
            } else {
                tokenauth_sqlx::mysql::open_migrated(url, timeout).await
            }
            .map_err(|error| database.error(error))?;
            let users = MySqlUserDirectory::new(pool.clone());
            // The tables' triggers log every revocation in its transaction.
            let bus = Bus {
                bus: MySqlRevocationBus::new(pool.clone()),
                publish: false,
            };
            with_token_store(
                MySqlStore::new(pool),
                users,
                Some(bus),
                declared,
                timeout,
                cli,
                runner,
            )
            .await
        }
        (Schema::Django, Database::Sqlite) if cli.django.django_tokens == DjangoTokens::Knox => {
            let tables = tokenauth_django::sqlite::connect_knox_model(url, &cli.django.model()).await?;
            let auth = knox(&tables, &cli)?;
            without_policy(auth, &Declaration::DJANGO_KNOX, cli, runner).await
        }
        (Schema::Django, Database::Postgres) if cli.django.django_tokens == DjangoTokens::Knox => {
            let tables = tokenauth_django::postgres::connect_knox_model(url, &cli.django.model()).await?;
            let auth = knox(&tables, &cli)?;
            without_policy(auth, &Declaration::DJANGO_KNOX, cli, runner).await
        }
        (Schema::Django, Database::MySql) if cli.django.django_tokens == DjangoTokens::Knox => {
            let tables = tokenauth_django::mysql::connect_knox_model(url, &cli.django.model()).await?;
            let auth = knox(&tables, &cli)?;
            without_policy(auth, &Declaration::DJANGO_KNOX, cli, runner).await
        }
        (Schema::Django, Database::MySql) => {
            let tables = tokenauth_django::mysql::connect_model(url, &cli.django.model()).await?;
            let auth = django_auth(tables.store(), tables.users());
            without_policy(auth, declared, cli, runner).await
        }
        (Schema::Django, Database::Sqlite) => {
            let tables = tokenauth_django::sqlite::connect_model(url, &cli.django.model()).await?;
            let auth = django_auth(tables.store(), tables.users());
            without_policy(auth, declared, cli, runner).await
        }
        (Schema::Django, Database::Postgres) => {
            let tables = tokenauth_django::postgres::connect_model(url, &cli.django.model()).await?;
            let auth = django_auth(tables.store(), tables.users());
            without_policy(auth, declared, cli, runner).await
        }
    }
}

/// The service on knox's table: tokens with `--django-knox-prefix`, each row's
/// `expiry` written a lifespan after its creation (the one the command serves or
/// issues under: `serve --lifespan`, the `token` commands' `--server-lifespan`).
fn knox<DB: tokenauth_django::Dialect>(
    tables: &DjangoTables<DB>,
    cli: &Cli,
) -> Result<TokenAuth<KnoxStore<DB>, DjangoUserDirectory<DB>>, CliError>
where
    KnoxStore<DB>: TokenStore,
    DjangoUserDirectory<DB>: UserDirectory,
{
    let lifespan = match &cli.command {
        Command::Serve(args) => args.lifespan,
        Command::Token(args) => args.server_lifespan.unwrap_or_default(),
        _ => Lifespan::DEFAULT,
    };
    let ttl = cli.django.django_knox_ttl.unwrap_or(lifespan);
    let store = tables
        .knox_store(&cli.django.django_knox_prefix, Some(ttl.as_duration()))
        .with_auto_refresh(cli.django.django_knox_auto_refresh == super::args::Switch::On);
    knox_auth(store, tables.users(), lifespan).map_err(|error| CliError::Options(error.to_string()))
}

/// Runs on a backend that keeps no policy and has no bus or token store of its own.
async fn without_policy<S, D>(
    auth: TokenAuth<S, D>,
    declared: &'static Declaration,
    cli: Cli,
    runner: impl Runner,
) -> Result<(), CliError>
where
    S: TokenImport,
    D: UserImport,
{
    let holds = auth.store().capabilities();
    refusals::check(&cli, declared, &holds)?;
    let opened = Opened {
        auth,
        // Types only: there is neither.
        settings: None::<SqliteStore>,
        bus: None::<Bus<LocalBus>>,
        location: TokenLocation::Database,
        declared,
        holds,
    };
    runner.run(opened, cli.command).await
}

/// Runs with tokens in `sql`, or in Redis with `--token-store`; the serving policy
/// stays in `sql` either way. Revocations travel on `sql_bus`, or on Redis pub/sub
/// when the tokens are in Redis. Passwords are argon2id, and Django's hashes (of users
/// `import-django` brought) verify until a login re-hashes them.
async fn with_token_store<S, D, B>(
    sql: S,
    users: D,
    sql_bus: Option<Bus<B>>,
    declared: &'static Declaration,
    timeout: Duration,
    cli: Cli,
    runner: impl Runner,
) -> Result<(), CliError>
where
    S: TokenImport + PolicyStore + Clone,
    D: UserImport,
    B: RevocationBus + Clone,
{
    refusals::check(&cli, declared, &sql.capabilities())?;
    let Some(url) = &cli.token_store else {
        let opened = Opened {
            auth: TokenAuth::new(sql.clone(), users).with_password_hasher(upgrading_hasher()),
            holds: sql.capabilities(),
            settings: declared.keeps_policy.then_some(sql),
            bus: sql_bus,
            location: TokenLocation::Database,
            declared,
        };
        return runner.run(opened, cli.command).await;
    };
    let prefix = &cli.token_store_prefix;
    let target = redis_target(url, cli.token_store_ca.as_deref())?;
    let tokens = RedisStore::connect_to(&target, timeout)
        .await?
        .with_prefix(prefix)?;
    let options = BusOptions::default().with_timeout(timeout);
    let bus = RedisBus::connect_with(&target, prefix, options).await?;
    let opened = Opened {
        holds: tokens.capabilities(),
        auth: TokenAuth::new(tokens, users).with_password_hasher(upgrading_hasher()),
        settings: declared.keeps_policy.then_some(sql),
        bus: Some(Bus { bus, publish: true }),
        location: TokenLocation::Redis(prefix.clone()),
        declared,
    };
    runner.run(opened, cli.command).await
}

/// Where Redis is, trusting the CA file `ca` if one is given.
fn redis_target(url: &DatabaseUrl, ca: Option<&Path>) -> Result<Target, CliError> {
    let target = Target::parse(url.as_str())?;
    let Some(path) = ca else {
        return Ok(target);
    };
    let pem = std::fs::read(path).map_err(|source| CliError::File {
        path: path.to_owned(),
        source,
    })?;
    Ok(target.with_root_certificates(&pem)?)
}

/// What copies a database's tables into another's, given both.
pub(super) trait CopyRunner {
    /// Copies `from` into `to`.
    async fn copy(self, from: &impl Tables, to: &impl Tables) -> Result<(), CliError>;
}

/// Opens the tokenauth databases `from` and `to` (both migrated already: the copy
/// changes rows, never the schema) and copies with `runner`.
pub(super) async fn open_tables(
    from: &DatabaseUrl,
    to: &DatabaseUrl,
    runner: impl CopyRunner,
) -> Result<(), CliError> {
    let f = OPTION_FROM;
    let (from_kind, to_kind) = (Database::of(from)?, Database::of(to)?);
    match from_kind {
        Database::Sqlite => copy_to(&sqlite(from, f).await?, to, to_kind, runner).await,
        Database::Postgres => copy_to(&postgres(from, f).await?, to, to_kind, runner).await,
        Database::MySql => copy_to(&mysql(from, f).await?, to, to_kind, runner).await,
    }
}

/// Opens the tokenauth database `to` (of kind `kind`) and copies `from` into it.
async fn copy_to(
    from: &impl Tables,
    to: &DatabaseUrl,
    kind: Database,
    runner: impl CopyRunner,
) -> Result<(), CliError> {
    let t = OPTION_TO;
    match kind {
        Database::Sqlite => runner.copy(from, &sqlite(to, t).await?).await,
        Database::Postgres => runner.copy(from, &postgres(to, t).await?).await,
        Database::MySql => runner.copy(from, &mysql(to, t).await?).await,
    }
}

async fn sqlite(
    url: &DatabaseUrl,
    option: NamedDatabase,
) -> Result<(SqliteStore, SqliteUserDirectory), CliError> {
    let pool = tokenauth_sqlx::sqlite::open_migrated(url.as_str(), tokenauth_sqlx::DEFAULT_TIMEOUT)
        .await
        .map_err(|error| option.error(error))?;
    Ok((SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool)))
}

async fn postgres(
    url: &DatabaseUrl,
    option: NamedDatabase,
) -> Result<(PostgresStore, PostgresUserDirectory), CliError> {
    let pool = tokenauth_sqlx::postgres::open_migrated(url.as_str(), tokenauth_sqlx::DEFAULT_TIMEOUT)
        .await
        .map_err(|error| option.error(error))?;
    Ok((PostgresStore::new(pool.clone()), PostgresUserDirectory::new(pool)))
}

async fn mysql(
    url: &DatabaseUrl,
    option: NamedDatabase,
) -> Result<(MySqlStore, MySqlUserDirectory), CliError> {
    let pool = tokenauth_sqlx::mysql::open_migrated(url.as_str(), tokenauth_sqlx::DEFAULT_TIMEOUT)
        .await
        .map_err(|error| option.error(error))?;
    Ok((MySqlStore::new(pool.clone()), MySqlUserDirectory::new(pool)))
}

/// The option that names a tokenauth database, and how the operator migrates it.
#[derive(Clone, Copy)]
struct NamedDatabase {
    database: &'static str,
    migrate: &'static str,
}

const OPTION_DATABASE: NamedDatabase = NamedDatabase {
    database: "the database",
    migrate: "tokenauth migrate",
};
const OPTION_FROM: NamedDatabase = NamedDatabase {
    database: "the --from database",
    migrate: "tokenauth --database FROM_URL migrate",
};
const OPTION_TO: NamedDatabase = NamedDatabase {
    database: "the --to database",
    migrate: "tokenauth --database TO_URL migrate",
};

impl NamedDatabase {
    /// `error` as the command reports it: a missing migration names the fix.
    fn error(self, error: tokenauth_sqlx::Error) -> CliError {
        match error {
            tokenauth_sqlx::Error::NotMigrated { pending, .. } => CliError::NotMigrated {
                database: self.database,
                migrate: self.migrate,
                pending,
            },
            other => CliError::Database(other),
        }
    }
}

/// Every user and knox token of the Django database at `url`, checked for knox's
/// tables instead of DRF's.
pub(super) async fn read_knox(url: &DatabaseUrl) -> Result<(Vec<DjangoUser>, Vec<KnoxToken>), CliError> {
    Ok(match Database::of(url)? {
        Database::Sqlite => {
            let pool = tokenauth_django::sqlite::connect_knox(url.as_str()).await?;
            tokenauth_django::knox::export(&pool).await?
        }
        Database::Postgres => {
            let pool = tokenauth_django::postgres::connect_knox(url.as_str()).await?;
            tokenauth_django::knox::export(&pool).await?
        }
        Database::MySql => {
            let pool = tokenauth_django::mysql::connect_knox(url.as_str()).await?;
            tokenauth_django::knox::export(&pool).await?
        }
    })
}

/// Every user (of `model`) and token of the Django database `url` names (schema
/// checked first).
pub(super) async fn read_django(
    url: &DatabaseUrl,
    model: &UserModel,
) -> Result<(Vec<DjangoUser>, Vec<DjangoToken>), CliError> {
    Ok(match Database::of(url)? {
        Database::Sqlite => {
            let tables = tokenauth_django::sqlite::connect_model(url.as_str(), model).await?;
            tokenauth_django::export(&tables).await?
        }
        Database::Postgres => {
            let tables = tokenauth_django::postgres::connect_model(url.as_str(), model).await?;
            tokenauth_django::export(&tables).await?
        }
        Database::MySql => {
            let tables = tokenauth_django::mysql::connect_model(url.as_str(), model).await?;
            tokenauth_django::export(&tables).await?
        }
    })
}
