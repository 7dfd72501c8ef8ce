//! The lookups authentication makes on SQLite (a token by digest, a user by id) are
//! read on the calling thread, not through the pool: they see each commit at once,
//! decode rows as the pool's reads do, and leave a locked database to the pool, which
//! waits up to the busy timeout and then answers unavailable.

#![cfg(feature = "sqlite")]

use std::future::Future;
use std::pin::pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Connection, Sqlite, SqliteConnection};
use tempfile::TempDir;
use tokenauth_conformance::record;
use tokenauth_core::store::{
    Change, PrefetchedUser, TokenDigest, TokenRecord, TokenStore, UserAdmin, UserDirectory,
};
use tokenauth_core::{User, UserId};
use tokenauth_sqlx::sqlite::{SqlitePool, SqliteStore, SqliteUserDirectory, connect, migrate};

/// A migrated database file whose pool has a single connection and gives up waiting
/// for it after 2 s: a lookup answered while a test holds that connection did not use
/// the pool. (The first lookup of a store or directory asks the pool once for the
/// file's path: the tests make one before holding it.)
async fn one_connection() -> (SqlitePool, TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let options =
        SqliteConnectOptions::from_str(&format!("sqlite://{}", dir.path().join("tokenauth.db").display()))
            .unwrap()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(options)
        .await
        .unwrap();
    migrate(&pool).await.unwrap();
    (pool, dir)
}

/// The pool's only connection, held until dropped.
async fn hold(pool: &SqlitePool) -> PoolConnection<Sqlite> {
    pool.acquire().await.unwrap()
}

async fn commit(store: &SqliteStore, rec: &TokenRecord, delete: bool) {
    let version = store.token_set(&rec.user_id).await.unwrap().version;
    let change = if delete {
        Change {
            delete: vec![rec.id.clone()],
            insert: None,
        }
    } else {
        Change {
            delete: vec![],
            insert: Some(rec.clone()),
        }
    };
    store.commit(&rec.user_id, version, change).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_see_each_commit_of_the_pool_at_once_without_using_it() {
    let (pool, _dir) = one_connection().await;
    let store = SqliteStore::new(pool.clone());
    let users = SqliteUserDirectory::new(pool.clone());
    let alice = users.create_user("alice", "hash", true).await.unwrap().unwrap();
    users.find_user(&alice.id).await.unwrap();
    let mut rec = record(alice.id.as_str(), 0);
    rec.last_ip = Some("192.0.2.7".parse().unwrap());

    assert_eq!(store.find_by_digest(&rec.digest).await.unwrap(), None);
    let held = hold(&pool).await;
    assert_eq!(store.find_by_digest(&rec.digest).await.unwrap(), None);
    assert_eq!(users.find_user(&alice.id).await.unwrap(), Some(alice.clone()));
    drop(held);

    commit(&store, &rec, false).await;
    let held = hold(&pool).await;
    assert_eq!(
        store.find_by_digest(&rec.digest).await.unwrap(),
        Some(rec.clone())
    );
    drop(held);

    let inactive = users.set_active(&alice.id, false).await.unwrap().unwrap();
    sqlx::query("UPDATE tokenauth_tokens SET name = 'renamed'")
        .execute(&pool)
        .await
        .unwrap();
    let held = hold(&pool).await;
    assert_eq!(users.find_user(&alice.id).await.unwrap(), Some(inactive));
    let renamed = store.find_by_digest(&rec.digest).await.unwrap().unwrap();
    assert_eq!(renamed.name.as_deref(), Some("renamed"));
    drop(held);

    commit(&store, &rec, true).await;
    users.delete_user(&alice.id).await.unwrap();
    let _held = hold(&pool).await;
    assert_eq!(store.find_by_digest(&rec.digest).await.unwrap(), None);
    assert_eq!(users.find_user(&alice.id).await.unwrap(), None);
}

/// A row the shared decoding rejects gives the same typed error by digest (read
/// without the pool) as by id (read through it); a value of a type the column should
/// not hold is left to the pool, and gives what it gives, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_gives_the_same_answer_as_through_the_pool() {
    for (corruption, corrupt) in [
        ("created = 9223372036854775807", true),
        ("scopes = 'read \"write\"'", true),
        ("last_ip = 'not-an-address'", true),
        ("credential_version = 'not a number'", false),
        ("name = x'ff00'", false),
    ] {
        let (pool, _dir) = one_connection().await;
        let store = SqliteStore::new(pool.clone());
        let rec = record("1", 0);
        commit(&store, &rec, false).await;
        store.find_by_digest(&rec.digest).await.unwrap();
        sqlx::query(&format!("UPDATE tokenauth_tokens SET {corruption}"))
            .execute(&pool)
            .await
            .unwrap();
        let by_id = store.find_by_id(&rec.id).await.map_err(|e| e.to_string());
        let by_digest = if corrupt {
            // Answered without the pool: the reader decodes it.
            let _held = hold(&pool).await;
            let found = store.find_by_digest(&rec.digest).await;
            assert!(
                matches!(found, Err(tokenauth_sqlx::Error::Corrupt { .. })),
                "{corruption}: {found:?}"
            );
            found
        } else {
            store.find_by_digest(&rec.digest).await
        };
        assert_eq!(by_digest.map_err(|e| e.to_string()), by_id, "{corruption}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_user_version_is_the_same_typed_error() {
    let (pool, _dir) = one_connection().await;
    let users = SqliteUserDirectory::new(pool.clone());
    let alice = users.create_user("alice", "hash", true).await.unwrap().unwrap();
    users.find_user(&alice.id).await.unwrap();
    sqlx::query("UPDATE tokenauth_users SET credential_version = -1")
        .execute(&pool)
        .await
        .unwrap();
    let _held = hold(&pool).await;
    let err = users.find_user(&alice.id).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed row in the database: user credential version is negative"
    );
}

/// A database with one user and one token in rollback-journal mode (where a writer
/// holding the exclusive lock keeps every reader out; under WAL nothing short of
/// exclusive locking mode does, and it cannot be taken while other connections are
/// open), a store and a directory whose pool waits up to `timeout` for a lock (as
/// `connect_with_timeout` sets it), each having looked up once, and a connection
/// holding the exclusive lock.
async fn locked(
    timeout: Duration,
) -> (
    SqliteConnection,
    SqliteStore,
    SqliteUserDirectory,
    TokenRecord,
    TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let options =
        SqliteConnectOptions::from_str(&format!("sqlite://{}", dir.path().join("tokenauth.db").display()))
            .unwrap()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Delete)
            .busy_timeout(timeout);
    let pool = SqlitePoolOptions::new()
        .acquire_timeout(timeout)
        .connect_with(options.clone())
        .await
        .unwrap();
    migrate(&pool).await.unwrap();
    let store = SqliteStore::new(pool.clone());
    let users = SqliteUserDirectory::new(pool);
    let alice = users.create_user("alice", "hash", true).await.unwrap().unwrap();
    let rec = record(alice.id.as_str(), 0);
    commit(&store, &rec, false).await;
    assert!(store.find_by_digest(&rec.digest).await.unwrap().is_some());
    assert!(users.find_user(&alice.id).await.unwrap().is_some());

    let mut lock = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut lock).await.unwrap();
    (lock, store, users, rec, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_past_the_busy_timeout_is_unavailable() {
    let (_lock, store, users, rec, _dir) = locked(Duration::from_millis(200)).await;
    let err = store.find_by_digest(&rec.digest).await.unwrap_err();
    assert!(SqliteStore::is_unavailable(&err), "{err:?}");
    let err = users.find_user(&rec.user_id).await.unwrap_err();
    assert!(SqliteUserDirectory::is_unavailable(&err), "{err:?}");
}

/// A lookup that meets a lock waits for it (through the pool, off the thread) instead
/// of failing at once, and answers once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_waits_for_a_lock_within_the_busy_timeout() {
    let (mut lock, store, _users, rec, _dir) = locked(Duration::from_secs(30)).await;
    let mut find = pin!(store.find_by_digest(&rec.digest));
    let pending = std::future::poll_fn(|cx| Poll::Ready(find.as_mut().poll(cx).is_pending())).await;
    assert!(pending, "a locked read must wait, not fail at once");
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    assert_eq!(find.await.unwrap().as_ref(), Some(&rec));
}

/// An in-memory database named like a file on disk is read through its pool, never
/// from that file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_database_is_not_read_from_a_file_of_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenauth.db");
    let on_disk = connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let rec = record("1", 0);
    commit(&SqliteStore::new(on_disk.clone()), &rec, false).await;

    let in_memory = connect(&format!("sqlite://{}?mode=memory", path.display()))
        .await
        .unwrap();
    let store = SqliteStore::new(in_memory);
    assert_eq!(store.find_by_digest(&rec.digest).await.unwrap(), None);
    commit(&store, &rec, false).await;
    assert_eq!(store.find_by_digest(&rec.digest).await.unwrap(), Some(rec));
    on_disk.close().await;
}

/// What authentication reads of the token with `digest`: its record, and its user if
/// read alongside.
async fn read_with_user(store: &SqliteStore, digest: &TokenDigest) -> (Arc<TokenRecord>, PrefetchedUser) {
    store
        .find_with_user_to_authenticate(digest, tokenauth_conformance::BASE)
        .await
        .unwrap()
        .unwrap()
}

/// The user `id` as `users` answers authentication, given `prefetched`.
async fn user_given(users: &SqliteUserDirectory, id: &UserId, prefetched: PrefetchedUser) -> Option<User> {
    users
        .find_prefetched_user_to_authenticate(id, tokenauth_conformance::BASE, prefetched)
        .await
        .unwrap()
}

/// Authentication reads a token and its user in one query, as DRF's
/// `select_related("user")`: the directory answers from that row (one snapshot, no
/// second read, the pool untouched), and reads for itself for anything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_and_its_user_are_read_together() {
    let (pool, _dir) = one_connection().await;
    let store = SqliteStore::new(pool.clone());
    let users = SqliteUserDirectory::new(pool.clone());
    let alice = users.create_user("alice", "hash", true).await.unwrap().unwrap();
    let bob = users.create_user("bob", "hash", true).await.unwrap().unwrap();
    users.find_user(&alice.id).await.unwrap();
    let rec = record(alice.id.as_str(), 0);
    commit(&store, &rec, false).await;
    store.find_by_digest(&rec.digest).await.unwrap();
    let read = async || {
        let _held = hold(&pool).await;
        read_with_user(&store, &rec.digest).await
    };

    let (found, prefetched) = read().await;
    assert_eq!(*found, rec);
    assert!(prefetched.is_some());
    users.set_active(&alice.id, false).await.unwrap();
    // The row read with the token, before the change: no second read.
    let user = user_given(&users, &alice.id, prefetched).await;
    assert_eq!(user, Some(alice.clone()));

    let (_, prefetched) = read().await;
    let _held = hold(&pool).await;
    let user = user_given(&users, &alice.id, prefetched).await.unwrap();
    assert!(!user.is_active);
    drop(_held);

    // Asked for another user than the token's, the directory reads that one.
    let (_, prefetched) = read().await;
    let user = user_given(&users, &bob.id, prefetched).await;
    assert_eq!(user, Some(bob));

    // The user gone: the joined row says so.
    users.delete_user(&alice.id).await.unwrap();
    let (_, prefetched) = read().await;
    let _held = hold(&pool).await;
    let user = user_given(&users, &alice.id, prefetched).await;
    assert_eq!(user, None);
}

/// A row joined from another database, or joined by SQLite's number conversion for a
/// user id that is not a key's own spelling ("01" finds user 1), is never taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_row_is_taken_only_from_its_own_file_and_key() {
    let (pool, _dir) = one_connection().await;
    let (other_pool, _other_dir) = one_connection().await;
    let store = SqliteStore::new(pool.clone());
    let users = SqliteUserDirectory::new(pool.clone());
    let others = SqliteUserDirectory::new(other_pool);
    let alice = users.create_user("alice", "hash", true).await.unwrap().unwrap();
    let mallory = others
        .create_user("mallory", "hash", true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.id, mallory.id);
    // Each directory has read its file once: it knows which file it reads.
    users.find_user(&alice.id).await.unwrap();
    others.find_user(&mallory.id).await.unwrap();

    let rec = record(alice.id.as_str(), 0);
    commit(&store, &rec, false).await;
    let (_, prefetched) = read_with_user(&store, &rec.digest).await;
    let user = user_given(&others, &alice.id, prefetched).await;
    assert_eq!(user, Some(mallory));

    let padded = record(&format!("0{}", alice.id.as_str()), 1);
    commit(&store, &padded, false).await;
    let (found, prefetched) = read_with_user(&store, &padded.digest).await;
    let user = user_given(&users, &found.user_id, prefetched).await;
    assert_eq!(user, None);
}

/// With the cache on, a user read alongside its token answers that request only: it
/// was read before the user's cache miss, so keeping it could keep a row a change
/// heard in between had dropped. The next request, served by the cached token, reads
/// the user again (here it finds the deactivation no bus told of).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_does_not_keep_a_user_read_alongside_its_token() {
    let (pool, _dir) = one_connection().await;
    let users = SqliteUserDirectory::new(pool.clone());
    let alice = users.create_user("alice", "hash", true).await.unwrap().unwrap();
    let clock = tokenauth_core::ManualClock::new(tokenauth_conformance::BASE);
    let auth = tokenauth_core::TokenAuth::new(SqliteStore::new(pool.clone()), users)
        .with_clock(clock)
        .with_cache(tokenauth_core::AuthCache::default());
    let issued = auth
        .issue(&alice.id, tokenauth_core::TokenRequest::default())
        .await
        .unwrap();
    let token = issued.token.expose_secret();

    let verified = auth.authenticate(token, None).await.unwrap();
    assert!(verified.user.is_active);
    sqlx::query("UPDATE tokenauth_users SET is_active = 0")
        .execute(&pool)
        .await
        .unwrap();
    let err = auth.authenticate(token, None).await.unwrap_err();
    assert_eq!(err.to_string(), "User inactive or deleted");
}
