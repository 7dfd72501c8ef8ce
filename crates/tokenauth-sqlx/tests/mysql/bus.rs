//! `MySqlRevocationBus`: what one process's writes end reaches another's subscribers
//! through the log the tables' triggers write, in commit order (a revocation whose
//! transaction commits after a later-numbered one still arrives), a follower that
//! missed rows flushes, and one that cannot read the log disconnects (caches pause)
//! until it can again.
//!
//! Each "process" is a pool of its own on one test database; the bus polls on a
//! connection of its own, as it does in a server.

use std::sync::Arc;

use sqlx::{Connection, MySqlConnection};
use tokenauth_conformance::fast_hasher;
use tokenauth_core::store::RevocationBus;
use tokenauth_core::{ObtainError, Revocation, TokenAuth, TokenRequest, UserId};
use tokenauth_sqlx::mysql::{MySqlRevocationBus, MySqlStore, MySqlUserDirectory, migrate};
use tokio::sync::{broadcast, watch};

use super::Database;
use super::following::{WITHIN, connected, following, receive};

/// A migrated test database, shared by the "processes" of one test.
async fn database() -> Arc<Database> {
    let db = Database::create().await;
    migrate(&db.pool().await).await.expect("migrate");
    Arc::new(db)
}

/// The service another process runs on `db`.
async fn auth(db: &Database) -> TokenAuth<MySqlStore, MySqlUserDirectory> {
    let pool = db.pool().await;
    TokenAuth::new(MySqlStore::new(pool.clone()), MySqlUserDirectory::new(pool))
        .with_password_hasher(fast_hasher())
}

/// A connection of its own on `db`, as the `mysql` client holds one.
async fn client(db: &Database) -> MySqlConnection {
    MySqlConnection::connect_with(&db.options.clone().database(&db.name))
        .await
        .expect("connect")
}

/// A following bus on `db`, connected, with the flush of connecting received.
async fn follower(db: &Database) -> (MySqlRevocationBus, broadcast::Receiver<Revocation>) {
    following(MySqlRevocationBus::new(db.pool().await)).await
}

/// Every write of another process that ends tokens reaches the follower as its user:
/// a revoked token, a deactivation, a new password, a deleted user, and the same
/// written as plain SQL. What ends nothing (creating users, logging in, a re-hash)
/// logs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn every_revoking_write_of_another_process_arrives() {
    let db = database().await;
    let cli = auth(&db).await;
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

    // Plain SQL, as the mysql client runs it: the triggers log it all the same, and
    // only what ends tokens (a new hash alone, as a re-hash writes, ends nothing).
    let mut shell = client(&db).await;
    for statement in [
        "UPDATE tokenauth_users SET password_hash = 'rehashed' WHERE username = 'bob'",
        "UPDATE tokenauth_users SET credential_version = credential_version + 1 WHERE username = 'carol'",
    ] {
        sqlx::query(statement).execute(&mut shell).await.unwrap();
    }
    let seen = receive(&mut received, &Revocation::User(carol.id)).await;
    assert!(seen.is_empty(), "the re-hash revoked nothing: {seen:?}");
}

/// Inserts a token row of `user` with id `id`, as a login would.
async fn token_of(conn: &mut MySqlConnection, id: &str, user: &str) {
    sqlx::query(
        "INSERT INTO tokenauth_tokens (id, digest, user_id, credential_version, scopes, created) \
         VALUES (?, ?, ?, 0, '', 0)",
    )
    .bind(id)
    .bind(vec![id.len() as u8; 32])
    .bind(user)
    .execute(conn)
    .await
    .unwrap();
}

/// Two revoking transactions interleaved: `early` logs first but commits last, and
/// `late` tries to log and commit in between. An AUTO_INCREMENT log would let `late`
/// commit a higher number, which the follower reads and moves past, and then never
/// read `early`'s. With the counter, `late` waits for `early`'s commit (here it gives
/// up after a second, and runs again once `early` committed): both arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn a_revocation_committed_after_a_later_one_arrives() {
    const DELETE_LATE: &str = "DELETE FROM tokenauth_tokens WHERE id = 'late-token'";
    let db = database().await;
    let mut setup = client(&db).await;
    token_of(&mut setup, "early-token", "early").await;
    token_of(&mut setup, "late-token", "late").await;
    let (_bus, mut received) = follower(&db).await;

    let mut early = client(&db).await;
    let mut early_tx = early.begin().await.unwrap();
    sqlx::query("DELETE FROM tokenauth_tokens WHERE id = 'early-token'")
        .execute(&mut *early_tx)
        .await
        .unwrap();

    let mut late = client(&db).await;
    sqlx::query("SET SESSION innodb_lock_wait_timeout = 1")
        .execute(&mut late)
        .await
        .unwrap();
    let mut late_tx = late.begin().await.unwrap();
    let late_first = match sqlx::query(DELETE_LATE).execute(&mut *late_tx).await {
        Ok(_) => {
            late_tx.commit().await.unwrap();
            // The follower reads past it (as its user, or a flush) before `early`
            // commits.
            let next = tokio::time::timeout(WITHIN, received.recv()).await;
            assert!(
                matches!(&next, Ok(Ok(r)) if *r == Revocation::User(UserId::new("late")) || *r == Revocation::Everything),
                "{next:?}"
            );
            true
        }
        Err(error) => {
            let number = error
                .as_database_error()
                .and_then(|e| e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
                .map(|e| e.number());
            assert_eq!(number, Some(1205), "a lock wait timeout: {error}");
            late_tx.rollback().await.unwrap();
            false
        }
    };

    early_tx.commit().await.unwrap();
    let seen = receive(&mut received, &Revocation::User(UserId::new("early"))).await;
    assert!(seen.is_empty(), "{seen:?}");
    assert!(!late_first, "the later transaction committed first");
    sqlx::query(DELETE_LATE).execute(&mut late).await.unwrap();
    receive(&mut received, &Revocation::User(UserId::new("late"))).await;
}

/// Revoking writes of many users at once, beside logins, all succeed (the counter is
/// the last lock each takes, so they take turns without deadlocking), and each user's
/// revocation reaches the follower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn concurrent_revocations_take_turns_and_all_arrive() {
    let db = database().await;
    let service = Arc::new(auth(&db).await);
    let mut users = Vec::new();
    for n in 0..8 {
        let name = format!("user-{n}");
        users.push(service.upsert_user(&name, "pw", true).await.unwrap().user);
        for _ in 0..2 {
            service
                .obtain(&name, "pw", TokenRequest::default())
                .await
                .unwrap();
        }
    }
    let (_bus, mut received) = follower(&db).await;

    let mut writes = tokio::task::JoinSet::new();
    for (n, user) in users.iter().enumerate() {
        let (writer, name) = (service.clone(), user.username.clone());
        writes.spawn(async move {
            match n % 3 {
                0 => writer.set_active(&name, false).await.map(drop),
                1 => writer.change_password(&name, "new").await.map(drop),
                _ => writer.delete_user(&name).await.map(drop),
            }
        });
        let (login, name) = (service.clone(), user.username.clone());
        writes.spawn(async move {
            // A login beside them: it may find its user gone or changed, never fail.
            let result = login.obtain(&name, "pw", TokenRequest::default()).await;
            assert!(
                matches!(result, Ok(_) | Err(ObtainError::InvalidCredentials)),
                "{result:?}"
            );
            Ok(())
        });
    }
    while let Some(write) = writes.join_next().await {
        write.expect("the task ends").expect("every write succeeds");
    }
    let mut missing: Vec<Revocation> = users.iter().map(|u| Revocation::User(u.id.clone())).collect();
    let arrived = tokio::time::timeout(WITHIN, async {
        while !missing.is_empty() {
            match received.recv().await.expect("the bus lives") {
                // A flush covers them all.
                Revocation::Everything => return,
                revocation => missing.retain(|m| *m != revocation),
            }
        }
    })
    .await;
    assert!(arrived.is_ok(), "never arrived: {missing:?}");
}

/// A revocation published by one process's bus reaches the other's subscribers, and
/// the publisher does not hear its own rows back from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn a_publisher_does_not_hear_its_own_rows_twice() {
    let db = database().await;
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
/// written since its last poll) flushes; the log keeps its newest 10,000 rows, trimmed
/// by the publisher and by the triggers alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn a_follower_that_missed_rows_flushes() {
    let db = database().await;
    let (_bus, mut received) = follower(&db).await;
    let publisher = MySqlRevocationBus::new(db.pool().await);
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
    let mut conn = client(&db).await;
    let count = async |conn: &mut MySqlConnection| -> (i64, i64) {
        sqlx::query_as("SELECT COUNT(*), CAST(MIN(seq) AS SIGNED) FROM tokenauth_revocations")
            .fetch_one(conn)
            .await
            .unwrap()
    };
    assert_eq!(count(&mut conn).await, (10_000, 2));
    // A token deleted: the trigger logs row 10,002 and trims row 2.
    token_of(&mut conn, "gone", "someone").await;
    sqlx::query("DELETE FROM tokenauth_tokens WHERE id = 'gone'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(count(&mut conn).await, (10_000, 3));
    receive(&mut received, &Revocation::User(UserId::new("someone"))).await;
}

/// A bus that cannot read the log is disconnected within the bound (a following cache
/// serves nothing from memory), and connected again, with a flush, once it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn a_log_that_cannot_be_read_disconnects_until_it_can() {
    let db = database().await;
    let (bus, mut received) = follower(&db).await;
    let mut conn = client(&db).await;
    sqlx::query("RENAME TABLE tokenauth_revocations TO hidden")
        .execute(&mut conn)
        .await
        .unwrap();
    connected(&bus, false).await;

    sqlx::query("RENAME TABLE hidden TO tokenauth_revocations")
        .execute(&mut conn)
        .await
        .unwrap();
    connected(&bus, true).await;
    receive(&mut received, &Revocation::Everything).await;
    // And it follows the log again.
    let user = Revocation::User(UserId::new("after"));
    MySqlRevocationBus::new(db.pool().await)
        .publish(&user)
        .await
        .unwrap();
    receive(&mut received, &user).await;
}

/// The revocation-bus suite, on two buses with pools of their own on one database (as
/// two servers hold them).
mod conformance {
    use tokenauth_conformance::BusPair;
    use tokenauth_core::Revocation;
    use tokenauth_core::store::RevocationBus;

    use super::{Arc, Database, MySqlRevocationBus, broadcast, database, watch};

    /// A bus that keeps its database until the last handle goes.
    #[derive(Clone)]
    struct OnDatabase {
        bus: MySqlRevocationBus,
        _db: Arc<Database>,
    }

    impl RevocationBus for OnDatabase {
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

    async fn pair() -> BusPair<OnDatabase> {
        let db = database().await;
        let on = async |db: &Arc<Database>| OnDatabase {
            bus: MySqlRevocationBus::new(db.pool().await),
            _db: db.clone(),
        };
        BusPair {
            publisher: on(&db).await,
            subscriber: on(&db).await,
        }
    }

    tokenauth_conformance::revocation_bus_conformance!(#[ignore = needs_mysql!()]; pair());
}
