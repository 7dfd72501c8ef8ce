//! Django's tables in a SQLite database.
//!
//! ```no_run
//! use tokenauth_django::django_auth;
//! use tokenauth_django::sqlite::{SqliteStore, SqliteUserDirectory, connect};
//!
//! # async fn run() -> Result<(), tokenauth_django::Error> {
//! let pool = connect("sqlite:///srv/app/db.sqlite3").await?;
//! let auth = django_auth(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool));
//! # let _ = auth;
//! # Ok(()) }
//! ```

mod dialect;
mod timestamp;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Sqlite, SqlitePool};

use crate::{DjangoTables, Error, UserModel};

/// A [`TokenStore`](tokenauth_core::store::TokenStore) on DRF's `authtoken_token` table in
/// Django's SQLite database (`created` as Django's text). See the [crate docs](crate)
/// for what this table can and cannot hold.
///
/// The compare-and-swap runs in one `BEGIN IMMEDIATE` transaction: it reads the
/// user's password and row, compares the version derived from the row and, before
/// inserting a key, the password with the credential version the key was issued
/// under, then deletes and inserts. Django's own writes queue on the same SQLite lock.
pub type SqliteStore = crate::DjangoStore<Sqlite>;

/// A [`UserDirectory`](tokenauth_core::store::UserDirectory) and
/// [`UserAdmin`](tokenauth_core::store::UserAdmin) on Django's `auth_user` table in SQLite;
/// `date_joined` written as Django's text.
pub type SqliteUserDirectory = crate::DjangoUserDirectory<Sqlite>;

/// Opens a pool on Django's SQLite database at `url` (`sqlite:///srv/app/db.sqlite3`)
/// and checks its schema ([`check_schema`](crate::check_schema)).
///
/// Nothing is created or migrated: the file must exist, and its journal mode stays
/// whatever Django uses. Foreign keys are enforced, as Django's own connections do,
/// and a connection waits up to five seconds for Django's write lock.
pub async fn connect(url: &str) -> Result<SqlitePool, Error> {
    let pool = open(url).await?;
    crate::check_schema(&pool).await?;
    Ok(pool)
}

/// Opens a pool on a Django SQLite database as [`connect`] does, but checks for
/// django-rest-knox's tables instead of DRF's
/// ([`check_knox_schema`](crate::knox::check_knox_schema)): for
/// [`knox::export`](crate::knox::export).
pub async fn connect_knox(url: &str) -> Result<SqlitePool, Error> {
    let pool = open(url).await?;
    crate::knox::check_knox_schema(&pool).await?;
    Ok(pool)
}

/// Opens the Django database at `url` with the user model `model` and
/// django-rest-knox's `knox_authtoken`
/// ([`DjangoTables::open_knox`](crate::DjangoTables::open_knox): checked, the key's
/// type read), for [`knox_auth`](crate::knox_auth).
pub async fn connect_knox_model(url: &str, model: &UserModel) -> Result<DjangoTables<Sqlite>, Error> {
    DjangoTables::open_knox(open(url).await?, model).await
}

/// Opens Django's SQLite database at `url` as [`connect`] does, and its tables for the
/// user model `model` ([`DjangoTables::open`](crate::DjangoTables::open): checked, the
/// key's type read).
pub async fn connect_model(url: &str, model: &UserModel) -> Result<DjangoTables<Sqlite>, Error> {
    DjangoTables::open(open(url).await?, model).await
}

async fn open(url: &str) -> Result<SqlitePool, Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    Ok(SqlitePool::connect_with(options).await?)
}
