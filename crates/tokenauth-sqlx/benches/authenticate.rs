//! The full authenticate path on the SQLite store and directory, one request at a
//! time: a valid, an unknown, a garbage (bad checksum) and an expired token, on a
//! database file opened the way `tokenauth serve` opens it ([`tokenauth_sqlx::sqlite::connect`]),
//! behind a disabled cache as the server runs without `--cache`; then the same behind an
//! [`AuthCache`]: every lookup a hit, and every lookup a miss
//! (a TTL of zero: the store's lookup plus the cache's bookkeeping). The tokens are the
//! same on every backend ([`authenticate_bench_service`]). With `--features
//! postgres`, the same on PostgreSQL (`TOKENAUTH_TEST_POSTGRES_URL`).
//!
//! Run with `cargo bench -p tokenauth-sqlx --bench authenticate [--features postgres]`
//! (divan); the SQLite database lives in `TMPDIR`. The in-memory store's figures are in
//! tokenauth-core's `hot_path`, Redis's in tokenauth-redis's `authenticate`.

use tokenauth_conformance::authenticate_bench_service;
use tokenauth_core::store::{TokenStore, UserAdmin};
use tokenauth_core::{AuthCache, time::Duration};
use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory};

fn main() {
    divan::main();
}

/// The full authenticate path, per kind of token, on a store of `TOKENS` tokens.
#[divan::bench(args = ["valid", "unknown", "garbage", "expired"])]
fn authenticate_sqlite(bencher: divan::Bencher<'_, '_>, kind: &str) {
    sqlite(bencher, kind, None);
}

/// The same behind the cache, every lookup a hit (garbage never reaches it).
#[divan::bench(args = ["valid", "unknown", "expired"])]
fn authenticate_sqlite_cache_hit(bencher: divan::Bencher<'_, '_>, kind: &str) {
    sqlite(bencher, kind, Some(AuthCache::new(10_000)));
}

/// The same behind the cache, every lookup a miss: the store's lookup, then the fill.
#[divan::bench(args = ["valid", "unknown", "expired"])]
fn authenticate_sqlite_cache_miss(bencher: divan::Bencher<'_, '_>, kind: &str) {
    sqlite(bencher, kind, Some(miss_every_time()));
}

fn sqlite(bencher: divan::Bencher<'_, '_>, kind: &str, cache: Option<AuthCache>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    run(bencher, kind, cache, async || {
        let pool = tokenauth_sqlx::sqlite::connect(&url).await.expect("open");
        (SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool))
    });
}

/// The same on PostgreSQL (`--features postgres`), in a schema of its own of the
/// database at `TOKENAUTH_TEST_POSTGRES_URL`, dropped afterwards.
#[cfg(feature = "postgres")]
#[divan::bench(args = ["valid", "unknown", "garbage", "expired"])]
fn authenticate_postgres(bencher: divan::Bencher<'_, '_>, kind: &str) {
    postgres(bencher, kind, None);
}

/// PostgreSQL behind the cache, every lookup a hit.
#[cfg(feature = "postgres")]
#[divan::bench(args = ["valid", "unknown", "expired"])]
fn authenticate_postgres_cache_hit(bencher: divan::Bencher<'_, '_>, kind: &str) {
    postgres(bencher, kind, Some(AuthCache::new(10_000)));
}

/// PostgreSQL behind the cache, every lookup a miss.
#[cfg(feature = "postgres")]
#[divan::bench(args = ["valid", "unknown", "expired"])]
fn authenticate_postgres_cache_miss(bencher: divan::Bencher<'_, '_>, kind: &str) {
    postgres(bencher, kind, Some(miss_every_time()));
}

#[cfg(feature = "postgres")]
fn postgres(bencher: divan::Bencher<'_, '_>, kind: &str, cache: Option<AuthCache>) {
    use sqlx::Connection;
    use tokenauth_sqlx::postgres::{PostgresStore, PostgresUserDirectory};

    let server = std::env::var("TOKENAUTH_TEST_POSTGRES_URL").expect(
        "TOKENAUTH_TEST_POSTGRES_URL is not set: point it at a PostgreSQL database \
         (such as postgres://postgres@127.0.0.1:5432/test) to run the PostgreSQL benchmarks",
    );
    let schema = format!("tokenauth_bench_{}_{kind}", std::process::id());
    let admin = |sql: String| {
        let server = server.clone();
        async move {
            let mut conn = sqlx::PgConnection::connect(&server).await.expect("connect");
            sqlx::raw_sql(&sql).execute(&mut conn).await.expect("schema");
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(admin(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    )));
    let separator = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{separator}options=-csearch_path%3D{schema}");
    run(bencher, kind, cache, async || {
        let pool = tokenauth_sqlx::postgres::connect(&url).await.expect("open");
        (PostgresStore::new(pool.clone()), PostgresUserDirectory::new(pool))
    });
    rt.block_on(admin(format!("DROP SCHEMA {schema} CASCADE")));
}

/// A cache whose entries are stale at once: every lookup misses and fills.
fn miss_every_time() -> AuthCache {
    AuthCache::new(10_000).with_ttl(Duration::ZERO)
}

/// Opens the backend, fills it ([`authenticate_bench_service`]) and benchmarks one
/// authentication of `kind`, one request at a time on a one-worker runtime.
fn run<S: TokenStore, D: UserAdmin>(
    bencher: divan::Bencher<'_, '_>,
    kind: &str,
    cache: Option<AuthCache>,
    open: impl AsyncFnOnce() -> (S, D),
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (auth, fixture) = rt.block_on(async {
        let (store, users) = open().await;
        authenticate_bench_service(store, users, cache, TOKENS).await
    });
    let header = fixture.header(kind);
    let expect_ok = kind == "valid";
    bencher.bench(|| {
        let verdict = rt.block_on(auth.authenticate_header(Some(header.as_bytes()), None));
        assert_eq!(verdict.is_ok(), expect_ok);
        verdict
    });
}

/// How many other tokens the store holds.
const TOKENS: usize = 1000;
