//! The check that a database holds Django's tables with the columns used.

use crate::Error;

/// The tables and columns read or written, by table.
pub(crate) const NEEDED: [(&str, &[&str]); 2] = [
    (
        "auth_user",
        &[
            "id",
            "password",
            "last_login",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
        ],
    ),
    ("authtoken_token", &["key", "created", "user_id"]),
];

/// The first table or column of [`NEEDED`] missing from `present` (table, column).
fn first_missing(present: &[(String, String)]) -> Option<String> {
    for (table, columns) in NEEDED {
        if !present.iter().any(|(t, _)| t == table) {
            return Some(format!("table {table}"));
        }
        for column in columns {
            if !present.iter().any(|(t, c)| t == table && c == column) {
                return Some(format!("column {table}.{column}"));
            }
        }
    }
    None
}

/// Checks that the database behind `pool` has Django's `auth_user` and DRF's
/// `authtoken_token` with every column tokenauth uses; [`Error::Schema`] names the
/// first one missing. It only reads the catalogue: nothing is created or migrated.
pub async fn check_schema<DB: Catalogue>(pool: &sqlx::Pool<DB>) -> Result<(), Error> {
    let present = DB::columns(pool).await?;
    match first_missing(&present) {
        Some(what) => Err(Error::Schema { what }),
        None => Ok(()),
    }
}

/// A database whose catalogue [`check_schema`] can read: SQLite or PostgreSQL.
pub trait Catalogue: sqlx::Database + sealed::Sealed {
    /// The (table, column) pairs of the tables in [`NEEDED`].
    #[doc(hidden)]
    fn columns(
        pool: &sqlx::Pool<Self>,
    ) -> impl std::future::Future<Output = Result<Vec<(String, String)>, Error>> + Send;
}

mod sealed {
    pub trait Sealed {}
    #[cfg(feature = "sqlite")]
    impl Sealed for sqlx::Sqlite {}
    #[cfg(feature = "postgres")]
    impl Sealed for sqlx::Postgres {}
}

#[cfg(feature = "sqlite")]
impl Catalogue for sqlx::Sqlite {
    async fn columns(pool: &sqlx::Pool<Self>) -> Result<Vec<(String, String)>, Error> {
        let mut present = Vec::new();
        for (table, _) in NEEDED {
            let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM pragma_table_info(?)")
                .bind(table)
                .fetch_all(pool)
                .await?;
            present.extend(names.into_iter().map(|(c,)| (table.to_owned(), c)));
        }
        Ok(present)
    }
}

#[cfg(feature = "postgres")]
impl Catalogue for sqlx::Postgres {
    async fn columns(pool: &sqlx::Pool<Self>) -> Result<Vec<(String, String)>, Error> {
        // The tables the connection's search path finds, as unqualified queries do.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT c.relname::text, a.attname::text
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              WHERE c.oid IN (to_regclass('auth_user'), to_regclass('authtoken_token'))
                AND a.attnum > 0 AND NOT a.attisdropped",
        )
        .fetch_all(pool)
        .await?;
        Ok(rows)
    }
}

#[cfg(feature = "sqlite")]
pub(crate) async fn check_sqlite(pool: &sqlx::SqlitePool) -> Result<(), Error> {
    check_schema(pool).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<(String, String)> {
        NEEDED
            .iter()
            .flat_map(|(t, cs)| cs.iter().map(|c| ((*t).to_owned(), (*c).to_owned())))
            .collect()
    }

    #[test]
    fn the_first_missing_table_or_column_is_named() {
        assert_eq!(first_missing(&all()), None);
        let no_tokens: Vec<_> = all()
            .into_iter()
            .filter(|(t, _)| t != "authtoken_token")
            .collect();
        assert_eq!(
            first_missing(&no_tokens).as_deref(),
            Some("table authtoken_token")
        );
        let no_active: Vec<_> = all().into_iter().filter(|(_, c)| c != "is_active").collect();
        assert_eq!(
            first_missing(&no_active).as_deref(),
            Some("column auth_user.is_active")
        );
    }
}
