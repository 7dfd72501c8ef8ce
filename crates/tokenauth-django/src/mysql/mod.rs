//! Django's tables in a MySQL or MariaDB database.
//!
//! ```no_run
//! use tokenauth_django::django_auth;
//! use tokenauth_django::mysql::{MySqlStore, MySqlUserDirectory, connect};
//!
//! # async fn run() -> Result<(), tokenauth_django::Error> {
//! let pool = connect("mysql://app@db/app").await?;
//! let auth = django_auth(MySqlStore::new(pool.clone()), MySqlUserDirectory::new(pool));
//! # let _ = auth;
//! # Ok(()) }
//! ```
//!
//! Logins are compared with `=` in the login column's collation, as Django's
//! `get_by_natural_key` compares them there: with MySQL's and MariaDB's default
//! collations (`utf8mb4_general_ci`, `utf8mb4_0900_ai_ci`) that is case-insensitive
//! and, on MariaDB, blind to trailing spaces, at Django and here alike. A column
//! with a binary collation (`utf8mb4_bin`; `utf8mb4_nopad_bin` on MariaDB for
//! trailing spaces too) matches exactly.

mod dialect;

use sqlx::{MySql, MySqlPool};

use crate::{DjangoTables, Error, UserModel};

/// A [`TokenStore`](tokenauth_core::store::TokenStore) on DRF's `authtoken_token` table in
/// Django's MySQL or MariaDB database (`created` `datetime(6)`, UTC). See the
/// [crate docs](crate) for what this table can and cannot hold.
///
/// MySQL has no `RETURNING`. The compare-and-swap runs in one `READ COMMITTED`
/// transaction: it reads the user's row `LOCK IN SHARE MODE` (so its password cannot
/// change until the commit ends) and the token's row `FOR UPDATE`, compares the
/// version derived from the token row and, before inserting a key, the password with
/// the credential version the key was issued under, then deletes by key and inserts.
/// A concurrent commit of the same user waits on the row lock and then finds the row
/// changed, or, when there was no row to lock, waits on the unique `user_id` and finds
/// it taken (the duplicate key is read as "nothing inserted"): a conflict either way,
/// which core answers by reading again. A transaction InnoDB rolls back as a deadlock
/// (error 1213) applied nothing, and is a conflict too.
pub type MySqlStore = crate::DjangoStore<MySql>;

/// A [`UserDirectory`](tokenauth_core::store::UserDirectory) and
/// [`UserAdmin`](tokenauth_core::store::UserAdmin) on Django's `auth_user` table in
/// MySQL or MariaDB; `date_joined` written as `datetime(6)` in UTC. A new user is
/// inserted and read back in one transaction.
pub type MySqlUserDirectory = crate::DjangoUserDirectory<MySql>;

/// Opens a pool on Django's MySQL or MariaDB database at `url`
/// (`mysql://app@db/app`) and checks its schema ([`check_schema`](crate::check_schema)).
///
/// Nothing is created or migrated. The tables are those of the URL's database.
/// sqlx's session settings apply (`utf8mb4`, `time_zone = '+00:00'`); times are read
/// and written as Django's `datetime(6)` holds them, naive UTC, whatever the zone.
pub async fn connect(url: &str) -> Result<MySqlPool, Error> {
    let pool = MySqlPool::connect(url).await?;
    crate::check_schema(&pool).await?;
    Ok(pool)
}

/// Opens a pool on a Django MySQL or MariaDB database as [`connect`] does, but checks
/// for django-rest-knox's tables instead of DRF's
/// ([`check_knox_schema`](crate::knox::check_knox_schema)): for
/// [`knox::export`](crate::knox::export).
pub async fn connect_knox(url: &str) -> Result<MySqlPool, Error> {
    let pool = MySqlPool::connect(url).await?;
    crate::knox::check_knox_schema(&pool).await?;
    Ok(pool)
}

/// Opens the Django database at `url` with the user model `model` and
/// django-rest-knox's `knox_authtoken`
/// ([`DjangoTables::open_knox`](crate::DjangoTables::open_knox): checked, the key's
/// type read), for [`knox_auth`](crate::knox_auth).
pub async fn connect_knox_model(url: &str, model: &UserModel) -> Result<DjangoTables<MySql>, Error> {
    DjangoTables::open_knox(MySqlPool::connect(url).await?, model).await
}

/// Opens Django's MySQL or MariaDB database at `url` as [`connect`] does, and its
/// tables for the user model `model` ([`DjangoTables::open`](crate::DjangoTables::open):
/// checked, the key's type read).
pub async fn connect_model(url: &str, model: &UserModel) -> Result<DjangoTables<MySql>, Error> {
    DjangoTables::open(MySqlPool::connect(url).await?, model).await
}
