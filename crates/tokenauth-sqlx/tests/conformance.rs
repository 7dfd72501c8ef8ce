//! The `tokenauth-core` contracts, run against `SqliteStore` and `SqliteUserDirectory`.
//!
//! Every case gets a fresh database file in its own temporary directory, opened with
//! `connect` (WAL, several connections), so the `concurrent_*` cases really commit on
//! concurrent connections, and the compare-and-swap is checked under real contention
//! for SQLite's write lock.

#![cfg(feature = "sqlite")]

use tempfile::TempDir;
use tokenauth_conformance::Guarded;
use tokenauth_sqlx::sqlite::{SqlitePool, connect};

/// `make` on a fresh, migrated database file in a new temporary directory, which is
/// removed when the value is dropped.
async fn fresh<T>(make: fn(SqlitePool) -> T) -> Guarded<T, TempDir> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    let pool = connect(&url).await.expect("connect");
    Guarded {
        inner: make(pool),
        guard: dir,
    }
}

mod tokens {
    tokenauth_conformance::token_store_conformance!(super::fresh(tokenauth_sqlx::sqlite::SqliteStore::new));
}

mod users {
    tokenauth_conformance::user_directory_conformance!(super::fresh(
        tokenauth_sqlx::sqlite::SqliteUserDirectory::new
    ));
}

mod settings {
    tokenauth_conformance::settings_conformance!(super::fresh(tokenauth_sqlx::sqlite::SqliteStore::new));
}

mod token_import {
    tokenauth_conformance::bulk_import_conformance!(tokens: super::fresh(tokenauth_sqlx::sqlite::SqliteStore::new));
}

mod user_import {
    tokenauth_conformance::bulk_import_conformance!(users: super::fresh(tokenauth_sqlx::sqlite::SqliteUserDirectory::new));
}
