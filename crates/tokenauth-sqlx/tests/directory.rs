//! `SqliteUserDirectory`, `connect`, the migrations, and the SQLite store's handling of
//! bad rows.

#![cfg(feature = "sqlite")]

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use tempfile::TempDir;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokenauth_core::conformance::record;
use tokenauth_core::{
    Admission, AuthError, Inserted, ManualClock, PasswordHasher, Scopes, TokenAuth, TokenRecord,
    TokenRequest, TokenStore, Usage, User, UserDirectory, UserId,
};
use tokenauth_sqlx::{Error, MIGRATOR, SqlitePool, SqliteStore, SqliteUserDirectory, Upserted, connect};

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456 UTC);
/// `NOW` as stored: Unix microseconds.
const NOW_MICROS: i64 = 1_772_366_400_123_456;

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

    let alice = User {
        id: UserId::from(1),
        username: "alice".to_owned(),
        is_active: true,
        password_changed: None,
    };
    assert_eq!(
        users.upsert_user("alice", "first", true, &NOW).await.unwrap(),
        Upserted {
            user: alice.clone(),
            created: true,
            password_changed: false,
        }
    );
    assert_eq!(
        users.verify_credentials("alice", "first").await.unwrap(),
        Some(alice.clone())
    );

    let later = NOW + Duration::hours(1);
    let updated = User {
        is_active: false,
        password_changed: Some(later),
        ..alice.clone()
    };
    assert_eq!(
        users.upsert_user("alice", "second", false, &later).await.unwrap(),
        Upserted {
            user: updated.clone(),
            created: false,
            password_changed: true,
        }
    );
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
    users.upsert_user("alice", "pw", true, &NOW).await.unwrap();
    users
        .upsert_user("alice", "pw2", true, &(NOW + time::Duration::days(1)))
        .await
        .unwrap();
    let (created, changed): (i64, Option<i64>) =
        sqlx::query_as("SELECT created, password_changed FROM tokenauth_users WHERE username = 'alice'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(i128::from(created), NOW.unix_timestamp_nanos() / 1000);
    assert_eq!(created, NOW_MICROS);
    assert_eq!(changed, Some(NOW_MICROS + 86_400_000_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_with_the_same_password_changes_only_the_active_flag() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool.clone());
    users.upsert_user("alice", "pw", true, &NOW).await.unwrap();
    let hash_before: String = sqlx::query_scalar("SELECT password_hash FROM tokenauth_users")
        .fetch_one(&pool)
        .await
        .unwrap();

    let upserted = users
        .upsert_user("alice", "pw", false, &(NOW + Duration::days(1)))
        .await
        .unwrap();
    let alice = User {
        id: UserId::from(1),
        username: "alice".to_owned(),
        is_active: false,
        password_changed: None,
    };
    assert_eq!(
        upserted,
        Upserted {
            user: alice.clone(),
            created: false,
            password_changed: false,
        }
    );
    let (hash_after, changed): (String, Option<i64>) =
        sqlx::query_as("SELECT password_hash, password_changed FROM tokenauth_users")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(hash_after, hash_before, "the hash was rewritten");
    assert_eq!(changed, None);
    assert_eq!(
        users.verify_credentials("alice", "pw").await.unwrap(),
        Some(alice)
    );

    // After a real change, the same password again keeps the time of that change.
    let changed_at = NOW + Duration::days(2);
    let upserted = users
        .upsert_user("alice", "new", true, &changed_at)
        .await
        .unwrap();
    assert!(upserted.password_changed);
    assert_eq!(upserted.user.password_changed, Some(changed_at));
    let upserted = users
        .upsert_user("alice", "new", true, &(NOW + Duration::days(3)))
        .await
        .unwrap();
    assert!(!upserted.created);
    assert!(!upserted.password_changed);
    assert_eq!(upserted.user.password_changed, Some(changed_at));
    assert_eq!(
        users.find_by_username("alice").await.unwrap(),
        Some(upserted.user)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_with_a_new_password_records_the_change() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    users.upsert_user("alice", "old", true, &NOW).await.unwrap();

    let changed_at = NOW + Duration::minutes(5) + Duration::microseconds(1);
    let upserted = users
        .upsert_user("alice", "new", true, &changed_at)
        .await
        .unwrap();
    let alice = User {
        id: UserId::from(1),
        username: "alice".to_owned(),
        is_active: true,
        password_changed: Some(changed_at),
    };
    assert_eq!(
        upserted,
        Upserted {
            user: alice.clone(),
            created: false,
            password_changed: true,
        }
    );
    assert_eq!(users.verify_credentials("alice", "old").await.unwrap(), None);
    assert_eq!(
        users.verify_credentials("alice", "new").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(users.find_user(&alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(users.list_users().await.unwrap(), vec![alice]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_replaces_an_unreadable_hash() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool.clone());
    users.upsert_user("alice", "pw", true, &NOW).await.unwrap();
    sqlx::query("UPDATE tokenauth_users SET password_hash = 'plaintext'")
        .execute(&pool)
        .await
        .unwrap();

    let upserted = users
        .upsert_user("alice", "pw", true, &(NOW + Duration::hours(1)))
        .await
        .unwrap();
    assert!(upserted.password_changed);
    assert_eq!(upserted.user.password_changed, Some(NOW + Duration::hours(1)));
    assert_eq!(
        users.verify_credentials("alice", "pw").await.unwrap(),
        Some(upserted.user)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_password_always_records_the_change() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    let alice = users.upsert_user("alice", "old", false, &NOW).await.unwrap().user;

    assert_eq!(users.set_password("nobody", "pw", &NOW).await.unwrap(), None);
    assert_eq!(users.set_password("Alice", "pw", &NOW).await.unwrap(), None);
    assert_eq!(users.list_users().await.unwrap(), vec![alice.clone()]);

    let first = NOW + Duration::hours(1);
    let changed = User {
        password_changed: Some(first),
        ..alice.clone()
    };
    assert_eq!(
        users.set_password("alice", "new", &first).await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(users.verify_credentials("alice", "old").await.unwrap(), None);
    assert_eq!(
        users.verify_credentials("alice", "new").await.unwrap(),
        Some(changed)
    );

    // The same password again still counts as a change: older tokens stop working.
    let second = NOW + Duration::hours(2);
    let again = users
        .set_password("alice", "new", &second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.password_changed, Some(second));
    assert!(!again.is_active, "set_password changed the active flag");
    assert_eq!(users.find_user(&alice.id).await.unwrap(), Some(again));
}

/// The whole point of `password_changed`: through `TokenAuth`, a new password refuses
/// every token issued before it, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_invalidates_older_tokens() {
    let (pool, _dir) = fresh_db().await;
    let clock = ManualClock::new(NOW);
    let auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool))
        .with_clock(clock.clone());
    auth.users()
        .upsert_user("alice", "first", true, &auth.now())
        .await
        .unwrap();
    let before = auth
        .obtain("alice", "first", TokenRequest::default())
        .await
        .unwrap();

    // The same password again: the token keeps working.
    clock.advance(Duration::minutes(1));
    auth.users()
        .upsert_user("alice", "first", true, &auth.now())
        .await
        .unwrap();
    let verified = auth
        .authenticate(before.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(verified.user.username, "alice");

    clock.advance(Duration::minutes(1));
    auth.users()
        .upsert_user("alice", "second", true, &auth.now())
        .await
        .unwrap();
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
    assert_eq!(verified.user.password_changed, Some(NOW + Duration::minutes(2)));

    clock.advance(Duration::minutes(1));
    auth.users()
        .set_password("alice", "second", &auth.now())
        .await
        .unwrap();
    let err = auth
        .authenticate(after.token.expose_secret(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_credentials_refuses_unknown_users_wrong_passwords_and_other_cases() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    users
        .upsert_user("Alice", "correct horse", true, &NOW)
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
    let bob = users.upsert_user("bob", "pw", false, &NOW).await.unwrap().user;
    assert!(!bob.is_active);
    assert_eq!(users.verify_credentials("bob", "pw").await.unwrap(), Some(bob));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_user_by_id() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    let alice = users.upsert_user("alice", "pw", true, &NOW).await.unwrap().user;
    let bob = users.upsert_user("bob", "pw", true, &NOW).await.unwrap().user;
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
        users.upsert_user(name, "pw", name != "bob", &NOW).await.unwrap();
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
            password_changed: None,
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_active_toggles_and_reports_unknown_users() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool);
    let alice = users.upsert_user("alice", "pw", true, &NOW).await.unwrap().user;

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
    let alice = users.upsert_user("alice", "pw", true, &NOW).await.unwrap().user;
    first.close().await;

    let second = connect(&url(&dir)).await.unwrap();
    tokenauth_sqlx::migrate(&second).await.unwrap();
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&second)
        .await
        .unwrap();
    assert_eq!(applied, [20260301000000, 20260302000000]);
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
                let first = users
                    .upsert_user(&format!("user{i}"), "pw", true, &NOW)
                    .await
                    .expect("upsert");
                assert!(first.created);
                let inserted = store
                    .insert(&record(first.user.id.as_str(), i), Admission::Add)
                    .await
                    .expect("insert");
                assert_eq!(inserted, Inserted::Stored { removed: vec![] });
                // The same user again, racing the other tasks' inserts.
                let again = users
                    .upsert_user(&format!("user{i}"), "pw2", false, &NOW)
                    .await
                    .expect("upsert");
                assert!(!again.created);
                assert!(again.password_changed);
                assert_eq!(again.user.id, first.user.id);
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
    let alice = users.upsert_user("alice", "pw", true, &NOW).await.unwrap().user;
    let rec = record(alice.id.as_str(), 0);
    store.insert(&rec, Admission::Add).await.unwrap();
    assert_eq!(store.find_by_id(&rec.id).await.unwrap(), Some(rec));
}

/// Writes a valid record, corrupts one column of it with raw SQL, and reads it back: by
/// id if the id is intact, else by digest, and in a list (which must fail the same way).
async fn corrupted(set: &str) -> Error {
    let (pool, _dir) = fresh_db().await;
    let store = SqliteStore::new(pool.clone());
    let mut rec = record("1", 0);
    rec.last_used = Some(rec.created);
    rec.last_ip = Some("192.0.2.1".parse().unwrap());
    store.insert(&rec, Admission::Add).await.unwrap();
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

/// Every malformed column a row can have is a typed error naming it, never a panic.
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
        let err = corrupted(corruption).await;
        assert!(
            matches!(err, Error::Corrupt { what: found } if found == what),
            "{corruption}: {err:?}"
        );
        assert_eq!(err.to_string(), format!("malformed row in the database: {what}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_password_hash_is_an_error() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool.clone());
    users.upsert_user("alice", "pw", true, &NOW).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_time_out_of_range_is_an_error() {
    let (pool, _dir) = fresh_db().await;
    let users = SqliteUserDirectory::new(pool.clone());
    let alice = users.upsert_user("alice", "pw", true, &NOW).await.unwrap().user;
    sqlx::query("UPDATE tokenauth_users SET password_changed = 9223372036854775807")
        .execute(&pool)
        .await
        .unwrap();
    let err = users.find_user(&alice.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                what: "password change time out of range"
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        users.verify_credentials("alice", "pw").await,
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(users.list_users().await, Err(Error::Corrupt { .. })));
}

/// A duplicate refused by an insert that would also replace the user's other tokens
/// leaves them all in place: the insert and the deletion are one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_replace_deletes_nothing() {
    let (pool, _dir) = fresh_db().await;
    let store = SqliteStore::new(pool);
    let (a0, a1) = (record("a", 0), record("a", 1));
    for rec in [&a0, &a1] {
        store.insert(rec, Admission::Add).await.unwrap();
    }
    let mut same_digest = record("a", 2);
    same_digest.digest = a1.digest;
    let err = store.insert(&same_digest, Admission::Replace).await.unwrap_err();
    assert!(matches!(err, Error::Sqlx(_)), "{err:?}");
    let mut same_id = record("a", 2);
    same_id.id = a0.id.clone();
    let err = store.insert(&same_id, Admission::Replace).await.unwrap_err();
    assert!(matches!(err, Error::Sqlx(_)), "{err:?}");
    assert_eq!(store.list(None).await.unwrap(), vec![a0, a1]);
}

/// The first migration as released: editing it would break every database it was
/// applied to (sqlx refuses a changed checksum). Schema changes go in new migrations.
#[test]
fn the_first_migration_is_unchanged() {
    let first = MIGRATOR
        .iter()
        .find(|m| m.version == 20260301000000)
        .expect("first migration");
    let checksum: String = first.checksum.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        checksum,
        "d569320d01771c24b0efc671da5ceb8337ce3146ad367b36d005149c094522853b27344a98ed1f4dca5c82a42e4f3a8e"
    );
}

/// A database created by the first release, with rows written the way that release
/// wrote them, is brought up to date by `connect`: every row survives, and reads back
/// with no scopes, no last use and no password change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_upgrade_a_database_of_the_first_schema() {
    let dir = tempfile::tempdir().unwrap();
    let first_only = dir.path().join("first-migration");
    std::fs::create_dir(&first_only).unwrap();
    let name = "20260301000000_create_tokenauth_tables.sql";
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations/sqlite")
            .join(name),
        first_only.join(name),
    )
    .unwrap();
    let options = SqliteConnectOptions::from_str(&url(&dir))
        .unwrap()
        .create_if_missing(true);
    let old = SqlitePool::connect_with(options).await.unwrap();
    Migrator::new(first_only.as_path())
        .await
        .unwrap()
        .run(&old)
        .await
        .unwrap();

    let hash = PasswordHasher::default().hash("pw").await.unwrap();
    sqlx::query(
        "INSERT INTO tokenauth_users (username, password_hash, is_active, created) VALUES ('alice', ?, 1, ?)",
    )
    .bind(&hash)
    .bind(NOW_MICROS)
    .execute(&old)
    .await
    .unwrap();
    let mut rec = record("1", 0);
    rec.expires = Some(rec.created + Duration::days(7));
    rec.scopes = Scopes::none();
    sqlx::query("INSERT INTO tokenauth_tokens (id, digest, user_id, name, created, expires) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(rec.id.as_str())
        .bind(rec.digest.as_bytes().as_slice())
        .bind(rec.user_id.as_str())
        .bind(rec.name.as_deref())
        .bind(NOW_MICROS)
        .bind(NOW_MICROS + 7 * 86_400_000_000)
        .execute(&old)
        .await
        .unwrap();
    old.close().await;

    let pool = connect(&url(&dir)).await.unwrap();
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(applied, [20260301000000, 20260302000000]);
    let raw: (String, Option<i64>, Option<String>) =
        sqlx::query_as("SELECT scopes, last_used, last_ip FROM tokenauth_tokens")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(raw, (String::new(), None, None));

    let store = SqliteStore::new(pool.clone());
    assert_eq!(
        store.find_by_digest(&rec.digest).await.unwrap(),
        Some(rec.clone())
    );
    let users = SqliteUserDirectory::new(pool);
    let alice = User {
        id: UserId::from(1),
        username: "alice".to_owned(),
        is_active: true,
        password_changed: None,
    };
    assert_eq!(
        users.verify_credentials("alice", "pw").await.unwrap(),
        Some(alice)
    );

    // The new columns work on the old rows.
    let used = NOW + Duration::hours(1);
    let ip = "192.0.2.7".parse().unwrap();
    store
        .record_usage(&[Usage {
            id: rec.id.clone(),
            at: used,
            ip: Some(ip),
        }])
        .await
        .unwrap();
    let expected = TokenRecord {
        last_used: Some(used),
        last_ip: Some(ip),
        ..rec.clone()
    };
    assert_eq!(store.find_by_id(&rec.id).await.unwrap(), Some(expected));
    let changed = users.set_password("alice", "new", &used).await.unwrap().unwrap();
    assert_eq!(changed.password_changed, Some(used));
}
