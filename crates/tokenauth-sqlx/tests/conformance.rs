//! The `tokenauth-core` store contract, run against `SqliteStore`.
//!
//! Every case gets a fresh database file in its own temporary directory, opened with
//! `connect` (WAL, several connections), so the `concurrent_*` cases really run inserts
//! on concurrent connections, and the per-user limit is checked under real contention
//! for SQLite's write lock.

#![cfg(feature = "sqlite")]

use tempfile::TempDir;
use tokenauth_core::{
    Admission, Inserted, LiveAt, TokenDigest, TokenId, TokenRecord, TokenStore, Usage, UserId,
};
use tokenauth_sqlx::{Error, SqliteStore, connect};

/// A `SqliteStore` that owns the temporary directory of its database, so the directory
/// lives exactly as long as the test's store, and is removed afterwards.
struct TempStore {
    store: SqliteStore,
    _dir: TempDir,
}

async fn fresh_store() -> TempStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("tokens.db").display());
    let pool = connect(&url).await.expect("connect");
    TempStore {
        store: SqliteStore::new(pool),
        _dir: dir,
    }
}

impl TokenStore for TempStore {
    type Error = Error;

    async fn insert(&self, record: &TokenRecord, admission: Admission) -> Result<Inserted, Error> {
        self.store.insert(record, admission).await
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        self.store.find_by_digest(digest).await
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        self.store.find_by_id(id).await
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Error> {
        self.store.list(user).await
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<UserId>, Error> {
        self.store.delete(id).await
    }

    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<TokenId>, Error> {
        self.store.delete_for_user(user, keep).await
    }

    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Error> {
        self.store.record_usage(uses).await
    }

    async fn purge(&self, dead: &LiveAt, limit: usize) -> Result<usize, Error> {
        self.store.purge(dead, limit).await
    }
}

tokenauth_core::token_store_conformance!(fresh_store());
