//! Django's tables in a SQLite database.

mod store;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;

pub use store::SqliteDjangoStore;
pub use users::SqliteDjangoUsers;

use crate::Error;

/// Opens a pool on Django's SQLite database at `url` (`sqlite:///srv/app/db.sqlite3`)
/// and checks its schema ([`check_schema`](crate::check_schema)).
///
/// Nothing is created or migrated: the file must exist, and its journal mode stays
/// whatever Django uses. Foreign keys are enforced, as Django's own connections do,
/// and a connection waits up to five seconds for Django's write lock.
pub async fn connect_sqlite(url: &str) -> Result<SqlitePool, Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    let pool = SqlitePool::connect_with(options).await?;
    crate::schema::check_sqlite(&pool).await?;
    Ok(pool)
}
