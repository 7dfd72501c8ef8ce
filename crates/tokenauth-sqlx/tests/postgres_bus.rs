//! `PostgresRevocationBus` on a real PostgreSQL server: what one bus publishes reaches
//! another's subscribers, and a dropped `LISTEN` connection disconnects the bus (caches
//! pause) until it listens again, when subscribers are told to flush.
//!
//! Ignored by default; run with `TOKENAUTH_TEST_POSTGRES_URL` set and `--ignored`, as
//! `.ci/run` does. The buses use no table; their connections carry an
//! `application_name` of their own, so that the test ends only its own `LISTEN`
//! connection on the shared server. Other tests on the same database may publish on the
//! same channel meanwhile: the test looks for its own messages among theirs.

#![cfg(feature = "postgres")]

use std::hash::{BuildHasher, RandomState};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokenauth_core::store::RevocationBus;
use tokenauth_core::{Revocation, UserId};
use tokenauth_sqlx::postgres::{PgPool, PostgresRevocationBus};
use tokio::sync::broadcast;

/// How long the bus has for each step: its bound (1 s) with room for a loaded machine.
const WITHIN: Duration = Duration::from_secs(10);

async fn pool(application_name: &str) -> PgPool {
    let url = std::env::var("TOKENAUTH_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "TOKENAUTH_TEST_POSTGRES_URL is not set: point it at a PostgreSQL server \
             (such as postgres://postgres@127.0.0.1:5432/test) to run these tests"
        )
    });
    let options = PgConnectOptions::from_str(&url)
        .expect("TOKENAUTH_TEST_POSTGRES_URL is a PostgreSQL URL")
        .application_name(application_name);
    PgPoolOptions::new()
        .connect_with(options)
        .await
        .unwrap_or_else(|error| panic!("cannot reach PostgreSQL at TOKENAUTH_TEST_POSTGRES_URL: {error}"))
}

/// Waits until the bus's connected state is `state`.
async fn connected(bus: &PostgresRevocationBus, state: bool) {
    let mut watch = bus.connected();
    tokio::time::timeout(WITHIN, watch.wait_for(|now| *now == state))
        .await
        .unwrap_or_else(|_| panic!("the bus is not connected={state} after {WITHIN:?}"))
        .expect("the bus lives");
}

/// Receives until `wanted` arrives (others' messages may come first).
async fn receive(receiver: &mut broadcast::Receiver<Revocation>, wanted: &Revocation) {
    let found = tokio::time::timeout(WITHIN, async {
        loop {
            match receiver.recv().await {
                Ok(revocation) if &revocation == wanted => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("the bus closed"),
            }
        }
    })
    .await;
    assert!(found.is_ok(), "{wanted:?} did not arrive within {WITHIN:?}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn revocations_cross_processes_and_a_dropped_listener_flushes() {
    let tag = format!("tokenauth_bus_{:016x}", RandomState::new().hash_one(1));
    let publisher = PostgresRevocationBus::new(pool(&format!("{tag}_a")).await);
    let listener_name = format!("{tag}_b");
    let listening = PostgresRevocationBus::new(pool(&listener_name).await);
    let mut received = listening.subscribe();
    assert!(
        !*listening.connected().borrow(),
        "disconnected until it hears itself"
    );
    connected(&listening, true).await;

    // A user id no other test uses: ours.
    let user = UserId::new(tag.clone());
    publisher.publish(&Revocation::User(user.clone())).await.unwrap();
    receive(&mut received, &Revocation::User(user.clone())).await;

    // End the listener's connection: the bus is disconnected, then listens again and
    // tells its subscribers to flush.
    let killer = pool(&format!("{tag}_killer")).await;
    let ended: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND (query LIKE 'LISTEN%' OR query LIKE 'SELECT pg_notify%')",
    )
    .bind(&listener_name)
    .fetch_all(&killer)
    .await
    .unwrap();
    assert_eq!(ended, vec![(true,)], "the bus's one LISTEN connection was ended");
    connected(&listening, false).await;
    connected(&listening, true).await;
    receive(&mut received, &Revocation::Everything).await;

    // And it works on the new connection.
    publisher.publish(&Revocation::User(user.clone())).await.unwrap();
    receive(&mut received, &Revocation::User(user)).await;
}

/// The heartbeats go through the bus's own `LISTEN` connection: a request pool with no
/// connection to spare (here, its only one held) does not make every cache pause.
#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn a_saturated_pool_does_not_silence_the_heartbeats() {
    let tag = format!("tokenauth_bus_{:016x}", RandomState::new().hash_one(2));
    let options = PgConnectOptions::from_str(&std::env::var("TOKENAUTH_TEST_POSTGRES_URL").unwrap())
        .unwrap()
        .application_name(&tag);
    let one = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .unwrap();
    let bus = PostgresRevocationBus::new(one.clone());
    connected(&bus, true).await;
    let held = one.acquire().await.unwrap();
    let watch = bus.connected();
    // Three times the bound: heartbeats through the pool would have gone stale.
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(*watch.borrow(), "the bus paused while the pool was busy");
    }
    drop(held);
}

/// The `LISTEN` connection can go elsewhere than the pool (`with_listen_options`):
/// behind a transaction-pooling PgBouncer, the pool goes through it and the listener
/// straight to the database. Here the pool's address does not answer at all.
#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn the_listener_can_connect_apart_from_the_pool() {
    let direct = PgConnectOptions::from_str(&std::env::var("TOKENAUTH_TEST_POSTGRES_URL").unwrap()).unwrap();
    // Port 1 on loopback: nothing listens there.
    let nowhere = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy_with(direct.clone().port(1));
    let listening = PostgresRevocationBus::new(nowhere).with_listen_options(direct);
    let mut received = listening.subscribe();
    connected(&listening, true).await;
    let publisher = PostgresRevocationBus::new(pool("tokenauth_bus_apart").await);
    let user = UserId::new(format!("tokenauth_bus_{:016x}", RandomState::new().hash_one(3)));
    publisher.publish(&Revocation::User(user.clone())).await.unwrap();
    receive(&mut received, &Revocation::User(user)).await;
}

/// The revocation-bus suite, on two buses with pools of their own (as two servers
/// hold them).
mod conformance {
    use super::{PostgresRevocationBus, pool};
    use tokenauth_conformance::BusPair;

    async fn pair() -> BusPair<PostgresRevocationBus> {
        BusPair {
            publisher: PostgresRevocationBus::new(pool("tokenauth-bus-suite").await),
            subscriber: PostgresRevocationBus::new(pool("tokenauth-bus-suite").await),
        }
    }

    tokenauth_conformance::revocation_bus_conformance!(
        #[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"];
        pair()
    );
}
