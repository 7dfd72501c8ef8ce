//! Revocations are durable: every write that ends tokens commits with
//! `synchronous = FULL`, and logins keep the connection's cheaper `NORMAL`.
//!
//! A power loss cannot be simulated here. What these tests pin is the setting SQLite
//! documents as the guarantee: in WAL mode, a transaction committed under `FULL` has
//! had the log synced to disk before the commit returns. Triggers record the level of
//! the connection each write ran on, as SQLite saw it during the write.

#![cfg(feature = "sqlite")]

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tempfile::TempDir;
use tokenauth_conformance::fast_hasher;
use tokenauth_core::{ObtainPolicy, OnLimit, RevokeReason, TokenAuth, TokenLimit, TokenRequest};
use tokenauth_sqlx::sqlite::{SqlitePool, SqliteStore, SqliteUserDirectory};

/// `PRAGMA synchronous` levels.
const NORMAL: i64 = 1;
const FULL: i64 = 2;

/// A migrated database file whose pool has a single connection at `NORMAL` (so a level
/// left behind by one write would show in the next), with triggers that log the level
/// of every write to the token and user tables into `write_log`.
async fn logged_db() -> (SqlitePool, TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let options =
        SqliteConnectOptions::from_str(&format!("sqlite://{}", dir.path().join("tokenauth.db").display()))
            .unwrap()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    tokenauth_sqlx::sqlite::migrate(&pool).await.unwrap();
    sqlx::query("CREATE TABLE write_log (n INTEGER PRIMARY KEY, what TEXT NOT NULL, level INTEGER NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let level = "(SELECT synchronous FROM pragma_synchronous)";
    for (name, event) in [
        ("token_inserted", "INSERT ON tokenauth_tokens"),
        ("token_deleted", "DELETE ON tokenauth_tokens"),
        (
            "credential_version",
            "UPDATE OF credential_version ON tokenauth_users",
        ),
        (
            "deactivated",
            "UPDATE OF is_active ON tokenauth_users WHEN NOT NEW.is_active",
        ),
        ("user_deleted", "DELETE ON tokenauth_users"),
    ] {
        sqlx::query(&format!(
            "CREATE TRIGGER log_{name} AFTER {event} BEGIN \
             INSERT INTO write_log (what, level) VALUES ('{name}', {level}); END"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    (pool, dir)
}

/// The log so far, oldest first, and emptied.
async fn take_log(pool: &SqlitePool) -> Vec<(String, i64)> {
    let log = sqlx::query_as("SELECT what, level FROM write_log ORDER BY n")
        .fetch_all(pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM write_log").execute(pool).await.unwrap();
    log
}

fn auth(pool: &SqlitePool) -> TokenAuth<SqliteStore, SqliteUserDirectory> {
    TokenAuth::new(
        SqliteStore::new(pool.clone()),
        SqliteUserDirectory::new(pool.clone()),
    )
    .with_password_hasher(fast_hasher())
}

/// Each way of ending tokens, through the service as the server and CLI call it.
#[tokio::test]
async fn every_revocation_commits_with_synchronous_full() {
    let (pool, _dir) = logged_db().await;
    let auth = auth(&pool);
    let alice = auth.upsert_user("alice", "pw", true).await.unwrap().user;
    let login = async || auth.issue(&alice.id, TokenRequest::default()).await.unwrap();

    let a = login().await;
    auth.logout(&a.info).await.unwrap();
    assert_eq!(
        take_log(&pool).await,
        [("token_inserted".into(), NORMAL), ("token_deleted".into(), FULL)],
        "logout"
    );

    let b = login().await;
    assert!(auth.revoke(&b.info.id).await.unwrap());
    login().await;
    auth.revoke_user_tokens(&alice.id, RevokeReason::LogoutAll)
        .await
        .unwrap();
    assert_eq!(
        take_log(&pool).await,
        [
            ("token_inserted".into(), NORMAL),
            ("token_deleted".into(), FULL),
            ("token_inserted".into(), NORMAL),
            ("token_deleted".into(), FULL),
        ],
        "revoke by id, then logout-all: and the level is put back after each"
    );

    login().await;
    auth.change_password("alice", "new pw").await.unwrap();
    login().await;
    auth.revoke_everything(&alice.id).await.unwrap();
    auth.set_active("alice", false).await.unwrap();
    auth.delete_user("alice").await.unwrap();
    let log = take_log(&pool).await;
    let full = |what: &str| (what.to_owned(), FULL);
    assert_eq!(
        log,
        [
            ("token_inserted".into(), NORMAL),
            // A password change: the new credential version, then the stale tokens.
            full("credential_version"),
            full("token_deleted"),
            ("token_inserted".into(), NORMAL),
            // Revoke everything: the same.
            full("credential_version"),
            full("token_deleted"),
            full("deactivated"),
            full("user_deleted"),
        ],
        "password change, revoke everything, deactivation, deletion"
    );
}

/// A login that ends other tokens (one token per user, or eviction at the limit) is a
/// revocation too.
#[tokio::test]
async fn logins_that_evict_or_replace_commit_with_synchronous_full() {
    let (pool, _dir) = logged_db().await;
    let replace = auth(&pool).with_obtain_policy(ObtainPolicy::Replace);
    let alice = replace.upsert_user("alice", "pw", true).await.unwrap().user;
    let obtain = async || {
        replace
            .obtain("alice", "pw", TokenRequest::default())
            .await
            .unwrap()
    };
    obtain().await;
    obtain().await;
    replace.issue(&alice.id, TokenRequest::default()).await.unwrap();
    let evict = auth(&pool).with_token_limit(Some(TokenLimit::new(1, OnLimit::EvictOldest)));
    evict.issue(&alice.id, TokenRequest::default()).await.unwrap();
    assert_eq!(
        take_log(&pool).await,
        [
            ("token_inserted".into(), NORMAL),
            // The second login replaces the first.
            ("token_inserted".into(), FULL),
            ("token_deleted".into(), FULL),
            // A plain issue next to it, then one over the limit of 1: two evicted.
            ("token_inserted".into(), NORMAL),
            ("token_inserted".into(), FULL),
            ("token_deleted".into(), FULL),
            ("token_deleted".into(), FULL),
        ]
    );
}

/// The level is only raised: a pool opened at `FULL` (or `EXTRA`) stays there.
#[tokio::test]
async fn a_stricter_connection_level_is_kept() {
    let (pool, _dir) = logged_db().await;
    sqlx::query("PRAGMA synchronous = EXTRA")
        .execute(&pool)
        .await
        .unwrap();
    let auth = auth(&pool);
    let alice = auth.upsert_user("alice", "pw", true).await.unwrap().user;
    let issued = auth.issue(&alice.id, TokenRequest::default()).await.unwrap();
    auth.logout(&issued.info).await.unwrap();
    assert_eq!(
        take_log(&pool).await,
        [("token_inserted".into(), 3), ("token_deleted".into(), 3)]
    );
}
