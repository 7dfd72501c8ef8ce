//! Django's tables in a PostgreSQL database.

mod store;
mod users;

use sqlx::PgPool;

pub use store::PgDjangoStore;
pub use users::PgDjangoUsers;

use crate::Error;

/// Opens a pool on Django's PostgreSQL database at `url`
/// (`postgres://app@db/app`) and checks its schema ([`check_schema`](crate::check_schema)).
///
/// Nothing is created or migrated. Tables are found through the connection's
/// `search_path`, as Django finds them (add `?options=-csearch_path%3Dschema` to the
/// URL for another schema).
pub async fn connect_postgres(url: &str) -> Result<PgPool, Error> {
    let pool = PgPool::connect(url).await?;
    crate::check_schema(&pool).await?;
    Ok(pool)
}
