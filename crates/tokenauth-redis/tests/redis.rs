//! The `tokenauth-core` token-store contract, and what is particular to Redis, run
//! against `RedisStore` on a real Redis server and on a real Redis Cluster.
//!
//! The server comes from `TOKENAUTH_TEST_REDIS_URL` (for example
//! `redis://127.0.0.1:6379`), the cluster from `TOKENAUTH_TEST_REDIS_CLUSTER_URL` (for
//! example `redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002`, as
//! `.ci/redis-cluster` starts it), both read at run time. The tests are ignored by
//! default, so that `cargo test` passes without Redis; run them with
//!
//! ```text
//! TOKENAUTH_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//! TOKENAUTH_TEST_REDIS_CLUSTER_URL=redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 \
//!     cargo test -p tokenauth-redis --test redis -- --ignored
//! ```
//!
//! as `.ci/run` does. Run that way, a missing variable or an unreachable server fails
//! the test with a message saying so. Every test works under a key prefix of its own
//! (`tokenauth-test-<random>`) and deletes that prefix's keys (`SCAN` + `DEL`, never
//! `FLUSHDB`: the server is shared) when its store is dropped.

mod common;

use std::time::Duration;

use common::{RETENTION, Server, add, fresh, raw};
use redis::AsyncCommands;
use tokenauth_conformance::record;
use tokenauth_core::store::TokenStore;

/// Why the single-server tests are ignored by default.
macro_rules! needs_redis {
    () => {
        "needs Redis: set TOKENAUTH_TEST_REDIS_URL and run with --ignored"
    };
}

/// Why the cluster tests are ignored by default.
macro_rules! needs_cluster {
    () => {
        "needs a Redis Cluster: set TOKENAUTH_TEST_REDIS_CLUSTER_URL and run with --ignored"
    };
}

mod single {
    tokenauth_conformance::token_store_conformance!(
        #[ignore = needs_redis!()];
        super::fresh(super::Server::Single)
    );
}

mod cluster {
    tokenauth_conformance::token_store_conformance!(
        #[ignore = needs_cluster!()];
        super::fresh(super::Server::Cluster)
    );
}

/// Every key under `prefix` on the single server, by `SCAN`.
async fn keys_under(prefix: &str) -> Vec<String> {
    let mut conn = raw(Server::Single).await;
    let mut keys = Vec::new();
    let mut cursor = 0_u64;
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        keys.extend(found);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys
}

/// The single-server key layout: a hash per user under the user's hash tag, two
/// pointers per record, and each key expiring within the retention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_redis!()]
async fn keys_follow_the_documented_layout_and_expire() {
    let store = fresh(Server::Single).await;
    let prefix = store.inner.prefix().to_owned();
    let (a0, a1, b0) = (record("a", 0), record("a", 1), record("b}x", 0));
    for rec in [&a0, &a1, &b0] {
        add(&store, rec).await;
    }
    let keys = keys_under(&prefix).await;
    let hex = |r: &tokenauth_core::store::TokenRecord| -> String {
        r.digest.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    };
    let mut expected = vec![format!("{prefix}:{{u:a}}"), format!("{prefix}:{{u:b%7Dx}}")];
    for rec in [&a0, &a1, &b0] {
        expected.push(format!("{prefix}:{{d:{}}}", hex(rec)));
        expected.push(format!("{prefix}:{{i:{}}}", rec.id));
    }
    expected.sort();
    assert_eq!(keys, expected);
    let mut conn = raw(Server::Single).await;
    for key in &keys {
        let ttl: i64 = conn.pttl(key).await.unwrap();
        assert!(ttl > 0 && ttl <= 86_400_000, "{key}: {ttl}");
    }
    let owner: String = conn.get(format!("{prefix}:{{i:{}}}", b0.id)).await.unwrap();
    assert_eq!(owner, "b}x");
}

/// Raising the retention extends the life of every key already written by the
/// difference; lowering it leaves them; `None` drops their expiry; keys written before
/// any retention was recorded get at least the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_redis!()]
async fn a_longer_retention_extends_existing_keys() {
    let store = fresh(Server::Single).await;
    let prefix = store.inner.prefix().to_owned();
    let marker = format!("{prefix}:retention");
    let mut conn = raw(Server::Single).await;
    let ttls = |conn: redis::aio::MultiplexedConnection| {
        let prefix = prefix.clone();
        async move {
            let mut ttls = Vec::new();
            for key in keys_under(&prefix).await {
                if !key.ends_with(":retention") {
                    let ttl: i64 = conn.clone().pttl(&key).await.unwrap();
                    ttls.push(ttl);
                }
            }
            ttls
        }
    };
    let day = i64::try_from(RETENTION.as_millis()).unwrap();
    let week = Duration::from_secs(7 * 24 * 3600);
    let week_ms = i64::try_from(week.as_millis()).unwrap();

    assert_eq!(
        store.inner.refresh_retention().await.unwrap(),
        0,
        "nothing written yet"
    );
    let rec = record("a", 0);
    add(&store, &rec).await;
    let before = ttls(conn.clone()).await;
    assert_eq!(before.len(), 3, "the user's hash and two pointers");
    assert!(
        before.iter().all(|ttl| *ttl > day - 60_000 && *ttl <= day),
        "{before:?}"
    );

    let longer = store.inner.clone().with_retention(Some(RETENTION + week));
    assert_eq!(longer.refresh_retention().await.unwrap(), 3);
    let after = ttls(conn.clone()).await;
    for (before, after) in before.iter().zip(&after) {
        assert!(
            *after > before + week_ms - 60_000 && *after <= day + week_ms,
            "{after}"
        );
    }
    let stored: String = conn.get(&marker).await.unwrap();
    assert_eq!(stored, (RETENTION + week).as_millis().to_string());

    // Shorter again: recorded, nothing shortened.
    let shorter = store.inner.clone().with_retention(Some(RETENTION));
    assert_eq!(shorter.refresh_retention().await.unwrap(), 0);
    assert!(
        ttls(conn.clone())
            .await
            .iter()
            .all(|ttl| *ttl > day + week_ms - 60_000)
    );

    // No retention recorded (keys written before any refresh): at least the new one.
    let _: i64 = conn.del(&marker).await.unwrap();
    let month = store.inner.clone().with_retention(Some(RETENTION * 30));
    assert_eq!(month.refresh_retention().await.unwrap(), 3);
    assert!(
        ttls(conn.clone())
            .await
            .iter()
            .all(|ttl| *ttl > 30 * day - 60_000)
    );

    // None: the keys lose their expiry, and the token is still found.
    let forever = store.inner.clone().with_retention(None);
    assert_eq!(forever.refresh_retention().await.unwrap(), 3);
    assert_eq!(ttls(conn.clone()).await, [-1, -1, -1]);
    assert_eq!(store.find_by_digest(&rec.digest).await.unwrap(), Some(rec));
}

/// A pointer whose record is gone (its hash expired) finds nothing, and the record's
/// id and digest pointers do not make lookups fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_redis!()]
async fn pointers_to_expired_records_find_nothing() {
    let store = fresh(Server::Single).await;
    let rec = record("a", 0);
    add(&store, &rec).await;
    let mut conn = raw(Server::Single).await;
    let user_key = format!("{}:{{u:a}}", store.inner.prefix());
    let _: i64 = conn.del(&user_key).await.unwrap();
    assert_eq!(store.find_by_digest(&rec.digest).await.unwrap(), None);
    assert_eq!(store.find_by_id(&rec.id).await.unwrap(), None);
    assert_eq!(store.delete(&rec.id).await.unwrap(), None);
    assert_eq!(store.list(None).await.unwrap(), vec![]);
    let set = store.token_set(&rec.user_id).await.unwrap();
    assert_eq!((set.version, set.records), (0, vec![]));
}

/// Deleting a store's keys deletes exactly its prefix's keys, on every node.
async fn delete_all_keys_stays_under_its_prefix(server: Server) {
    let mine = fresh(server).await;
    let theirs = fresh(server).await;
    for i in 0..20 {
        add(&mine, &record(&format!("user{i}"), i)).await;
    }
    let kept = record("a", 0);
    add(&theirs, &kept).await;
    // A deployment whose prefix extends this one's (`PREFIX:nested`) is another's too.
    let nested = server.store(&format!("{}:nested", mine.inner.prefix())).await;
    let nested_kept = record("b", 0);
    add(&nested, &nested_kept).await;
    assert_eq!(mine.inner.delete_all_keys().await.unwrap(), 20 * 3);
    assert_eq!(mine.list(None).await.unwrap(), vec![]);
    assert_eq!(theirs.list(None).await.unwrap(), vec![kept]);
    assert_eq!(nested.list(None).await.unwrap(), vec![nested_kept]);
    nested.delete_all_keys().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_redis!()]
async fn delete_all_keys_stays_under_its_prefix_single() {
    delete_all_keys_stays_under_its_prefix(Server::Single).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_cluster!()]
async fn delete_all_keys_stays_under_its_prefix_cluster() {
    delete_all_keys_stays_under_its_prefix(Server::Cluster).await;
}

/// A purge in batches reads the keyspace about once: each batch goes on where the last
/// one stopped, instead of scanning (and reading every user hash) from the start. On a
/// server of the test's own, so that Redis's command counts are this test's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_redis!()]
async fn a_purge_in_batches_reads_each_user_about_once() {
    let private = common::PrivateRedis::start();
    let url = format!("redis://{}", private.addr());
    let store = tokenauth_redis::RedisStore::connect(&url).await.unwrap();
    let users = 200;
    for i in 0..users {
        add(&store, &record(&format!("user{i}"), i)).await;
    }
    let everything = tokenauth_core::store::PurgeBounds {
        created_before: time::macros::datetime!(2100-01-01 0:00 UTC),
        expires_before: time::OffsetDateTime::UNIX_EPOCH,
        active_before: None,
    };
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut purged = 0;
    loop {
        let batch = store.purge(&everything, 10).await.unwrap().len();
        purged += batch;
        if batch < 10 {
            break;
        }
    }
    assert_eq!(purged, users as usize);
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let reads: usize = stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_hgetall:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .expect("HGETALL counted");
    // From the start every batch, it would be 10 + 20 + ... + 200 = 2,100 reads; going
    // on, each of the 21 batches reads at most a few hashes ahead of where it stops.
    assert!(
        reads <= 2 * users as usize,
        "{reads} hash reads for {users} users"
    );
}
