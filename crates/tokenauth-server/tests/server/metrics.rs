//! `/metrics`, scraped and parsed as Prometheus would: each metric moves as requests
//! are made, no label names a user, a token or an address, and `--metrics-bind` moves
//! the metrics to a listener of their own.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use prometheus_parse::{Scrape, Value};

use crate::common;

use common::{
    Server, add_user, database_with_alice, expired_token, http, login, obtain, read_until_closed, run_ok,
    tokenauth,
};

/// `GET /metrics` on `addr`, parsed; the raw text too.
async fn scrape(addr: &str) -> (Scrape, String) {
    let (status, body) = http(addr, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|line| Ok(line.to_owned()));
    (Scrape::parse(lines).expect("the Prometheus text format"), body)
}

/// The value of `metric` with exactly `labels`; panics if it is not there.
#[track_caller]
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found = scrape.samples.iter().find(|sample| {
        sample.metric == metric
            && sample.labels.len() == labels.len()
            && labels
                .iter()
                .all(|(name, value)| sample.labels.get(name) == Some(*value))
    });
    match found.map(|sample| &sample.value) {
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        other => panic!("{metric} {labels:?}: {other:?}"),
    }
}

/// Scrapes `addr` until the revocation bus is connected (the cache serves from memory
/// only then); panics if it is not within 10 s.
async fn bus_connected(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (scrape, _) = scrape(addr).await;
        if value(&scrape, "tokenauth_revocation_bus_connected", &[]) == 1.0 {
            return;
        }
        assert!(Instant::now() < deadline, "the bus is not connected after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What moved between two scrapes.
#[track_caller]
fn moved(before: &Scrape, after: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let was = if before.samples.iter().any(|s| s.metric == metric) {
        value(before, metric, labels)
    } else {
        0.0
    };
    value(after, metric, labels) - was
}

#[tokio::test]
async fn each_metric_moves_as_requests_are_made_and_no_label_names_a_user_a_token_or_an_address() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "metrics");
    add_user(&database, "bob", "pw-bob");
    let expired = expired_token(&database).await;
    let (_server, addr) = Server::start(
        &database,
        &[
            "--cache",
            "on",
            "--cache-ttl",
            "1h",
            "--login-throttle",
            "user=2/h:2",
        ],
    );
    let (before, _) = scrape(&addr).await;
    for outcome in ["ok", "expired", "invalid", "inactive", "malformed", "unavailable"] {
        assert_eq!(
            value(
                &before,
                "tokenauth_authentications_total",
                &[("outcome", outcome)]
            ),
            0.0
        );
    }

    // Logins: alice ok, then failed; mallory (unknown) failed twice, then throttled.
    let alice = obtain(&addr, "alice", "pw").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(login(&addr, "alice", "wrong").await.0, 400);
    assert_eq!(login(&addr, "mallory", "a password").await.0, 400);
    assert_eq!(login(&addr, "mallory", "a password").await.0, 400);
    assert_eq!(login(&addr, "mallory", "a password").await.0, 429);
    let bob = obtain(&addr, "bob", "pw-bob").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    run_ok(tokenauth(&database, &["user", "deactivate", "bob"]), "");

    // Authentications: ok twice (the second from the cache, which the SQLite file's
    // bus lets serve once connected), then each refusal.
    bus_connected(&addr).await;
    let me = async |authorization: &str| {
        http(&addr, "GET", "/auth/me", &[("authorization", authorization)], "")
            .await
            .0
    };
    assert_eq!(me(&format!("Token {alice}")).await, 200);
    assert_eq!(me(&format!("Token {alice}")).await, 200);
    assert_eq!(me(&format!("Token {expired}")).await, 401);
    assert_eq!(me("Token 0123456789abcdef0123456789abcdef01234567").await, 401);
    assert_eq!(me(&format!("Token {alice} {alice}")).await, 401);
    // Bob was deactivated after his login, before any request looked him up.
    assert_eq!(me(&format!("Token {bob}")).await, 401);
    let (status, body) = http(
        &addr,
        "POST",
        "/auth/logout",
        &[("authorization", &format!("Token {alice}"))],
        "",
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let (after, text) = scrape(&addr).await;
    let auths = |outcome| {
        moved(
            &before,
            &after,
            "tokenauth_authentications_total",
            &[("outcome", outcome)],
        )
    };
    // The logout authenticated too.
    assert_eq!(auths("ok"), 3.0);
    assert_eq!(auths("expired"), 1.0);
    assert_eq!(auths("invalid"), 1.0);
    assert_eq!(auths("malformed"), 1.0);
    assert_eq!(auths("inactive"), 1.0);
    assert_eq!(auths("unavailable"), 0.0);
    let logins = |outcome| moved(&before, &after, "tokenauth_logins_total", &[("outcome", outcome)]);
    assert_eq!(
        [
            logins("ok"),
            logins("failed"),
            logins("throttled"),
            logins("busy")
        ],
        [2.0, 3.0, 1.0, 0.0]
    );
    assert_eq!(moved(&before, &after, "tokenauth_tokens_issued_total", &[]), 2.0);
    assert_eq!(
        value(&after, "tokenauth_tokens_revoked_total", &[("reason", "logout")]),
        1.0
    );
    assert!(value(&after, "tokenauth_cache_hits_total", &[]) >= 1.0, "{text}");
    assert!(
        value(&after, "tokenauth_cache_misses_total", &[]) >= 1.0,
        "{text}"
    );
    assert_eq!(value(&after, "tokenauth_cache_evictions_total", &[]), 0.0);
    assert_eq!(value(&after, "tokenauth_cache_paused", &[]), 0.0);
    assert_eq!(value(&after, "tokenauth_hash_queue_waiting", &[]), 0.0);
    value(&after, "tokenauth_hash_queue_waits_total", &[]);
    value(&after, "tokenauth_hash_queue_wait_seconds_total", &[]);
    // This scrape's own connection is open.
    assert!(value(&after, "tokenauth_connections_open", &[]) >= 1.0, "{text}");
    let store = [("backend", "SqlStore<Sqlite>"), ("verb", "find_to_authenticate")];
    assert!(
        value(&after, "tokenauth_backend_call_duration_seconds_count", &store) >= 1.0,
        "{text}"
    );
    let logins_read = [("backend", "SqlUserDirectory<Sqlite>"), ("verb", "find_login")];
    assert!(
        value(
            &after,
            "tokenauth_backend_call_duration_seconds_count",
            &logins_read
        ) >= 5.0,
        "{text}"
    );

    // Labels are closed sets: no username, token or address.
    for sample in &after.samples {
        for (name, label) in sample.labels.iter() {
            for secret in ["alice", "bob", "mallory", &alice, &bob, &expired, "127.0.0.1"] {
                assert!(!label.contains(secret), "{}{{{name}={label:?}}}", sample.metric);
            }
        }
    }
}

/// Logins beyond what the hashing queue holds (256 waiting) are answered 503 at once:
/// each is counted as a `busy` login, and the waits of those let in by the queue's
/// counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_beyond_the_hashing_queue_are_counted_busy() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "metrics-busy");
    let unlimited = ["--max-connections", "900", "--max-connections-per-ip", "900"];
    let (_server, addr) = Server::start(
        &database,
        &[&["--login-throttle", "off"][..], &unlimited].concat(),
    );
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..400 {
        let addr = addr.clone();
        logins.spawn(async move { login(&addr, "alice", "pw").await.0 });
    }
    let statuses = logins.join_all().await;
    let busy = statuses.iter().filter(|status| **status == 503).count();
    let ok = statuses.iter().filter(|status| **status == 200).count();
    assert_eq!(busy + ok, statuses.len(), "only 200 and 503: {statuses:?}");
    assert!(busy >= 1, "the queue never filled: {statuses:?}");
    let (scrape, text) = scrape(&addr).await;
    let logins = |outcome| value(&scrape, "tokenauth_logins_total", &[("outcome", outcome)]);
    assert_eq!((logins("busy"), logins("ok")), (busy as f64, ok as f64), "{text}");
    assert!(
        value(&scrape, "tokenauth_hash_queue_waits_total", &[]) >= 1.0,
        "{text}"
    );
}

/// A cache with room for one token evicts as more are presented, and counts it.
#[tokio::test]
async fn a_full_cache_counts_its_evictions() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "metrics-evictions");
    let tokens: Vec<String> = (0..8)
        .map(|_| {
            run_ok(tokenauth(&database, &["token", "create", "alice"]), "")
                .trim()
                .to_owned()
        })
        .collect();
    let (_server, addr) = Server::start(&database, &["--cache-size", "1"]);
    bus_connected(&addr).await;
    let (before, _) = scrape(&addr).await;
    assert_eq!(value(&before, "tokenauth_cache_evictions_total", &[]), 0.0);
    for token in tokens.iter().chain(&tokens) {
        let authorization = format!("Token {token}");
        let (status, body) = http(&addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
        assert_eq!(status, 200, "{body}");
    }
    let (after, text) = scrape(&addr).await;
    assert!(
        value(&after, "tokenauth_cache_evictions_total", &[]) >= 1.0,
        "{text}"
    );
}

#[tokio::test]
async fn metrics_bind_serves_the_metrics_on_a_listener_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "metrics-bind");
    let (_server, printed) = Server::start_printing(
        &database,
        &["--metrics-bind", "127.0.0.1:0", "--max-connections-per-ip", "1"],
        &[],
        2,
    );
    let addr = &printed[0];
    let metrics = printed[1]
        .strip_prefix("metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected second line: {:?}", printed[1]));
    let (status, body) = http(addr, "GET", "/metrics", &[], "").await;
    assert_eq!((status, body.as_str()), (404, r#"{"detail":"Not found."}"#));
    let (status, _) = http(metrics, "GET", "/auth/me", &[], "").await;
    assert_eq!(status, 404, "only /metrics there");

    // The connection of the request above is closed by the client; until the server
    // has seen it go, it still counts against the per-address cap.
    for _ in 0..200 {
        let (scrape, _) = scrape(metrics).await;
        if value(&scrape, "tokenauth_connections_open", &[]) == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // One connection held open (answered, so the server has accepted it); a second
    // from the same address is closed unanswered.
    let mut held = TcpStream::connect(addr).unwrap();
    held.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut head = [0u8; 12];
    std::io::Read::read_exact(&mut held, &mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let mut shed = TcpStream::connect(addr).unwrap();
    let answer = read_until_closed(&mut shed, Duration::from_secs(5), "the connection over the cap");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    let (scrape, text) = scrape(metrics).await;
    let per_ip = [("limit", "max_connections_per_ip")];
    assert_eq!(
        value(&scrape, "tokenauth_connections_shed_total", &per_ip),
        1.0,
        "{text}"
    );
    assert_eq!(value(&scrape, "tokenauth_connections_open", &[]), 1.0, "{text}");
    drop(held);
}

#[test]
fn metrics_off_serves_no_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "metrics-off");
    let (_server, addr) = Server::start(&database, &["--metrics", "off"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, _) = runtime.block_on(http(&addr, "GET", "/metrics", &[], ""));
    assert_eq!(status, 404);
}
