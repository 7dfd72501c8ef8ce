//! The full authenticate path on the SQLite store and directory, one request at a
//! time: a valid, an unknown, a garbage (bad checksum) and an expired token, on a
//! database file opened the way `tokenauth serve` opens it ([`tokenauth_sqlx::connect`]);
//! then the same behind an [`AuthCache`]: every lookup a hit, and every lookup a miss
//! (a TTL of zero: the store's lookup plus the cache's bookkeeping).
//!
//! Run with `cargo bench -p tokenauth-sqlx --bench authenticate` (divan); the database
//! lives in `TMPDIR`. The in-memory store's figures are in tokenauth-core's `hot_path`.

use argon2::Params;
use tokenauth_core::{
    AuthCache, Lifespan, ManualClock, PasswordHasher, TokenAuth, TokenRequest,
    time::{Duration, OffsetDateTime},
};
use tokenauth_sqlx::{SqliteStore, SqliteUserDirectory};

fn main() {
    divan::main();
}

/// The full authenticate path, per kind of token, on a store of `TOKENS` tokens.
#[divan::bench(args = ["valid", "unknown", "garbage", "expired"])]
fn authenticate_sqlite(bencher: divan::Bencher<'_, '_>, kind: &str) {
    run(bencher, kind, None);
}

/// The same behind the cache, every lookup a hit (garbage never reaches it).
#[divan::bench(args = ["valid", "unknown", "expired"])]
fn authenticate_sqlite_cache_hit(bencher: divan::Bencher<'_, '_>, kind: &str) {
    run(bencher, kind, Some(AuthCache::new(10_000)));
}

/// The same behind the cache, every lookup a miss: the store's lookup, then the fill.
#[divan::bench(args = ["valid", "unknown", "expired"])]
fn authenticate_sqlite_cache_miss(bencher: divan::Bencher<'_, '_>, kind: &str) {
    run(
        bencher,
        kind,
        Some(AuthCache::new(10_000).with_ttl(Duration::ZERO)),
    );
}

fn run(bencher: divan::Bencher<'_, '_>, kind: &str, cache: Option<AuthCache>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let clock = ManualClock::new(OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time"));
    let (auth, valid, expired) = rt.block_on(async {
        let pool = tokenauth_sqlx::connect(&url).await.expect("open");
        let mut auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool))
            .with_clock(clock.clone())
            // Setting up only: the smallest argon2id memory there is.
            .with_password_hasher(PasswordHasher::with_params(
                Params::new(8, 1, 1, None).expect("params"),
            ))
            .with_token_limit(None);
        if let Some(cache) = cache {
            auth = auth.with_cache(cache);
        }
        let user = auth.upsert_user("alice", "pw", true).await.expect("user").user;
        let short = TokenRequest {
            lifespan: Some("1h".parse::<Lifespan>().expect("lifespan")),
            ..TokenRequest::default()
        };
        let expired = auth.issue(&user.id, short).await.expect("issue");
        clock.advance(Duration::hours(2));
        // Other tokens, so that the lookups go through a real index.
        for _ in 0..TOKENS {
            auth.issue(&user.id, TokenRequest::default())
                .await
                .expect("issue");
        }
        let valid = auth
            .issue(&user.id, TokenRequest::default())
            .await
            .expect("issue");
        (
            auth,
            valid.token.expose_secret().to_owned(),
            expired.token.expose_secret().to_owned(),
        )
    });
    let token = match kind {
        "valid" => valid,
        "unknown" => auth.format().generate().expose_secret().to_owned(),
        "garbage" => {
            let mut garbage = valid;
            let last = garbage.pop().expect("a token is not empty");
            garbage.push(if last == 'A' { 'B' } else { 'A' });
            garbage
        }
        _ => expired,
    };
    let header = format!("Token {token}");
    let expect_ok = kind == "valid";
    bencher.bench(|| {
        let verdict = rt.block_on(auth.authenticate_header(Some(header.as_bytes()), None));
        assert_eq!(verdict.is_ok(), expect_ok);
        verdict
    });
}

/// How many other tokens the store holds.
const TOKENS: usize = 1000;
