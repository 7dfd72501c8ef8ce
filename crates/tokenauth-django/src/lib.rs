//! tokenauth on a live Django database: tokens in Django REST Framework's
//! `authtoken_token` table and users in Django's `auth_user` or a custom user model's
//! table ([`UserModel`]), on SQLite (feature `sqlite`, default), PostgreSQL
//! (feature `postgres`) and MySQL or MariaDB (feature `mysql`), so that a Django/DRF
//! application and tokenauth can share one database while an API moves from one to
//! the other. A token Django issued authenticates here and the other way round; a
//! user created by either logs in at both.
//!
//! # How it fits tokenauth's contract
//!
//! Everything runs through core's [`TokenAuth`]: the same header parsing, the same
//! verdict in the original's order (unknown key, then inactive user, then expiry: a
//! token is expired iff `created < now - lifespan`), the same errors and HTTP routes.
//! [`django_auth`] configures it for DRF:
//!
//! - **Keys in DRF's format** ([`TokenFormat::drf`](tokenauth_core::TokenFormat::drf)):
//!   40 lowercase hex characters, which Django must accept.
//! - **Plaintext keys: the documented exception.** DRF keeps its key in plaintext as
//!   the table's primary key, and Django looks tokens up by it, so this store does the
//!   same. tokenauth's own stores keep only SHA-256 digests; here the "digest" of a
//!   DRF key is the key itself ([`TokenDigest::drf_key`](tokenauth_core::store::TokenDigest::drf_key)).
//!   Protect the database accordingly, and move to tokenauth's own schema once the
//!   Django application is retired.
//! - **One token per user, returned again** ([`ObtainPolicy::Reuse`]):
//!   a login returns the user's valid key (the same key again), replaces an expired
//!   one with a new key, or creates one. Core already decides every change to a
//!   user's tokens through the store's per-user compare-and-swap, and DRF's table
//!   holds the key in plaintext, so the existing key can be handed back: a Django
//!   mode in core's issue path fits the contract as it is, where a separate service
//!   would have duplicated the header parsing, the verdict, the errors and the
//!   routes. Two concurrent logins never both insert: one commits, the other sees the
//!   conflict (on SQLite the write lock, on PostgreSQL and MySQL the `user_id` unique
//!   index or the row lock), reads again and returns the same key. No 5xx, unlike the
//!   original.
//! - **Django's password hashers** ([`hashers::django_hasher`]):
//!   every format of Django's defaults verifies; new passwords are written as
//!   `pbkdf2_sha256` with 1,000,000 iterations, so Django keeps reading them; a
//!   correct password in an older format or iteration count is re-hashed on login, as
//!   Django does; unknown users cost one PBKDF2 verification, like known ones.
//! - **One query to authenticate**, as DRF's `select_related("user")`: the store reads
//!   the token and its user together, and the directory answers from that row when it
//!   is on the same pool and user table (a store and a directory of one
//!   [`DjangoTables`], or both made with `new` on clones of one pool); otherwise it
//!   reads the user itself.
//!
//! # What DRF's table cannot hold
//!
//! The store is a restricted [`TokenStore`]: a user has at most one row (`user_id` is
//! unique), and there are no columns for a token name, scopes, a lifespan of its own,
//! a last use or a credential version (see below). Names and per-login lifespans do not apply to
//! a shared key ([`ObtainPolicy::Reuse`]);
//! inserting a record with scopes or its own expiry is refused
//! ([`Error::Unsupported`]); uses are not recorded, so idle expiry does not work in
//! this mode. Token ids (for `token list`, `token revoke` and
//! `DELETE /auth/tokens/{id}`) are derived from the row: an integer user's id, `Z`,
//! and a prefix of the SHA-256 of the key; a UUID user's first 16 hex digits and 6 of
//! that digest (22 characters in all, as core's ids; the user is found by the range
//! of UUIDs with those digits, on `user_id`'s index, and the row by the whole id).
//!
//! # Password changes
//!
//! Django has no credential version column, so a user's credential version here is a
//! digest of its stored hash (the first 8 bytes of the SHA-256 of the user table's
//! `password`): any new hash, written by tokenauth or by Django, is a new
//! version. A token's version is its user's, read with the row, so tokens are not
//! ended by the version (DRF's table cannot say which password a key was issued
//! under); what the version guards is the login. A login verifies the hash it read and
//! its key is inserted only if, inside the commit's transaction, the user's password
//! still has that digest (SQLite: in the `BEGIN IMMEDIATE` write transaction;
//! PostgreSQL: the `auth_user` row read `FOR SHARE`, MySQL: `LOCK IN SHARE MODE`, so
//! no password can change before the key commits). A password changed while a login runs, by `tokenauth user add`
//! or by Django's `set_password`, makes the login fail with the ordinary credentials
//! error instead of minting a key. A re-hash on login (an outdated format) is a new
//! version too: core goes on under it, as the hash is still of the password verified.
//!
//! A password changed **through tokenauth** ([`TokenAuth::change_password`],
//! `tokenauth user add`) is written as Django's `pbkdf2_sha256` and deletes the
//! user's token in the same transaction, so the old key stops working at both. A
//! password changed **through Django** does not revoke the token, in tokenauth as in
//! Django: delete the token in Django (`Token.objects.filter(user=user).delete()`) if
//! it should. "Revoke all" ([`TokenAuth::revoke_everything`]) deletes the user's
//! token; it cannot change the version (only a new password does), so a login that
//! raced it can still leave a key.
//!
//! # Schema
//!
//! Django's schema is never altered and no tokenauth migration runs: [`check_schema`]
//! (Django's `auth_user`) and [`DjangoTables::open`] (any [`UserModel`]) only check,
//! at start, that the tables and columns used exist, naming every one missing, and
//! read the primary key's type. Every query names its columns (SQLite's `auth_user`
//! has `first_name` last). Timestamps are written as Django writes them: on SQLite,
//! naive UTC text `YYYY-MM-DD HH:MM:SS[.ffffff]` (the fraction left out when it is
//! zero); on PostgreSQL, `timestamptz`; on MySQL and MariaDB, `datetime(6)` in UTC.
//!
//! # Custom user models
//!
//! A project whose `AUTH_USER_MODEL` is its own model names it with a [`UserModel`]:
//! its table, its `USERNAME_FIELD` (the login, matched exactly as Django's
//! `get_by_natural_key` does: `=`, case-sensitive on SQLite and PostgreSQL alike, in
//! the column's collation on MySQL),
//! and its active flag's column, or none (an `AbstractBaseUser` without one: every
//! user is active, as `ModelBackend` treats it). The dialect's `connect_model` opens
//! [`DjangoTables`], whose store and directory share the statements built for it.
//!
//! - **Names into SQL.** Table and column names go into the statements' text, so they
//!   are [`Identifier`]s (ASCII letters, digits, `_`; refused otherwise, never
//!   escaped), quoted (double quotes; backquotes on MySQL), and the statements are
//!   built once when the tables are
//!   opened and held in an `Arc` by the store, the directory and their clones
//!   (`statements.rs`: owned strings, where `&'static str` constants were; a
//!   dialect's own spellings stay constants, `Spelling`).
//! - **Keys read from the schema.** The primary key's column and type come from the
//!   catalogue: `integer`/`bigint` (`AutoField`, `BigAutoField`), PostgreSQL's and
//!   MariaDB's `uuid`, or SQLite's and MySQL's `char(32)` (how Django stores a
//!   `UUIDField` there, 32 lowercase hex digits); `authtoken_token.user_id` must have
//!   the same. Core's
//!   [`UserId`](tokenauth_core::UserId) is the key's text: an integer in decimal, a
//!   UUID in Django's usual lowercase `8-4-4-4-12` form on both databases (SQLite's
//!   hex is read into it and written back without dashes). Another spelling of an id
//!   (`010`, an uppercase UUID) names no user.
//! - **New users** get what Django's `create_user` writes, in the columns of
//!   `AbstractUser` the table has (`last_login` NULL, `is_superuser` and `is_staff`
//!   false, empty names and email, `date_joined` now), and a new UUID (v4, as
//!   `uuid.uuid4`) for a UUID key, which has no database default. A table with other
//!   NOT NULL columns without a default refuses new users, naming them
//!   ([`Error::CannotCreate`]): create those through Django.
//! - **Deleting a user** also deletes its rows in Django's link tables of
//!   `PermissionsMixin` (`{table}_groups`, `{table}_user_permissions`) where they
//!   exist; rows of other apps make it fail, as for `auth_user`.
//!
//! # Example
//!
//! ```no_run
//! use tokenauth_django::django_auth;
//! use tokenauth_django::sqlite::{SqliteStore, SqliteUserDirectory, connect};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = connect("sqlite:///srv/app/db.sqlite3").await?;
//! let auth = django_auth(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool));
//! let issued = auth.obtain("alice", "alice-password", Default::default()).await?;
//! assert_eq!(issued.token.expose_secret().len(), 40);
//! # Ok(()) }
//! ```
//!
//! On PostgreSQL the same with [`postgres::PostgresStore`],
//! [`postgres::PostgresUserDirectory`] and [`postgres::connect`]; on MySQL and MariaDB
//! with `mysql::MySqlStore`, `mysql::MySqlUserDirectory` and `mysql::connect`. Every
//! store type is [`DjangoStore`] on its dialect, every directory
//! [`DjangoUserDirectory`].
//!
//! # How the source is laid out
//!
//! Every verb is written once, over a dialect: the token store in `store.rs`
//! ([`DjangoStore`]), the directory in `users.rs` ([`DjangoUserDirectory`]), the schema
//! check in `schema.rs` and the export in `export.rs`. Their SQL is one table in
//! `statements.rs`, built per user model ([`UserModel`], `model.rs`; the key's kind
//! and token ids in `keys.rs`) from text that SQLite and PostgreSQL both read, which a
//! dialect may rewrite (MySQL: `?` parameters, backquotes);
//! `tables.rs` opens it ([`DjangoTables`]); `dialect.rs` is the trait a dialect
//! implements ([`Dialect`]: how it stores a time) and the one place that binds
//! arguments and decodes rows. `sqlite/`, `postgres/` and `mysql/` hold only what
//! their database does its own way (SQLite: `BEGIN IMMEDIATE` and Django's text
//! timestamps; PostgreSQL: row locks and a snapshot for the export; MySQL: `READ
//! COMMITTED` writes with row locks, a duplicate key read as "taken", a deadlock as a
//! conflict; each: its catalogue), their public names, `connect` and `connect_model`.
//! No verb of the store or the directory is its own in any dialect, and none uses
//! `RETURNING`: a write then a read, or a locked read then deletes, in one transaction.
//!
//! django-rest-knox's table is served and read in a module of its own, [`knox`]: its
//! store ([`knox::KnoxStore`], on [`DjangoTables::open_knox`], with [`knox_auth`]:
//! `tokenauth serve --schema django --django-tokens knox`), its export (for
//! `tokenauth import-django --django-tokens knox`) and the export's schema check,
//! which the dialects' `connect_knox` run instead of DRF's.
//!
//! # Adding a dialect
//!
//! A dialect takes, in this crate (MySQL's, `mysql/`, is the latest):
//!
//! 1. **Its feature**, in `Cargo.toml`, and its module in `lib.rs`, with the `cfg`
//!    added beside the others on the shared modules.
//! 2. **One file**, `{dialect}/dialect.rs`: `impl Spelling` (how it begins its
//!    transactions, its catalogue, its row locks, a key read as text, an insert that
//!    finds its row taken, and `spell`, which rewrites each finished statement) and
//!    `impl Dialect` (the `Debug` names, the type of its time columns and their
//!    conversion, how many rows a statement changed, which errors mean "taken" or
//!    "rolled back"), with its `Sealed` impl. Its sqlx types must bind and decode
//!    `i64`, `bool`, text and that time; then every verb runs on it unchanged.
//! 3. **Its public names**, `{dialect}/mod.rs`: the store and directory type aliases,
//!    `connect`, `connect_model`, `connect_knox`.
//! 4. **Its tests**, `tests/{dialect}.rs`: the fixtures' checks and the suites, as
//!    `tests/postgres.rs` and `tests/mysql.rs` run them, on fixtures Django made there.

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod bulk;
// What every dialect shares: the rows' meaning, the statements and their runner, the
// verbs.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod common;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod dialect;
mod error;
mod export;
pub mod hashers;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod keys;
pub mod knox;
mod model;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod rows;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod schema;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod statements;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod store;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod tables;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod users;

// The dialects: what they spell their own way, their names and `connect`.
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use dialect::Dialect;
pub use error::Error;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use export::export;
pub use export::{DjangoToken, DjangoUser};
pub use model::{Identifier, LoginMatch, UserModel};
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use schema::check_schema;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use store::DjangoStore;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use tables::DjangoTables;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use users::DjangoUserDirectory;

use tokenauth_core::store::{TokenStore, UserDirectory};
use tokenauth_core::{ObtainPolicy, OnLimit, TokenAuth, TokenFormat, TokenLimit};

/// A [`TokenAuth`] on Django's tables with DRF's semantics: DRF keys
/// ([`TokenFormat::drf`]), one token per user returned again while valid
/// ([`ObtainPolicy::Reuse`]), at most one live token per user (an administrator's
/// `issue` replaces it), Django's password hashers ([`hashers::django_hasher`]).
/// The lifespan and the rest keep core's defaults (30 days, like the original);
/// change them with `TokenAuth`'s builders.
pub fn django_auth<S: TokenStore, D: UserDirectory>(store: S, users: D) -> TokenAuth<S, D> {
    TokenAuth::new(store, users)
        .with_format(TokenFormat::drf())
        .with_obtain_policy(ObtainPolicy::Reuse)
        .with_token_limit(Some(TokenLimit::new(1, OnLimit::EvictOldest)))
        .with_password_hasher(hashers::django_hasher())
}

/// A [`TokenAuth`] on Django's tables with django-rest-knox's tokens
/// ([`knox::KnoxStore`]): knox's format with the store's prefix
/// ([`TokenFormat::knox`]), a new token per login as knox's `LoginView` makes
/// ([`ObtainPolicy::New`]), Django's password hashers, and `lifespan`, which should be
/// the store's `ttl` (knox's `TOKEN_TTL`). The rest keeps core's defaults (at most 100
/// live tokens per user, the oldest evicted; knox's `TOKEN_LIMIT_PER_USER` is
/// `with_token_limit` with [`OnLimit::Reject`]).
///
/// ```no_run
/// use tokenauth_core::Lifespan;
/// use tokenauth_django::{UserModel, knox_auth};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tables = tokenauth_django::sqlite::connect_knox_model("sqlite:///srv/app/db.sqlite3", &UserModel::default()).await?;
/// let lifespan: Lifespan = "10h".parse()?;
/// let auth = knox_auth(tables.knox_store("", Some(lifespan.as_duration())), tables.users(), lifespan)?;
/// let issued = auth.obtain("alice", "alice-password", Default::default()).await?;
/// assert_eq!(issued.token.expose_secret().len(), 64);
/// # Ok(()) }
/// ```
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub fn knox_auth<DB: Dialect, D: UserDirectory>(
    store: knox::KnoxStore<DB>,
    users: D,
    lifespan: tokenauth_core::Lifespan,
) -> Result<TokenAuth<knox::KnoxStore<DB>, D>, tokenauth_core::InvalidKnoxPrefix>
where
    knox::KnoxStore<DB>: TokenStore,
{
    let format = TokenFormat::knox(store.prefix())?;
    Ok(TokenAuth::new(store, users)
        .with_format(format)
        .with_obtain_policy(ObtainPolicy::New)
        .with_lifespan(lifespan)
        .with_password_hasher(hashers::django_hasher()))
}
