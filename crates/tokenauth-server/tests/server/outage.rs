//! The real `tokenauth` binary when its database goes away: requests fail fast with
//! 503, a JSON `detail` and `Retry-After`, `/readyz` says so while `/healthz` stays
//! 200, and everything works again when the database is back, without a restart.
//!
//! SQLite: another connection holds the database's write lock past the busy timeout
//! (runs in a plain `cargo test`). PostgreSQL (ignored by default; run with
//! `TOKENAUTH_TEST_POSTGRES_URL` and `--ignored`, as `.ci/run` does): the server
//! reaches the shared server through a TCP proxy in the test, which is cut (listener
//! and connections closed), stalled (connections held open, nothing forwarded) and
//! restored on the same port; PostgreSQL itself is never stopped.
//!
//! No test measures time: every request has a client timeout (20 s) far above the
//! server's `--store-timeout 1s`, so a request that hangs fails the test.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use common::postgres::Schema;
use common::{Server, add_user, database_with_alice, http_with_headers, run, tokenauth};
use serde_json::Value;
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// How long the test waits for any answer: far above the server's store timeout.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

const UNAVAILABLE: &str = r#"{"detail":"Service temporarily unavailable, try again later."}"#;
const NOT_READY: &str = r#"{"detail":"Not ready: the token store or the user directory does not answer."}"#;
const READY: &str = r#"{"status":"ready"}"#;

/// An answer: status, headers, body.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    #[track_caller]
    fn assert(&self, status: u16, body: &str, what: &str) {
        assert_eq!((self.status, self.body.as_str()), (status, body), "{what}");
    }

    #[track_caller]
    fn assert_status(&self, status: u16) {
        assert_eq!(self.status, status, "{}", self.body);
    }

    /// 503, the JSON detail, `Retry-After`.
    #[track_caller]
    fn assert_unavailable(&self, body: &str, what: &str) {
        self.assert(503, body, what);
        assert_eq!(self.headers["content-type"], "application/json", "{what}");
        assert_eq!(self.headers["retry-after"], "5", "{what}");
    }
}

/// One request to the server at `addr`; panics if no answer comes within
/// [`CLIENT_TIMEOUT`].
async fn send(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
    let authorization = token.map(|token| format!("Token {token}"));
    let mut headers = vec![("content-type", "application/json")];
    headers.extend(authorization.as_deref().map(|value| ("authorization", value)));
    let exchange = http_with_headers(addr, method, path, &headers, body);
    let (status, headers, body) = tokio::time::timeout(CLIENT_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer within {CLIENT_TIMEOUT:?}"));
    Answer {
        status,
        headers,
        body,
    }
}

async fn login(addr: &str) -> Answer {
    send(
        addr,
        "POST",
        "/api-token-auth/",
        None,
        r#"{"username":"alice","password":"pw"}"#,
    )
    .await
}

/// `tokenauth serve` on `database`, with a short store timeout, no login throttle (the
/// test logs in more often than a person would) and no cache, so that every request
/// reaches the database: with the cache (the default) a known token is served through
/// an outage until its revocation signal is proven late, at most 1 s (the `cache` and
/// `instances` tests hold that bound).
fn serve(database: &str) -> (Server, String) {
    const OPTIONS: &[&str] = &[
        "--store-timeout",
        "1s",
        "--login-throttle",
        "off",
        "--cache",
        "off",
    ];
    Server::start(database, OPTIONS)
}

/// The server answers normally.
async fn assert_serving(addr: &str, token: &str, what: &str) {
    let me = send(addr, "GET", "/auth/me", Some(token), "").await;
    assert_eq!(me.status, 200, "{what}: {}", me.body);
    send(addr, "GET", "/readyz", None, "")
        .await
        .assert(200, READY, what);
    log_in(addr, what).await;
}

/// Logs in, which must succeed; the token.
async fn log_in(addr: &str, what: &str) -> String {
    let answer = login(addr).await;
    assert_eq!(answer.status, 200, "{what}: login: {}", answer.body);
    let json: Value = serde_json::from_str(&answer.body).unwrap();
    json["token"].as_str().expect("a token").to_owned()
}

/// The server answers every request that needs the database with 503, and is alive.
async fn assert_unavailable(addr: &str, token: &str, what: &str) {
    send(addr, "GET", "/auth/me", Some(token), "")
        .await
        .assert_unavailable(UNAVAILABLE, &format!("{what}: /auth/me"));
    login(addr)
        .await
        .assert_unavailable(UNAVAILABLE, &format!("{what}: login"));
    send(addr, "POST", "/auth/logout", Some(token), "")
        .await
        .assert_unavailable(UNAVAILABLE, &format!("{what}: logout"));
    send(addr, "GET", "/auth/tokens", Some(token), "")
        .await
        .assert_unavailable(UNAVAILABLE, &format!("{what}: token list"));
    send(addr, "GET", "/readyz", None, "")
        .await
        .assert_unavailable(NOT_READY, &format!("{what}: /readyz"));
    send(addr, "GET", "/healthz", None, "")
        .await
        .assert(200, "ok", &format!("{what}: /healthz"));
}

/// The sum of `metric`'s samples in the Prometheus text `scrape` whose label
/// `label.0` is `label.1` (every sample for an empty `label.0`).
fn total(scrape: &str, metric: &str, label: (&str, &str)) -> f64 {
    let parsed = prometheus_parse::Scrape::parse(scrape.lines().map(|line| Ok(line.to_owned())))
        .expect("the Prometheus text format");
    parsed
        .samples
        .iter()
        .filter(|sample| {
            sample.metric == metric && (label.0.is_empty() || sample.labels.get(label.0) == Some(label.1))
        })
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{metric}: {other:?}"),
        })
        .sum()
}

/// Stops the server with SIGTERM, which must succeed; what it logged, with no panic.
fn stop(mut server: Server) -> String {
    server.terminate();
    let status = server.exit_within(CLIENT_TIMEOUT);
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let logs = server.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    logs
}

#[tokio::test]
async fn sqlite_locked_past_the_busy_timeout_is_503_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "locked");
    let (server, addr) = serve(&database);
    let token = log_in(&addr, "first login").await;
    assert_serving(&addr, &token, "before the lock").await;

    // Another process holds the write lock. Under WAL, readers go on (no lock keeps
    // them out while the server is connected): requests that only read are served,
    // those that write get 503 once the busy timeout passes.
    let mut locker = sqlx::SqliteConnection::connect(&database).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut locker).await.unwrap();
    let me = send(&addr, "GET", "/auth/me", Some(&token), "").await;
    assert_eq!(me.status, 200, "reads under a write lock: {}", me.body);
    login(&addr)
        .await
        .assert_unavailable(UNAVAILABLE, "login under a write lock");
    send(&addr, "POST", "/auth/logout", Some(&token), "")
        .await
        .assert_unavailable(UNAVAILABLE, "logout under a write lock");
    // Readiness reads too: the database answers.
    send(&addr, "GET", "/readyz", None, "")
        .await
        .assert(200, READY, "ready under a write lock");
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    locker.close().await.unwrap();
    assert_serving(&addr, &token, "after the lock").await;
    send(&addr, "POST", "/auth/logout", Some(&token), "")
        .await
        .assert_status(204);

    // SQLite's own busy timeout answered, not the backstop.
    let logs = stop(server);
    assert!(logs.contains("database is locked"), "{logs}");
    assert!(!logs.contains("did not answer within"), "{logs}");
}

/// A TCP proxy to `target`, on a port that stays the same when it is cut and restored.
struct Proxy {
    port: u16,
    target: String,
    /// Whether connections forward (`false`) or are held open in silence (`true`).
    stalled: tokio::sync::watch::Sender<bool>,
    state: Arc<Mutex<ProxyState>>,
}

#[derive(Default)]
struct ProxyState {
    /// The accept loop, while the proxy listens.
    accept: Option<tokio::task::JoinHandle<()>>,
    /// Every connection in progress, forwarding or held.
    connections: JoinSet<()>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            port: listener.local_addr().unwrap().port(),
            target,
            stalled: tokio::sync::watch::Sender::new(false),
            state: Arc::default(),
        };
        proxy.listen(listener);
        proxy
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn listen(&self, listener: TcpListener) {
        let state = Arc::clone(&self.state);
        let target = self.target.clone();
        let stalled = self.stalled.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let connection = forward(client, target.clone(), stalled.subscribe());
                state.lock().unwrap().connections.spawn(connection);
            }
        });
        self.state.lock().unwrap().accept = Some(accept);
    }

    /// Closes the listener and every connection: the port is closed.
    async fn cut(&self) {
        let (accept, mut connections) = {
            let mut state = self.state.lock().unwrap();
            (state.accept.take(), std::mem::take(&mut state.connections))
        };
        if let Some(accept) = accept {
            accept.abort();
            let _ = accept.await;
        }
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }

    /// Holds every connection open, the existing ones and new ones, and forwards
    /// nothing more: a server that stopped answering.
    fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Closes everything, then listens again on the same port and forwards.
    async fn restore(&self) {
        self.cut().await;
        self.stalled.send_replace(false);
        let listener = TcpListener::bind(self.addr())
            .await
            .unwrap_or_else(|error| panic!("cannot listen on the proxy's port {} again: {error}", self.port));
        self.listen(listener);
    }
}

/// Forwards between `client` and `target` until either closes or the proxy stalls;
/// then holds both sockets open, silent, until the task is aborted.
async fn forward(mut client: TcpStream, target: String, mut stalled: tokio::sync::watch::Receiver<bool>) {
    let mut server = None;
    if !*stalled.borrow_and_update() {
        let Ok(mut upstream) = TcpStream::connect(&target).await else {
            return;
        };
        let stall = tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => false,
            _ = stalled.wait_for(|stalled| *stalled) => true,
        };
        if !stall {
            return;
        }
        server = Some(upstream);
    }
    let _held = (client, server);
    std::future::pending::<()>().await;
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap();
        if let Some(accept) = state.accept.take() {
            accept.abort();
        }
        state.connections.abort_all();
    }
}

// Several threads: the proxy's tasks must run while the test blocks on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn postgres_cut_stalled_and_restored() {
    let schema = Schema::create().await;
    add_user(&schema.database(), "alice", "pw");
    let proxy = Proxy::start(schema.server_addr()).await;
    let (server, addr) = serve(&schema.database_via(&proxy.addr()));
    let token = log_in(&addr, "first login").await;
    assert_serving(&addr, &token, "through the proxy").await;

    proxy.cut().await;
    assert_unavailable(&addr, &token, "proxy cut").await;
    proxy.restore().await;
    assert_serving(&addr, &token, "after the cut").await;

    // A server that stops answering on open connections, without closing them.
    proxy.stall();
    assert_unavailable(&addr, &token, "proxy stalled").await;
    proxy.restore().await;
    assert_serving(&addr, &token, "after the stall").await;
    // Each outage's /auth/me, logout and token list could not authenticate: counted as
    // such, and the calls that failed as the backend's errors.
    let metrics = send(&addr, "GET", "/metrics", None, "").await;
    metrics.assert_status(200);
    assert!(
        total(
            &metrics.body,
            "tokenauth_authentications_total",
            ("outcome", "unavailable")
        ) >= 6.0,
        "{}",
        metrics.body
    );
    assert!(
        total(
            &metrics.body,
            "tokenauth_backend_errors_total",
            ("kind", "unavailable")
        ) >= 1.0,
        "{}",
        metrics.body
    );
    send(&addr, "POST", "/auth/logout", Some(&token), "")
        .await
        .assert_status(204);

    // Both were seen by the pool: it checks an idle connection before handing it out,
    // within its acquire timeout, so a stalled one times out there too.
    let logs = stop(server);
    assert!(logs.contains("pool timed out"), "{logs}");
}

/// Scrapes `addr`'s `/metrics` until `tokenauth_revocation_bus_connected` and
/// `tokenauth_cache_paused` read `connected` and `paused`; panics after 20 s.
async fn await_bus_metrics(addr: &str, connected: f64, paused: f64, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = send(addr, "GET", "/metrics", None, "").await;
        metrics.assert_status(200);
        let bus = total(&metrics.body, "tokenauth_revocation_bus_connected", ("", ""));
        let cache = total(&metrics.body, "tokenauth_cache_paused", ("", ""));
        if (bus, cache) == (connected, paused) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: bus connected {bus}, cache paused {cache} after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// Several threads: the proxy's tasks must run while the test blocks on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn a_cut_bus_shows_in_the_metrics_and_pauses_the_cache_until_it_reconnects() {
    let schema = Schema::create().await;
    add_user(&schema.database(), "alice", "pw");
    let proxy = Proxy::start(schema.server_addr()).await;
    // The cache's default: on, following PostgreSQL's LISTEN through the proxy.
    let (_server, addr) = Server::start(
        &schema.database_via(&proxy.addr()),
        &["--store-timeout", "1s", "--login-throttle", "off"],
    );
    await_bus_metrics(&addr, 1.0, 0.0, "at start").await;
    proxy.cut().await;
    await_bus_metrics(&addr, 0.0, 1.0, "proxy cut").await;
    proxy.restore().await;
    await_bus_metrics(&addr, 1.0, 0.0, "after the cut").await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn postgres_on_a_closed_port_fails_fast_with_a_clear_error() {
    let schema = Schema::create().await;
    // A port nobody listens on: bound, then closed.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let database = schema.database_via(&closed.to_string());
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let output = run(tokenauth(&database, &["serve", "--store-timeout", "1s"]), "");
        let _ = sender.send(output);
    });
    let output = receiver
        .recv_timeout(CLIENT_TIMEOUT)
        .expect("serve on a closed port exits instead of hanging");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "error: database error: cannot reach the database at {closed}: connection refused"
        )),
        "{stderr}"
    );
}
