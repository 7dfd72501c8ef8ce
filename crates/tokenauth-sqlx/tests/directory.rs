//! What is particular to SQLite: `connect`'s settings, concurrent connections, the
//! handling of bad rows, and the directory and store details the core suites leave to
//! each backend. The contracts themselves run in `tests/conformance.rs`, the
//! migrations in `tests/migrations.rs`.

#![cfg(feature = "sqlite")]

use tempfile::TempDir;
use time::Duration;
use tokenauth_conformance::{fast_hasher, record};
use tokenauth_core::store::{Change, Committed, TokenRecord, TokenStore, UserAdmin, UserDirectory};
use tokenauth_core::{AuthError, ManualClock, TokenAuth, TokenRequest, User, UserId};
use tokenauth_sqlx::Error;
use tokenauth_sqlx::sqlite::{SqlitePool, SqliteStore, SqliteUserDirectory, connect};

/// A fresh, migrated database file in a temporary directory (removed when dropped).
async fn fresh_db() -> (SqlitePool, TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    let pool = connect(&url).await.expect("connect");
    (pool, dir)
}

/// Inserts `rec` through a commit on its user's current version.
async fn add(store: &SqliteStore, rec: &TokenRecord) {
    let expected = store.token_set(&rec.user_id).await.expect("token set").version;
    let change = Change {
        delete: vec![],
        insert: Some(rec.clone()),
    };
    let committed = store
        .commit(&rec.user_id, expected, change)
        .await
        .expect("commit");
    assert_eq!(committed, Committed::Applied { ended: vec![] });
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

/// Writers on several connections (users created and changed, tokens committed)
/// queue up for SQLite's write lock within the busy timeout: none fails.
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
                let user = users
                    .create_user(&format!("user{i}"), "hash", true)
                    .await
                    .expect("create")
                    .expect("created");
                add(&store, &record(user.id.as_str(), i)).await;
                // The same user again, racing the other tasks' commits.
                let changed = users
                    .set_password_hash(&user.id, "hash2")
                    .await
                    .expect("set")
                    .expect("exists");
                assert_eq!(changed.credential_version, 1);
                let inactive = users
                    .set_active(&user.id, false)
                    .await
                    .expect("set")
                    .expect("exists");
                assert_eq!(inactive.id, user.id);
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
    let alice = users.create_user("alice", "hash", true).await.unwrap().unwrap();
    let rec = record(alice.id.as_str(), 0);
    add(&store, &rec).await;
    assert_eq!(store.find_by_id(&rec.id).await.unwrap(), Some(rec));
}

/// The whole chain on SQLite: through `TokenAuth`, the same password again keeps a
/// token, a new one refuses (and deletes) every older token, and so does setting the
/// same password with `change_password`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_invalidates_older_tokens() {
    let (pool, _dir) = fresh_db().await;
    let clock = ManualClock::new(tokenauth_conformance::BASE);
    let auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool))
        .with_password_hasher(fast_hasher())
        .with_clock(clock.clone());
    auth.upsert_user("alice", "first", true).await.unwrap();
    let before = auth
        .obtain("alice", "first", TokenRequest::default())
        .await
        .unwrap();

    clock.advance(Duration::minutes(1));
    let same = auth.upsert_user("alice", "first", true).await.unwrap();
    assert!(!same.password_changed);
    let verified = auth
        .authenticate(before.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(verified.user.username, "alice");

    let changed = auth.upsert_user("alice", "second", true).await.unwrap();
    assert_eq!((changed.password_changed, changed.revoked), (true, 1));
    let err = auth
        .authenticate(before.token.expose_secret(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
    assert_eq!(err.to_string(), "Invalid token");

    let after = auth
        .obtain("alice", "second", TokenRequest::default())
        .await
        .unwrap();
    let verified = auth
        .authenticate(after.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(verified.user.credential_version, changed.user.credential_version);

    let (again, revoked) = auth.change_password("alice", "second").await.unwrap().unwrap();
    assert_eq!(revoked, 1);
    assert_ne!(again.credential_version, changed.user.credential_version);
    let err = auth
        .authenticate(after.token.expose_secret(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
    assert_eq!(auth.store().list(None).await.unwrap(), vec![]);
}

/// Only the canonical decimal spelling of an id names a user: a token stored for
/// "+1" or "01" must not authenticate as user 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_canonical_ids_name_no_user() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    let alice = users.create_user("alice", "hash", true).await.unwrap().unwrap();
    assert_eq!(alice.id, UserId::from(1));
    assert_eq!(users.find_user(&UserId::from(1)).await.unwrap(), Some(alice));
    for not_an_id in [
        "alice",
        "",
        "1.0",
        "01",
        "007",
        "+1",
        " 1",
        "99999999999999999999",
    ] {
        let id = UserId::new(not_an_id);
        assert_eq!(users.find_user(&id).await.unwrap(), None, "{not_an_id:?}");
        assert!(
            !users.rehash_password(&id, "hash", "new").await.unwrap(),
            "{not_an_id:?}"
        );
    }
}

/// Usernames sort bytewise (SQLite's BINARY collation): upper case first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_users_sorts_bytewise() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    for name in ["carol", "alice", "Bob", "bob"] {
        users.create_user(name, "hash", name != "bob").await.unwrap();
    }
    let listed = users.list_users().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["Bob", "alice", "bob", "carol"]);
    assert_eq!(
        listed[2],
        User {
            id: UserId::from(4),
            username: "bob".to_owned(),
            is_active: false,
            credential_version: 0,
        }
    );
}

/// The informational `created` column is filled in by SQLite's clock, in Unix
/// microseconds like every other time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_users_get_a_creation_time() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool.clone());
    users.create_user("alice", "hash", true).await.unwrap();
    let created: i64 = sqlx::query_scalar("SELECT created FROM tokenauth_users")
        .fetch_one(&pool)
        .await
        .unwrap();
    // After 2026-01-01, and not in seconds or milliseconds.
    assert!(created > 1_767_225_600_000_000, "{created}");
    assert!(created < 10_000_000_000_000_000, "{created}");
}

/// A commit whose insert is refused as a duplicate writes nothing: its deletes and the
/// new version are rolled back with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_commit_deletes_nothing() {
    let (pool, _dir) = fresh_db().await;
    let store = SqliteStore::new(pool);
    let (a0, a1) = (record("a", 0), record("a", 1));
    for rec in [&a0, &a1] {
        add(&store, rec).await;
    }
    let user = UserId::new("a");
    let version = store.token_set(&user).await.unwrap().version;
    let mut same_digest = record("a", 2);
    same_digest.digest = a1.digest;
    let mut same_id = record("a", 2);
    same_id.id = a0.id.clone();
    for duplicate in [same_digest, same_id] {
        let change = Change {
            delete: vec![a0.id.clone(), a1.id.clone()],
            insert: Some(duplicate),
        };
        let err = store.commit(&user, version, change).await.unwrap_err();
        assert!(matches!(err, Error::Sqlx(_)), "{err:?}");
    }
    let set = store.token_set(&user).await.unwrap();
    assert_eq!((set.version, set.records), (version, vec![a0, a1]));
}

/// Writes a valid record, corrupts one column of it with raw SQL, and reads it back: by
/// id if the id is intact, else by digest, and in a list (which must fail the same way).
async fn corrupted(set: &str) -> Error {
    let (pool, _dir) = fresh_db().await;
    let store = SqliteStore::new(pool.clone());
    let mut rec = record("1", 0);
    rec.last_used = Some(rec.created);
    rec.last_ip = Some("192.0.2.1".parse().unwrap());
    add(&store, &rec).await;
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
    assert_eq!(
        store.token_set(&rec.user_id).await.unwrap_err().to_string(),
        err.to_string()
    );
    err
}

fn assert_corrupt(err: &Error, what: &str, case: &str) {
    assert!(
        matches!(err, Error::Corrupt { what: found } if *found == what),
        "{case}: {err:?}"
    );
    assert_eq!(err.to_string(), format!("malformed row in the database: {what}"));
}

/// Every malformed column a token row can have is a typed error naming it, never a
/// panic. (Any INTEGER is a valid credential version: a `u64` stored bit for bit.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_token_rows_are_typed_errors() {
    for (corruption, what) in [
        ("digest = zeroblob(31)", "token digest is not 32 bytes"),
        ("digest = 'abc'", "token digest is not 32 bytes"),
        (
            "created = 9223372036854775807",
            "token creation time out of range",
        ),
        ("expires = -9223372036854775808", "token expiry time out of range"),
        ("id = 'not-a-token-id'", "token id is not a token id"),
        ("scopes = 'read \"write\"'", "token scopes are not scope names"),
        (
            "last_ip = 'not-an-address'",
            "token last-used address is not an IP address",
        ),
        (
            "last_used = 9223372036854775807",
            "token last-used time out of range",
        ),
    ] {
        assert_corrupt(&corrupted(corruption).await, what, corruption);
    }
}

/// A credential version or token set version that is not a count (negative) is a typed
/// error from every read of the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_versions_are_typed_errors() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool.clone());
    let alice = users.create_user("alice", "hash", true).await.unwrap().unwrap();
    sqlx::query("UPDATE tokenauth_users SET credential_version = -1")
        .execute(&pool)
        .await
        .unwrap();
    let what = "user credential version is negative";
    assert_corrupt(&users.find_user(&alice.id).await.unwrap_err(), what, "find_user");
    assert_corrupt(&users.find_login("alice").await.unwrap_err(), what, "find_login");
    assert_corrupt(
        &users.find_by_username("alice").await.unwrap_err(),
        what,
        "find_by_username",
    );
    assert_corrupt(&users.list_users().await.unwrap_err(), what, "list_users");

    let store = SqliteStore::new(pool.clone());
    let rec = record("1", 0);
    add(&store, &rec).await;
    sqlx::query("UPDATE tokenauth_token_sets SET version = -1")
        .execute(&pool)
        .await
        .unwrap();
    let what = "token set version is negative";
    assert_corrupt(
        &store.token_set(&rec.user_id).await.unwrap_err(),
        what,
        "token_set",
    );
    let change = Change {
        delete: vec![rec.id.clone()],
        insert: None,
    };
    let err = store.commit(&rec.user_id, 1, change).await.unwrap_err();
    assert_corrupt(&err, what, "commit");
    assert_eq!(store.list(None).await.unwrap(), vec![rec]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_shows_no_connection_details() {
    let (pool, _dir) = fresh_db().await;
    let store = SqliteStore::new(pool.clone());
    let users = SqliteUserDirectory::new(pool);
    assert_eq!(format!("{store:?}"), "SqliteStore { .. }");
    assert_eq!(format!("{users:?}"), "SqliteUserDirectory { .. }");
}
