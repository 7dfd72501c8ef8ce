//! The full authenticate path on the Redis token store (users in memory), one request
//! at a time: a valid, an unknown, a garbage (bad checksum) and an expired token (behind
//! a disabled cache, as the server runs without `--cache`); then the same behind an
//! [`AuthCache`], every lookup a hit, and every lookup a miss (a TTL of zero). The same tokens as tokenauth-sqlx's `authenticate` benchmark
//! ([`authenticate_bench_service`]), so the figures compare.
//!
//! Run with `TOKENAUTH_TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench -p
//! tokenauth-redis --bench authenticate`; each case uses a key prefix of its own and
//! deletes its keys afterwards.

use tokenauth_conformance::authenticate_bench_service;
use tokenauth_core::{AuthCache, MemoryUserDirectory, time::Duration};
use tokenauth_redis::RedisStore;

fn main() {
    divan::main();
}

/// The full authenticate path, per kind of token, on a store of `TOKENS` tokens.
#[divan::bench(args = ["valid", "unknown", "garbage", "expired"])]
fn authenticate_redis(bencher: divan::Bencher<'_, '_>, kind: &str) {
    run(bencher, kind, None);
}

/// The same behind the cache, every lookup a hit (garbage never reaches it).
#[divan::bench(args = ["valid", "unknown", "expired"])]
fn authenticate_redis_cache_hit(bencher: divan::Bencher<'_, '_>, kind: &str) {
    run(bencher, kind, Some(AuthCache::new(10_000)));
}

/// The same behind the cache, every lookup a miss: the store's lookup, then the fill.
#[divan::bench(args = ["valid", "unknown", "expired"])]
fn authenticate_redis_cache_miss(bencher: divan::Bencher<'_, '_>, kind: &str) {
    run(
        bencher,
        kind,
        Some(AuthCache::new(10_000).with_ttl(Duration::ZERO)),
    );
}

/// One `PING` on a connection like the store's (redis's multiplexed
/// `ConnectionManager`), driven the same way: the floor of a lookup, one round trip,
/// measured in the same run. An unknown token is one round trip (its digest's
/// pointer), a valid one two (the pointer, then the record in its user's hash).
#[divan::bench]
fn redis_ping(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let mut conn = rt.block_on(async {
        redis::Client::open(url())
            .expect("a Redis URL")
            .get_connection_manager()
            .await
            .expect("connect to Redis")
    });
    bencher.bench_local(|| {
        let pong: String = rt
            .block_on(redis::cmd("PING").query_async(&mut conn))
            .expect("PING");
        pong
    });
}

fn url() -> String {
    std::env::var("TOKENAUTH_TEST_REDIS_URL").expect(
        "TOKENAUTH_TEST_REDIS_URL is not set: point it at a Redis server \
         (such as redis://127.0.0.1:6379) to run the Redis benchmarks",
    )
}

/// A runtime as the benchmarks drive it: the driver of the connection on its one
/// worker, each lookup `block_on` from the bench's thread.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn run(bencher: divan::Bencher<'_, '_>, kind: &str, cache: Option<AuthCache>) {
    let url = url();
    let rt = runtime();
    let prefix = format!("tokenauth-bench-{}-{kind}", std::process::id());
    let (auth, fixture) = rt.block_on(async {
        let store = RedisStore::connect(&url)
            .await
            .expect("connect to Redis")
            .with_prefix(&prefix)
            .expect("a valid prefix");
        authenticate_bench_service(store, MemoryUserDirectory::new(), cache, TOKENS).await
    });
    let header = fixture.header(kind);
    let expect_ok = kind == "valid";
    bencher.bench(|| {
        let verdict = rt.block_on(auth.authenticate_header(Some(header.as_bytes()), None));
        assert_eq!(verdict.is_ok(), expect_ok);
        verdict
    });
    rt.block_on(auth.store().inner().delete_all_keys())
        .expect("delete the benchmark's keys");
}

/// How many other tokens the store holds.
const TOKENS: usize = 1000;
