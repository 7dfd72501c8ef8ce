//! The database files `connect` creates: readable by their owner only, since they hold
//! password hashes and token digests.

#![cfg(all(feature = "sqlite", unix))]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tokenauth_conformance::fast_hasher;
use tokenauth_core::{TokenAuth, TokenRequest};
use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory, connect};

/// The permission bits of `path`, in octal as `ls` and `chmod` spell them.
fn mode(path: &Path) -> String {
    let metadata = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:o}", metadata.permissions().mode() & 0o777)
}

#[tokio::test]
async fn the_database_and_its_wal_and_shm_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tokenauth.db");
    let pool = connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let auth = TokenAuth::new(
        SqliteStore::new(pool.clone()),
        SqliteUserDirectory::new(pool.clone()),
    )
    .with_password_hasher(fast_hasher());
    auth.upsert_user("alice", "pw", true).await.unwrap();
    auth.obtain("alice", "pw", TokenRequest::default()).await.unwrap();

    // While the pool is open, the write-ahead log and its index exist beside the file.
    for name in ["tokenauth.db", "tokenauth.db-wal", "tokenauth.db-shm"] {
        assert_eq!(mode(&dir.path().join(name)), "600", "{name}");
    }
    pool.close().await;
    assert_eq!(mode(&db), "600");
}

#[tokio::test]
async fn an_existing_database_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
    let pool = connect(&format!("sqlite://{}", db.display())).await.unwrap();
    assert_eq!(mode(&db), "640", "an operator's choice is left alone");
    pool.close().await;
}
