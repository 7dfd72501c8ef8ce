//! What one request costs in the core, without HTTP or a database: generating a
//! token, reading a header (parse, checksum, digest), the whole authenticate path on
//! the in-memory store (a valid, an unknown, a garbage and an expired token), and a
//! the same with the token and its user in an [`AuthCache`] (a hit, with and without
//! a backend timeout, as the server runs it), a valid token with and without an event
//! hook counting outcomes (the server's metrics), and a login's password verification per
//! hasher setting.
//!
//! Run with `cargo bench -p tokenauth-core --bench hot_path` (divan; `-- NAME` filters).
//! The SQLite store's authenticate path is in tokenauth-sqlx's `authenticate` bench.

use std::sync::atomic::{AtomicU64, Ordering};

use argon2::Params;
use tokenauth_core::{
    AuthCache, AuthEvent, AuthOutcome, EventHook, Lifespan, ManualClock, MemoryStore, MemoryUserDirectory,
    PasswordHasher, TokenAuth, TokenFormat, TokenRequest, time::OffsetDateTime,
};

fn main() {
    divan::main();
}

type Auth = TokenAuth<MemoryStore, MemoryUserDirectory>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A service with one user holding one live token, on a clock that tests move; the
/// token and an expired one of the same user.
fn service(rt: &tokio::runtime::Runtime) -> (Auth, ManualClock, String, String) {
    let clock = ManualClock::new(OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time"));
    let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new())
        .with_clock(clock.clone())
        .with_password_hasher(cheap_hasher());
    rt.block_on(async {
        let user = auth.upsert_user("alice", "pw", true).await.expect("user").user;
        let short = TokenRequest {
            lifespan: Some("1h".parse::<Lifespan>().expect("lifespan")),
            ..TokenRequest::default()
        };
        let expired = auth.issue(&user.id, short).await.expect("issue");
        clock.advance(tokenauth_core::time::Duration::hours(2));
        let live = auth
            .issue(&user.id, TokenRequest::default())
            .await
            .expect("issue");
        (
            auth,
            clock,
            live.token.expose_secret().to_owned(),
            expired.token.expose_secret().to_owned(),
        )
    })
}

/// argon2id at the smallest memory argon2 allows: for setting up, not for measuring.
fn cheap_hasher() -> PasswordHasher {
    PasswordHasher::with_params(Params::new(8, 1, 1, None).expect("params"))
}

#[divan::bench]
fn generate_token(bencher: divan::Bencher<'_, '_>) {
    let format = TokenFormat::default();
    bencher.bench(|| format.generate());
}

/// `Authorization: Token <key>` to a digest: split, checksum, SHA-256.
#[divan::bench]
fn header_parse_checksum_digest(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let (auth, _clock, token, _) = service(&rt);
    let header = format!("Token {token}");
    bencher.bench(|| {
        let token = auth
            .token_from_header(Some(divan::black_box(header.as_bytes())))
            .expect("parses")
            .expect("a token");
        auth.format().digest_if_well_formed(token).expect("well formed")
    });
}

/// The full authenticate path on the in-memory store, per kind of token.
#[divan::bench(args = ["valid", "unknown", "garbage", "expired"])]
fn authenticate_memory(bencher: divan::Bencher<'_, '_>, kind: &str) {
    let rt = runtime();
    let (auth, _clock, valid, expired) = service(&rt);
    let token = match kind {
        "valid" => valid,
        "unknown" => auth.format().generate().expose_secret().to_owned(),
        "garbage" => garbage(&valid),
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

/// A valid token without an event hook, and with one counting outcomes as the
/// server's metrics do (an atomic add per authentication): what metrics cost the core.
#[divan::bench(args = ["no-hook", "counting-hook"])]
fn authenticate_hooked(bencher: divan::Bencher<'_, '_>, kind: &str) {
    let rt = runtime();
    let (auth, _clock, valid, _) = service(&rt);
    let auth = if kind == "counting-hook" {
        auth.with_event_hook(Counting::default())
    } else {
        auth
    };
    let header = format!("Token {valid}");
    bencher.bench(|| {
        let verdict = rt.block_on(auth.authenticate_header(Some(header.as_bytes()), None));
        assert!(verdict.is_ok());
        verdict
    });
}

/// Counts authentications by outcome.
#[derive(Default)]
struct Counting([AtomicU64; AuthOutcome::ALL.len()]);

impl EventHook for Counting {
    fn on_event(&self, _: &AuthEvent) {}

    fn on_authentication(&self, outcome: AuthOutcome) {
        if let Some(i) = AuthOutcome::ALL.iter().position(|o| *o == outcome) {
            self.0[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A valid token served from the cache: the path of every request but the first
/// within the TTL. `bounded` sets a backend timeout, as the server does.
#[divan::bench(args = ["unbounded", "bounded"])]
fn authenticate_cache_hit(bencher: divan::Bencher<'_, '_>, kind: &str) {
    let rt = runtime();
    let (auth, _clock, valid, _) = service(&rt);
    let timeout = (kind == "bounded").then(|| std::time::Duration::from_secs(5));
    let auth = auth
        .with_cache(AuthCache::default())
        .with_backend_timeout(timeout);
    let header = format!("Token {valid}");
    rt.block_on(auth.authenticate_header(Some(header.as_bytes()), None))
        .expect("valid");
    bencher.bench(|| {
        let verdict = rt.block_on(auth.authenticate_header(Some(header.as_bytes()), None));
        assert!(verdict.is_ok());
        verdict
    });
}

/// `token` with its last character changed: well formed, bad checksum.
fn garbage(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let last = chars.last_mut().expect("a token is not empty");
    *last = if *last == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// One login's password verification, per argon2id setting: the default (OWASP:
/// 19 MiB, 2 passes) and two cheaper ones an application might choose.
#[divan::bench(args = ["owasp-19MiB-t2", "9MiB-t4", "4MiB-t1"], sample_count = 20, sample_size = 1)]
fn login_verify(bencher: divan::Bencher<'_, '_>, setting: &str) {
    let params = match setting {
        "owasp-19MiB-t2" => Params::new(19 * 1024, 2, 1, None),
        "9MiB-t4" => Params::new(9 * 1024, 4, 1, None),
        _ => Params::new(4 * 1024, 1, 1, None),
    }
    .expect("params");
    let rt = runtime();
    let hasher = PasswordHasher::with_params(params);
    let hash = rt.block_on(hasher.hash("correct horse")).expect("hash");
    bencher.bench(|| {
        rt.block_on(hasher.verify("correct horse", Some(hash.as_str())))
            .expect("verifies")
    });
}
