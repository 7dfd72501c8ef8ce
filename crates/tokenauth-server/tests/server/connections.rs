//! The real `tokenauth` binary: a client that pipelines requests and never reads the
//! answers loses its connection within the write timeout while others are served, and
//! SIGTERM drains (`/readyz` 503, requests still served) before connections are
//! refused.

use crate::common;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Server, http, read_until_closed, run, tokenauth};

/// How long past a deadline the test waits for what it bounds: a bound, not a
/// measurement.
const SLACK: Duration = Duration::from_secs(4);

/// Connects with a small receive buffer (so the client's window closes after a few
/// KiB), pipelines `GET /healthz` until the server stops taking requests (its answers
/// fill both sides' buffers) or closes the connection, and never reads; the connection.
async fn pipeline_without_reading(addr: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        let requests = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(256);
        stream
            .set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut sent = 0;
        loop {
            match stream.write(&requests) {
                Ok(n) => sent += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                // Closed already: the server's answers stalled while it still read.
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => break,
                Err(e) => panic!("pipelining failed after {sent} bytes: {e}"),
            }
            assert!(
                sent < 1 << 30,
                "the server went on taking requests it could not answer"
            );
        }
        stream
    })
    .await
    .unwrap()
}

/// Whether the server has closed `stream`, found without reading from it: writing to
/// a connection the server dropped (with our requests unread: a reset) fails.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    match stream.write(b"G") {
        Ok(_) => false,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => true,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_within_the_write_timeout_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("stalled.db").display());
    // Header and body timeouts far longer: only the write timeout can close it.
    let (mut server, addr) = Server::start(
        &database,
        &[
            "--write-timeout",
            "1s",
            "--header-timeout",
            "60s",
            "--body-timeout",
            "60s",
        ],
    );

    let mut stalled = pipeline_without_reading(&addr).await;
    let stalled_at = Instant::now();

    // Meanwhile, another client is answered.
    let (status, body) = http(&addr, "GET", "/healthz", &[], "").await;
    assert_eq!((status, body.as_str()), (200, "ok"));

    let mut stalled = tokio::task::spawn_blocking(move || {
        while !closed_by_server(&mut stalled) {
            assert!(
                stalled_at.elapsed() < Duration::from_secs(1) + SLACK,
                "a client that reads nothing is still connected"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        stalled
    })
    .await
    .unwrap();
    // And reading shows the end of it too (after the answers that got through).
    read_until_closed(&mut stalled, SLACK, "the stalled connection");

    let (status, body) = http(&addr, "GET", "/healthz", &[], "").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    server.terminate();
    assert!(server.exit_within(SLACK).success());
    let logs = server.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}

/// Sends `GET path` with `headers` on a connection of its own: the status and body,
/// or `None` if the connection is refused.
fn try_get(addr: &str, path: &str, headers: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let answer = read_until_closed(&mut stream, SLACK, path);
    let answer = String::from_utf8(answer).unwrap();
    let status = answer.get(9..12).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Some((status, body.to_owned()))
}

#[test]
fn sigterm_drains_readyz_503_while_requests_are_served_then_refuses_and_exits() {
    const DRAIN: Duration = Duration::from_secs(2);
    let dir = tempfile::tempdir().unwrap();
    let database = common::database_with_alice(&dir, "drain");
    let created = run(tokenauth(&database, &["token", "create", "alice"]), "");
    let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let authorization = format!("Authorization: Token {token}\r\n");
    let (mut server, addr) = Server::start(
        &database,
        &[
            "--drain",
            "2s",
            "--shutdown-deadline",
            "5s",
            "--header-timeout",
            "60s",
        ],
    );
    assert_eq!(
        try_get(&addr, "/readyz", ""),
        Some((200, r#"{"status":"ready"}"#.to_owned()))
    );
    // A request in progress (its head half-sent) keeps the server in its shutdown
    // deadline after the drain, when new connections are refused.
    let mut in_progress = TcpStream::connect(&addr).unwrap();
    in_progress
        .write_all(b"GET /auth/me HTTP/1.1\r\nHost: x\r\n")
        .unwrap();

    let signalled = Instant::now();
    server.terminate();
    // The signal is handled asynchronously: /readyz turns to 503 soon after it.
    let draining = loop {
        let answer = try_get(&addr, "/readyz", "").expect("accepting during the drain");
        if answer.0 == 503 {
            break answer;
        }
        assert_eq!(answer.0, 200, "{answer:?}");
        assert!(signalled.elapsed() < DRAIN, "/readyz still ready after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        draining.1,
        r#"{"detail":"Not ready: the server is shutting down."}"#
    );
    // Requests are still served, on new connections.
    let (status, body) = try_get(&addr, "/auth/me", &authorization).expect("accepting during the drain");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""username":"alice""#), "{body}");
    assert_eq!(try_get(&addr, "/healthz", ""), Some((200, "ok".to_owned())));
    assert!(
        signalled.elapsed() < DRAIN,
        "the checks took longer than the drain: its bound is too short for this machine"
    );

    while TcpStream::connect(&addr).is_ok() {
        assert!(
            signalled.elapsed() < DRAIN + SLACK,
            "still accepting connections long after the drain"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        signalled.elapsed() >= DRAIN,
        "connections refused before the drain ended"
    );
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "exited before its shutdown deadline"
    );

    let status = server.exit_within(Duration::from_secs(5) + SLACK);
    assert!(status.success(), "{status}");
    read_until_closed(&mut in_progress, SLACK, "the request in progress");
    let logs = server.logs();
    assert!(logs.contains("draining"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}
