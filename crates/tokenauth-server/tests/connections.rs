//! The real `tokenauth` binary: a client that pipelines requests and never reads the
//! answers loses its connection within the write timeout while others are served.

mod common;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Server, http, read_until_closed};

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
