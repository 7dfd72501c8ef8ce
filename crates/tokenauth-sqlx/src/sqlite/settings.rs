//! Settings kept in the database: the `tokenauth_settings` key/value table.

use std::collections::BTreeMap;

use super::durable::Durable;
use super::store::SqliteStore;
use crate::Error;

/// The condition "`key` starts with `?1`", exactly (`LIKE` would ignore ASCII case and
/// need escaping).
macro_rules! starts_with {
    () => {
        "substr(key, 1, length(?1)) = ?1"
    };
}

impl SqliteStore {
    /// The settings whose key starts with `prefix`, by key.
    ///
    /// Applications and tools keep small pieces of configuration here; the `tokenauth`
    /// server stores the policy it runs with under `policy.`.
    #[tracing::instrument(skip_all)]
    pub async fn settings(&self, prefix: &str) -> Result<BTreeMap<String, String>, Error> {
        let rows: Vec<(String, String)> = sqlx::query_as(concat!(
            "SELECT key, value FROM tokenauth_settings WHERE ",
            starts_with!()
        ))
        .bind(prefix)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Replaces every setting whose key starts with `prefix` by `settings` (whose keys
    /// should start with it too), in one transaction: readers see the old set or the
    /// new one, never a mix. It commits with `synchronous = FULL` (see
    /// [`connect`](crate::connect)): settings change rarely, and may decide what is
    /// revoked.
    #[tracing::instrument(skip_all)]
    pub async fn replace_settings(
        &self,
        prefix: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let mut conn = Durable::acquire(self.pool()).await?;
        let replaced = replace(&mut conn, prefix, settings).await;
        conn.release().await;
        replaced
    }
}

async fn replace(
    conn: &mut sqlx::SqliteConnection,
    prefix: &str,
    settings: &BTreeMap<String, String>,
) -> Result<(), Error> {
    use sqlx::Connection;

    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query(concat!("DELETE FROM tokenauth_settings WHERE ", starts_with!()))
        .bind(prefix)
        .execute(&mut *tx)
        .await?;
    for (key, value) in settings {
        sqlx::query("INSERT INTO tokenauth_settings (key, value) VALUES (?, ?)")
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
