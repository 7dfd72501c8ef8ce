//! Settings kept in the database: the `tokenauth_settings` key/value table.

use std::collections::BTreeMap;

use super::store::PgStore;
use crate::Error;

impl PgStore {
    /// The settings whose key starts with `prefix` (exactly: case-sensitive, no
    /// wildcards), by key.
    ///
    /// Applications and tools keep small pieces of configuration here; the `tokenauth`
    /// server stores the policy it runs with under `policy.`.
    #[tracing::instrument(skip_all)]
    pub async fn settings(&self, prefix: &str) -> Result<BTreeMap<String, String>, Error> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM tokenauth_settings WHERE starts_with(key, $1)")
                .bind(prefix)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// Replaces every setting whose key starts with `prefix` by `settings` (whose keys
    /// should start with it too), in one transaction: readers see the old set or the
    /// new one, never a mix. An upsert, then a delete of the keys no longer set: two
    /// processes storing at once (two `serve` starting together) wait for each other's
    /// row locks instead of one failing on the other's unique key.
    #[tracing::instrument(skip_all)]
    pub async fn replace_settings(
        &self,
        prefix: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let (keys, values): (Vec<&str>, Vec<&str>) =
            settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).unzip();
        super::retrying(|| async {
            let mut tx = self.pool().begin().await?;
            sqlx::query(
                "INSERT INTO tokenauth_settings (key, value) \
                 SELECT * FROM unnest($1::text[], $2::text[]) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(&keys)
            .bind(&values)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM tokenauth_settings WHERE starts_with(key, $1) AND key <> ALL($2)")
                .bind(prefix)
                .bind(&keys)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}
