//! The `tokenauth_settings` key/value table, through the settings suite.

#![cfg(feature = "sqlite")]

mod common;

use common::Temp;
use tempfile::TempDir;
use tokenauth_sqlx::sqlite::{SqliteStore, connect};

/// A store on a fresh, migrated database file in a new temporary directory.
async fn fresh() -> Temp<SqliteStore, TempDir> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    let pool = connect(&url).await.expect("connect");
    Temp {
        inner: SqliteStore::new(pool),
        guard: dir,
    }
}

tokenauth_conformance::settings_conformance!(fresh());
