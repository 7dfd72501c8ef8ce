//! `SqliteRevocationBus`: what one process's writes end reaches another's subscribers
//! through the log the tables' triggers write, a follower that missed rows flushes, and
//! one that cannot read the log disconnects (caches pause) until it can again.
//!
//! Each "process" is a pool of its own on one database file; the bus polls on a
//! connection of its own, as it does in a server.

#![cfg(feature = "sqlite")]

#[path = "support/following.rs"]
mod following;

use std::sync::Arc;

use following::{connected, following, receive};
use tempfile::TempDir;
use tokenauth_conformance::fast_hasher;
use tokenauth_core::store::RevocationBus;
use tokenauth_core::{Revocation, TokenAuth, TokenRequest, UserId};
use tokenauth_sqlx::sqlite::{SqlitePool, SqliteRevocationBus, SqliteStore, SqliteUserDirectory, connect};
use tokio::sync::{broadcast, watch};

/// A migrated database file in a temporary directory, and a way to open more pools on
/// it (each as another process would).
struct Db {
    dir: Arc<TempDir>,
}

impl Db {
    fn new() -> Self {
        Self {
            dir: Arc::new(tempfile::tempdir().expect("temporary directory")),
        }
    }

    async fn pool(&self) -> SqlitePool {
        let url = format!("sqlite://{}", self.dir.path().join("tokenauth.db").display());
        connect(&url).await.expect("connect")
    }

    /// The service another process runs on this file.
    async fn auth(&self) -> TokenAuth<SqliteStore, SqliteUserDirectory> {
        let pool = self.pool().await;
        TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool))
            .with_password_hasher(fast_hasher())
    }
}

/// A following bus on `db`, connected, with the flush of connecting received.
async fn follower(db: &Db) -> (SqliteRevocationBus, broadcast::Receiver<Revocation>) {
    following(SqliteRevocationBus::new(db.pool().await)).await
}

/// Every write of another process that ends tokens reaches the follower as its user:
/// a revoked token, a deactivation, a new password, a deleted user. Nothing the first
/// process did itself is lost or duplicated into a flush.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_revoking_write_of_another_process_arrives() {
    let db = Db::new();
    let cli = db.auth().await;
    let (_bus, mut received) = follower(&db).await;

    let alice = cli.upsert_user("alice", "first", true).await.unwrap().user;
    let bob = cli.upsert_user("bob", "first", true).await.unwrap().user;
    let carol = cli.upsert_user("carol", "first", true).await.unwrap().user;
    let issued = cli
        .obtain("alice", "first", TokenRequest::default())
        .await
        .unwrap();
    assert!(cli.revoke(&issued.info.id).await.unwrap());
    let seen = receive(&mut received, &Revocation::User(alice.id.clone())).await;
    assert!(
        seen.is_empty(),
        "creating users and logging in revoke nothing: {seen:?}"
    );

    cli.set_active("bob", false).await.unwrap();
    receive(&mut received, &Revocation::User(bob.id.clone())).await;
    cli.change_password("carol", "second").await.unwrap();
    receive(&mut received, &Revocation::User(carol.id.clone())).await;
    cli.delete_user("alice").await.unwrap();
    let seen = receive(&mut received, &Revocation::User(alice.id)).await;
    assert!(!seen.contains(&Revocation::Everything), "no flush: {seen:?}");

    // Plain SQL, as the sqlite3 shell runs it: the triggers log it all the same, and
    // only what ends tokens (a new hash alone, as a re-hash writes, ends nothing).
    let shell = db.pool().await;
    for statement in [
        "UPDATE tokenauth_users SET password_hash = 'rehashed' WHERE username = 'bob'",
        "UPDATE tokenauth_users SET credential_version = credential_version + 1 WHERE username = 'carol'",
    ] {
        sqlx::query(statement).execute(&shell).await.unwrap();
    }
    let seen = receive(&mut received, &Revocation::User(carol.id)).await;
    assert!(seen.is_empty(), "the re-hash revoked nothing: {seen:?}");
}

/// A revocation published by one process's bus reaches the other's subscribers, and
/// the publisher does not hear its own rows back from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_does_not_hear_its_own_rows_twice() {
    let db = Db::new();
    let (publisher, mut own) = follower(&db).await;
    let (other, mut theirs) = follower(&db).await;
    let first = Revocation::User(UserId::new("first"));
    publisher.publish(&first).await.unwrap();
    receive(&mut theirs, &first).await;
    receive(&mut own, &first).await;
    // Once the other process has read the log past it, so has this one's poller.
    let second = Revocation::User(UserId::new("second"));
    other.publish(&second).await.unwrap();
    let seen = receive(&mut own, &second).await;
    assert!(seen.is_empty(), "its own row came back: {seen:?}");
}

/// A follower that finds rows it never read trimmed away (more than the log keeps were
/// written since its last poll) flushes; the log keeps its newest 10,000 rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_missed_rows_flushes() {
    let db = Db::new();
    let (_bus, mut received) = follower(&db).await;
    let publisher = SqliteRevocationBus::new(db.pool().await);
    let ended = (0..10_001)
        .map(|n| tokenauth_core::store::Ended {
            id: tokenauth_core::TokenId::generate(),
            digest: tokenauth_core::store::TokenDigest::from_bytes([0; 32]),
            user_id: UserId::new(format!("user-{n}")),
        })
        .collect();
    publisher.publish(&Revocation::Tokens(ended)).await.unwrap();
    let seen = receive(&mut received, &Revocation::Everything).await;
    assert!(seen.is_empty(), "the flush came first: {seen:?}");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM tokenauth_revocations")
        .fetch_one(&db.pool().await)
        .await
        .unwrap();
    assert_eq!(kept, 10_000);
}

/// A bus that cannot read the log is disconnected within the bound (a following cache
/// serves nothing from memory), and connected again, with a flush, once it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_cannot_be_read_disconnects_until_it_can() {
    let db = Db::new();
    let (bus, mut received) = follower(&db).await;
    let pool = db.pool().await;
    sqlx::query("ALTER TABLE tokenauth_revocations RENAME TO hidden")
        .execute(&pool)
        .await
        .unwrap();
    connected(&bus, false).await;

    sqlx::query("ALTER TABLE hidden RENAME TO tokenauth_revocations")
        .execute(&pool)
        .await
        .unwrap();
    connected(&bus, true).await;
    receive(&mut received, &Revocation::Everything).await;
    // And it follows the log again.
    let user = Revocation::User(UserId::new("after"));
    SqliteRevocationBus::new(pool).publish(&user).await.unwrap();
    receive(&mut received, &user).await;
}

/// The revocation-bus suite, on two buses with pools of their own on one file (as two
/// servers hold them).
mod conformance {
    use tokenauth_conformance::BusPair;
    use tokenauth_core::Revocation;
    use tokenauth_core::store::RevocationBus;

    use super::{Arc, Db, SqliteRevocationBus, TempDir, broadcast, watch};

    /// A bus that keeps its database's directory until the last handle goes.
    #[derive(Clone)]
    struct OnFile {
        bus: SqliteRevocationBus,
        _dir: Arc<TempDir>,
    }

    impl RevocationBus for OnFile {
        type Error = tokenauth_sqlx::Error;

        async fn publish(&self, revocation: &Revocation) -> Result<(), Self::Error> {
            self.bus.publish(revocation).await
        }

        fn subscribe(&self) -> broadcast::Receiver<Revocation> {
            self.bus.subscribe()
        }

        fn connected(&self) -> watch::Receiver<bool> {
            self.bus.connected()
        }
    }

    async fn pair() -> BusPair<OnFile> {
        let db = Db::new();
        let on_file = async |db: &Db| OnFile {
            bus: SqliteRevocationBus::new(db.pool().await),
            _dir: db.dir.clone(),
        };
        BusPair {
            publisher: on_file(&db).await,
            subscriber: on_file(&db).await,
        }
    }

    tokenauth_conformance::revocation_bus_conformance!(pair());
}
