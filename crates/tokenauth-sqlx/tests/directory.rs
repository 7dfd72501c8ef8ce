//! `SqliteUserDirectory`, `connect` and the SQLite store's handling of bad rows.

#![cfg(feature = "sqlite")]

use tempfile::TempDir;
use time::OffsetDateTime;
use time::macros::datetime;
use tokenauth_core::conformance::record;
use tokenauth_core::{TokenStore, User, UserDirectory, UserId};
use tokenauth_sqlx::{Error, SqlitePool, SqliteStore, SqliteUserDirectory, connect};

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456 UTC);

/// A fresh, migrated database file in a temporary directory (removed when dropped).
async fn fresh_db() -> (SqlitePool, TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pool = connect(&url(&dir)).await.expect("connect");
    (pool, dir)
}

fn url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("tokenauth.db").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_creates_then_updates_in_place() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);

    let (alice, created) = users.upsert_user("alice", "first", true, NOW).await.unwrap();
    assert!(created);
    assert_eq!(
        alice,
        User {
            id: UserId::from(1),
            username: "alice".to_owned(),
            is_active: true,
        }
    );
    assert_eq!(
        users.verify_credentials("alice", "first").await.unwrap(),
        Some(alice.clone())
    );

    let (updated, created) = users.upsert_user("alice", "second", false, NOW).await.unwrap();
    assert!(!created);
    assert_eq!(updated.id, alice.id);
    assert!(!updated.is_active);
    assert_eq!(users.verify_credentials("alice", "first").await.unwrap(), None);
    assert_eq!(
        users.verify_credentials("alice", "second").await.unwrap(),
        Some(updated.clone())
    );
    assert_eq!(users.find_user(&alice.id).await.unwrap(), Some(updated.clone()));
    assert_eq!(users.find_by_username("alice").await.unwrap(), Some(updated));
    assert_eq!(users.list_users().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_records_the_given_creation_time() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool.clone());
    users.upsert_user("alice", "pw", true, NOW).await.unwrap();
    users
        .upsert_user("alice", "pw2", true, NOW + time::Duration::days(1))
        .await
        .unwrap();
    let created: i64 = sqlx::query_scalar("SELECT created FROM tokenauth_users WHERE username = 'alice'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(i128::from(created), NOW.unix_timestamp_nanos() / 1000);
    assert_eq!(created, 1_772_366_400_123_456);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_credentials_refuses_unknown_users_wrong_passwords_and_other_cases() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    users
        .upsert_user("Alice", "correct horse", true, NOW)
        .await
        .unwrap();

    assert_eq!(
        users.verify_credentials("bob", "correct horse").await.unwrap(),
        None
    );
    assert_eq!(
        users.verify_credentials("Alice", "wrong horse").await.unwrap(),
        None
    );
    assert_eq!(
        users.verify_credentials("alice", "correct horse").await.unwrap(),
        None
    );
    assert_eq!(
        users.verify_credentials("ALICE", "correct horse").await.unwrap(),
        None
    );
    assert_eq!(
        users.verify_credentials("Alice ", "correct horse").await.unwrap(),
        None
    );
    assert_eq!(users.find_by_username("alice").await.unwrap(), None);
    assert_eq!(
        users
            .verify_credentials("Alice", "correct horse")
            .await
            .unwrap()
            .map(|u| u.username),
        Some("Alice".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_credentials_returns_inactive_users() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    let (bob, _) = users.upsert_user("bob", "pw", false, NOW).await.unwrap();
    assert!(!bob.is_active);
    assert_eq!(users.verify_credentials("bob", "pw").await.unwrap(), Some(bob));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_user_by_id() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    let (alice, _) = users.upsert_user("alice", "pw", true, NOW).await.unwrap();
    let (bob, _) = users.upsert_user("bob", "pw", true, NOW).await.unwrap();
    assert_eq!(bob.id, UserId::from(2));

    assert_eq!(users.find_user(&UserId::from(1)).await.unwrap(), Some(alice));
    assert_eq!(users.find_user(&UserId::new("2")).await.unwrap(), Some(bob));
    assert_eq!(users.find_user(&UserId::from(3)).await.unwrap(), None);
    for not_an_id in ["alice", "", "1.0", "01", "+1", " 1", "99999999999999999999"] {
        assert_eq!(
            users.find_user(&UserId::new(not_an_id)).await.unwrap(),
            None,
            "{not_an_id:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_users_is_ordered_by_username() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    for name in ["carol", "alice", "Bob", "bob"] {
        users.upsert_user(name, "pw", name != "bob", NOW).await.unwrap();
    }
    let listed = users.list_users().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|u| u.username.as_str()).collect();
    // Binary collation: upper case sorts before lower case.
    assert_eq!(names, ["Bob", "alice", "bob", "carol"]);
    assert_eq!(
        listed[2],
        User {
            id: UserId::from(4),
            username: "bob".to_owned(),
            is_active: false,
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_active_toggles_and_reports_unknown_users() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    let (alice, _) = users.upsert_user("alice", "pw", true, NOW).await.unwrap();

    assert!(!users.set_active("nobody", false).await.unwrap());
    assert!(!users.set_active("Alice", false).await.unwrap());

    assert!(users.set_active("alice", false).await.unwrap());
    let found = users.find_user(&alice.id).await.unwrap().unwrap();
    assert!(!found.is_active);
    assert!(users.set_active("alice", true).await.unwrap());
    assert!(users.find_by_username("alice").await.unwrap().unwrap().is_active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_creates_a_missing_file_and_migrates_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenauth.db");
    assert!(!path.exists());

    let first = connect(&url(&dir)).await.unwrap();
    assert!(path.exists());
    let users = SqliteUserDirectory::new(first.clone());
    let (alice, _) = users.upsert_user("alice", "pw", true, NOW).await.unwrap();
    first.close().await;

    let second = connect(&url(&dir)).await.unwrap();
    tokenauth_sqlx::migrate(&second).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&second)
        .await
        .unwrap();
    assert_eq!(applied, 1);
    let users = SqliteUserDirectory::new(second);
    assert_eq!(users.find_by_username("alice").await.unwrap(), Some(alice));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_use_wal_and_a_busy_timeout() {
    let (pool, _dir) = fresh_db().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(timeout, 5000);
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(foreign_keys, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_succeed() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool.clone());
    let store = SqliteStore::new(pool);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let users = users.clone();
            let store = store.clone();
            tokio::spawn(async move {
                let (user, created) = users
                    .upsert_user(&format!("user{i}"), "pw", true, NOW)
                    .await
                    .expect("upsert");
                assert!(created);
                store.insert(&record(user.id.as_str(), i)).await.expect("insert");
                // The same user again, racing the other tasks' inserts.
                let (again, created) = users
                    .upsert_user(&format!("user{i}"), "pw2", false, NOW)
                    .await
                    .expect("upsert");
                assert!(!created);
                assert_eq!(again.id, user.id);
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let listed = users.list_users().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(
        names,
        [
            "user0", "user1", "user2", "user3", "user4", "user5", "user6", "user7"
        ]
    );
    assert!(listed.iter().all(|u| !u.is_active));
    let mut ids: Vec<UserId> = listed.into_iter().map(|u| u.id).collect();
    ids.sort_by_key(|id| id.as_str().parse::<i64>().unwrap());
    assert_eq!(ids, (1..=8).map(UserId::from).collect::<Vec<_>>());
    assert_eq!(store.list(None).await.unwrap().len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_databases_work_through_one_connection() {
    let pool = connect("sqlite::memory:").await.unwrap();
    let store = SqliteStore::new(pool.clone());
    let users = SqliteUserDirectory::new(pool);
    let (alice, _) = users.upsert_user("alice", "pw", true, NOW).await.unwrap();
    let rec = record(alice.id.as_str(), 0);
    store.insert(&rec).await.unwrap();
    assert_eq!(store.find_by_id(&rec.id).await.unwrap(), Some(rec));
}

/// Writes a valid record, corrupts one column of it with raw SQL, and reads it back: by
/// id if the id is intact, else by digest, and in a list (which must fail the same way).
async fn corrupted(set: &str) -> Error {
    let (pool, _dir) = fresh_db().await;
    let store = SqliteStore::new(pool.clone());
    let rec = record("1", 0);
    store.insert(&rec).await.unwrap();
    sqlx::query(&format!("UPDATE tokenauth_tokens SET {set}"))
        .execute(&pool)
        .await
        .unwrap();
    let listed = store.list(None).await.unwrap_err();
    let found = if set.starts_with("id ") {
        store.find_by_digest(&rec.digest).await
    } else {
        store.find_by_id(&rec.id).await
    };
    let err = found.unwrap_err();
    assert_eq!(err.to_string(), listed.to_string());
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_of_the_wrong_length_is_an_error() {
    let err = corrupted("digest = zeroblob(31)").await;
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: "token digest is not 32 bytes"
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "malformed row in the database: token digest is not 32 bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamp_out_of_range_is_an_error() {
    let err = corrupted("created = 9223372036854775807").await;
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: "token creation time out of range"
            }
        ),
        "{err:?}"
    );
    let err = corrupted("expires = -9223372036854775808").await;
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: "token expiry time out of range"
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_token_id_is_an_error() {
    let err = corrupted("id = 'not-a-token-id'").await;
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: "token id is not a token id"
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_stored_as_text_is_an_error() {
    let err = corrupted("digest = 'abc'").await;
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: "token digest is not 32 bytes"
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_password_hash_is_an_error() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool.clone());
    users.upsert_user("alice", "pw", true, NOW).await.unwrap();
    sqlx::query("UPDATE tokenauth_users SET password_hash = 'plaintext'")
        .execute(&pool)
        .await
        .unwrap();
    let err = users.verify_credentials("alice", "pw").await.unwrap_err();
    assert!(matches!(err, Error::Password(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_shows_no_connection_details() {
    let (pool, dir) = fresh_db().await;
    let store = SqliteStore::new(pool.clone());
    let users = SqliteUserDirectory::new(pool);
    assert_eq!(format!("{store:?}"), "SqliteStore { .. }");
    let debug = format!("{users:?}");
    assert!(
        debug.starts_with("SqliteUserDirectory { hasher: PasswordHasher"),
        "{debug}"
    );
    assert!(!debug.contains(&*dir.path().to_string_lossy()), "{debug}");
}
