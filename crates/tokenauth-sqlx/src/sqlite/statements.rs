//! SQLite's statements: the shared ones ([`Statements`]' and [`Returning`]'s
//! defaults), but for a new user's `created`, which SQLite's table has no default for.

use sqlx::Sqlite;

use crate::rows::user_columns;
use crate::statements::{Returning, Statements};

impl Statements for Sqlite {}

impl Returning for Sqlite {
    /// The informational `created` column is filled in by SQLite's own clock;
    /// tokenauth never reads it.
    const CREATE_USER: &'static str = concat!(
        "INSERT INTO tokenauth_users (username, password_hash, is_active, created) \
         VALUES ($1, $2, $3, CAST(unixepoch('subsec') * 1000000 AS INTEGER)) \
         ON CONFLICT (username) DO NOTHING RETURNING ",
        user_columns!()
    );
}

#[cfg(test)]
mod tests {
    use sqlx::SqlitePool;

    use super::*;

    /// The `detail` column of `EXPLAIN QUERY PLAN` for `query`, with every parameter
    /// bound to an integer.
    async fn plan(pool: &SqlitePool, query: &str, parameters: usize) -> Vec<String> {
        let explain = format!("EXPLAIN QUERY PLAN {query}");
        let mut plan = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
        for i in 0..parameters {
            plan = plan.bind(i64::try_from(i).expect("few parameters"));
        }
        let rows = plan.fetch_all(pool).await.expect("explain");
        rows.into_iter().map(|(.., detail)| detail).collect()
    }

    /// The purge and a user's token set stay cheap on a large table: they search
    /// indexes and never scan `tokenauth_tokens`.
    #[tokio::test]
    async fn purge_and_token_set_queries_use_indexes() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let pool = super::super::connect(&url).await.expect("connect");

        let purge = plan(&pool, Sqlite::PURGE, 4).await;
        assert!(purge.iter().all(|step| !step.starts_with("SCAN")), "{purge:#?}");
        for index in [
            "tokenauth_tokens_created",
            "tokenauth_tokens_expires",
            "tokenauth_tokens_last_active",
        ] {
            assert!(
                purge.iter().any(|step| step.contains(index)),
                "{index}: {purge:#?}"
            );
        }

        let set = plan(&pool, Sqlite::USER_RECORDS, 1).await;
        assert!(
            set.iter()
                .any(|step| step
                    .starts_with("SEARCH tokenauth_tokens USING INDEX tokenauth_tokens_user_created")),
            "{set:#?}"
        );
        assert!(set.iter().all(|step| !step.starts_with("SCAN")), "{set:#?}");
    }
}
