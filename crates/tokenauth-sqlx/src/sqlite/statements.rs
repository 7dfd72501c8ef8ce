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

/// A token and its user, by the token's digest (`$1`): the token's columns as
/// `Statements::FIND_BY_DIGEST` reads them, then the user's as `FIND_USER` does, NULL
/// when the token's user is not in `tokenauth_users`. The join compares an INTEGER key
/// with TEXT, which SQLite converts (`'042'` would find user 42): the directory uses
/// the row only when the token's user id is the key's own spelling (`JoinedUser::key`).
pub(super) const FIND_BY_DIGEST_WITH_USER: &str = "SELECT t.id, t.digest, t.user_id, t.credential_version, t.name, \
     t.scopes, t.created, t.expires, t.last_used, t.last_ip, \
     u.id, u.username, u.is_active, u.credential_version \
     FROM tokenauth_tokens AS t LEFT JOIN tokenauth_users AS u ON u.id = t.user_id \
     WHERE t.digest = $1";

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

        // The token by its digest's index, its user by primary key.
        let joined = plan(&pool, FIND_BY_DIGEST_WITH_USER, 1).await;
        assert_eq!(
            joined,
            [
                "SEARCH t USING INDEX sqlite_autoindex_tokenauth_tokens_2 (digest=?)",
                "SEARCH u USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN"
            ],
            "{joined:#?}"
        );
    }
}
