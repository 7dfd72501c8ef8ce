//! Django's tables in a PostgreSQL database.
//!
//! ```no_run
//! use tokenauth_django::django_auth;
//! use tokenauth_django::postgres::{PostgresStore, PostgresUserDirectory, connect};
//!
//! # async fn run() -> Result<(), tokenauth_django::Error> {
//! let pool = connect("postgres://app@db/app").await?;
//! let auth = django_auth(PostgresStore::new(pool.clone()), PostgresUserDirectory::new(pool));
//! # let _ = auth;
//! # Ok(()) }
//! ```

mod dialect;

use sqlx::{PgPool, Postgres};

use crate::{DjangoTables, Error, UserModel};

/// A [`TokenStore`](tokenauth_core::store::TokenStore) on DRF's `authtoken_token` table in
/// Django's PostgreSQL database (`created` `timestamptz`). See the [crate docs](crate)
/// for what this table can and cannot hold.
///
/// The compare-and-swap runs in one transaction: it locks the user's `auth_user` row
/// (`FOR SHARE`) and token row (`FOR UPDATE`), compares the version derived from the
/// token row and, before inserting a key, the password with the credential version
/// the key was issued under, then deletes and inserts with
/// `ON CONFLICT ("user_id") DO NOTHING`. A concurrent commit of the same
/// user waits on the row lock and then finds the row changed, or finds the unique
/// `user_id` taken: a conflict either way, which core answers by reading again.
pub type PostgresStore = crate::DjangoStore<Postgres>;

/// A [`UserDirectory`](tokenauth_core::store::UserDirectory) and
/// [`UserAdmin`](tokenauth_core::store::UserAdmin) on Django's `auth_user` table in
/// PostgreSQL; `date_joined` written as `timestamptz`.
pub type PostgresUserDirectory = crate::DjangoUserDirectory<Postgres>;

/// Opens a pool on Django's PostgreSQL database at `url`
/// (`postgres://app@db/app`) and checks its schema ([`check_schema`](crate::check_schema)).
///
/// Nothing is created or migrated. Tables are found through the connection's
/// `search_path`, as Django finds them (add `?options=-csearch_path%3Dschema` to the
/// URL for another schema).
pub async fn connect(url: &str) -> Result<PgPool, Error> {
    let pool = PgPool::connect(url).await?;
    crate::check_schema(&pool).await?;
    Ok(pool)
}

/// Opens a pool on a Django PostgreSQL database as [`connect`] does, but checks for
/// django-rest-knox's tables instead of DRF's
/// ([`check_knox_schema`](crate::knox::check_knox_schema)): for
/// [`knox::export`](crate::knox::export).
pub async fn connect_knox(url: &str) -> Result<PgPool, Error> {
    let pool = PgPool::connect(url).await?;
    crate::knox::check_knox_schema(&pool).await?;
    Ok(pool)
}

/// Opens the Django database at `url` with the user model `model` and
/// django-rest-knox's `knox_authtoken`
/// ([`DjangoTables::open_knox`](crate::DjangoTables::open_knox): checked, the key's
/// type read), for [`knox_auth`](crate::knox_auth).
pub async fn connect_knox_model(url: &str, model: &UserModel) -> Result<DjangoTables<Postgres>, Error> {
    DjangoTables::open_knox(PgPool::connect(url).await?, model).await
}

/// Opens Django's PostgreSQL database at `url` as [`connect`] does, and its tables for
/// the user model `model` ([`DjangoTables::open`](crate::DjangoTables::open): checked,
/// the key's type read).
pub async fn connect_model(url: &str, model: &UserModel) -> Result<DjangoTables<Postgres>, Error> {
    DjangoTables::open(PgPool::connect(url).await?, model).await
}
