//! The real `tokenauth` binary over raw TCP: malformed, slow and half-sent requests
//! get a 4xx or a clean close, every connection is closed within the configured
//! timeouts, the server keeps serving, and SIGTERM with half-sent requests open
//! completes within the shutdown deadline and still writes the last-used times.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{Server, read_until_closed, run, tokenauth};

/// The configured header and body timeouts.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a connection may stay open past the timeout before the test fails: a
/// bound, not a measurement.
const SLACK: Duration = Duration::from_secs(4);

/// What the server must answer.
#[derive(Clone, Copy)]
enum Expect {
    /// This status, with a JSON `detail`.
    Json(u16),
    /// This status with a JSON `detail` (hyper's own answer to what it cannot parse,
    /// rewritten), or nothing: a reset, when the server closed with our bytes unread.
    JsonOrReset(u16),
    /// Nothing: the request never completes, and the server closes the connection.
    Close,
}

fn corpus() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let get = |headers: &str| get_with(headers.as_bytes());
    let many_headers: String = (0..150).map(|i| format!("X-{i}: v\r\n")).collect();
    let big_section: String = (0..10)
        .map(|i| format!("X-{i}: {}\r\n", "a".repeat(8000)))
        .collect();
    vec![
        ("garbage request line", b"garbage\r\n\r\n".to_vec(), Expect::JsonOrReset(400)),
        ("binary junk", b"\x00\x01\x02\xff\xfe\r\n\r\n".to_vec(), Expect::JsonOrReset(400)),
        ("bad method", b"G\x01T /auth/me HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), Expect::JsonOrReset(400)),
        ("unknown method", b"BREW /auth/me HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), Expect::Json(401)),
        ("bad version", b"GET /auth/me HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(), Expect::JsonOrReset(400)),
        ("bad uri", b"GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), Expect::JsonOrReset(400)),
        ("header line over 8190 bytes", get(&format!("X-Big: {}\r\n", "a".repeat(9000))), Expect::Json(431)),
        ("150 header fields", get(&many_headers), Expect::JsonOrReset(431)),
        ("80 KB header section", get(&big_section), Expect::JsonOrReset(431)),
        ("NUL in a header value", get("X-A: a\0b\r\n"), Expect::JsonOrReset(400)),
        ("header without a colon", get("Nonsense\r\n"), Expect::JsonOrReset(400)),
        ("non-UTF-8 token", get_with(b"Authorization: Token \xff\xfe\r\n"), Expect::Json(401)),
        ("Token without a key", get("Authorization: Token\r\n"), Expect::Json(401)),
        ("Token with spaces", get("Authorization: Token a b\r\n"), Expect::Json(401)),
        ("malformed token", get(&format!("Authorization: Token tka_{}\r\n", "A".repeat(60))), Expect::Json(401)),
        ("Bearer alone", get("Authorization: Bearer\r\n"), Expect::Json(400)),
        ("huge token", get(&format!("Authorization: Token {}\r\n", "A".repeat(8000))), Expect::Json(401)),
        (
            "invalid chunked encoding",
            b"POST /api-token-auth/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec(),
            Expect::Json(400),
        ),
        (
            "Content-Length not a number",
            b"POST /api-token-auth/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(),
            Expect::JsonOrReset(400),
        ),
        (
            "two different Content-Lengths",
            b"POST /api-token-auth/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(),
            Expect::JsonOrReset(400),
        ),
        (
            "Content-Length longer than the body (a half-sent body)",
            b"POST /api-token-auth/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\": ".to_vec(),
            Expect::Json(400),
        ),
        ("half-sent head", b"GET /auth/me HTTP/1.1\r\nHost: x\r\n".to_vec(), Expect::Close),
        ("half-sent request line", b"GET /auth/me HT".to_vec(), Expect::Close),
        ("nothing sent", Vec::new(), Expect::Close),
    ]
}

/// `GET /auth/me` with these header lines.
fn get_with(headers: &[u8]) -> Vec<u8> {
    [b"GET /auth/me HTTP/1.1\r\nHost: x\r\n", headers, b"\r\n"].concat()
}

/// Checks one answer against what was expected.
fn check(name: &str, answer: &[u8], expect: Expect) {
    let text = String::from_utf8_lossy(answer);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok());
    match expect {
        Expect::Json(code) => {
            assert_eq!(status, Some(code), "{name}: {text}");
            assert!(
                text.contains("\r\ncontent-type: application/json\r\n"),
                "{name}: {text}"
            );
            assert!(text.contains("\r\n\r\n{\"detail\":"), "{name}: {text}");
        }
        Expect::JsonOrReset(_) if answer.is_empty() => {}
        Expect::JsonOrReset(code) => check(name, answer, Expect::Json(code)),
        Expect::Close => assert!(answer.is_empty(), "{name}: {text}"),
    }
    assert!(!text.starts_with("HTTP/1.1 5"), "{name}: {text}");
}

fn start(database: &str, extra: &[&str]) -> (Server, String) {
    let timeout = format!("{}s", TIMEOUT.as_secs());
    let mut args = vec!["--header-timeout", &timeout, "--body-timeout", &timeout];
    args.extend_from_slice(extra);
    Server::start(database, &args)
}

#[test]
fn malformed_and_half_sent_requests_get_a_4xx_or_a_close_within_the_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("hostile.db").display());
    let (mut server, addr) = start(&database, &[]);

    // Every connection at once: each must be closed within the timeout (keep-alive
    // ones by the header timeout, as they wait for a next request), so the test takes
    // about one timeout whatever the corpus size.
    let (done, answers) = mpsc::channel();
    for (name, request, expect) in corpus() {
        let (addr, done) = (addr.clone(), done.clone());
        thread::spawn(move || {
            let mut stream = TcpStream::connect(&addr).unwrap();
            // The server may close before reading it all (a header section over its
            // limit): then writing fails, and the answer tells.
            let _ = stream.write_all(&request);
            let answer = read_until_closed(&mut stream, TIMEOUT + SLACK, name);
            check(name, &answer, expect);
            done.send(name).unwrap();
        });
    }
    // A slow client: a byte at a time, never finishing its headers.
    let slow_addr = addr.clone();
    let slow = thread::spawn(move || {
        let mut stream = TcpStream::connect(slow_addr).unwrap();
        let start = std::time::Instant::now();
        for byte in b"GET /auth/me HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .chain(std::iter::repeat(&b'a'))
        {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            // The server closing shows as a failed write, or as EOF below.
            stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            let mut buf = [0; 64];
            match std::io::Read::read(&mut stream, &mut buf) {
                Ok(_) => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
            assert!(
                start.elapsed() < TIMEOUT + SLACK,
                "a slow client is still connected"
            );
        }
    });
    drop(done);
    let count = corpus().len();
    for _ in 0..count {
        answers
            .recv_timeout(TIMEOUT + SLACK + SLACK)
            .expect("every request was answered or closed in time (see the failed thread)");
    }
    slow.join().expect("the slow client was cut off in time");

    // Still serving.
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut stream, SLACK, "healthz");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nok"),
        "{answer}"
    );

    server.terminate();
    assert!(server.0.wait().unwrap().success());
    let logs = server.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}

#[test]
fn sigterm_with_half_sent_requests_open_ends_within_the_deadline_and_writes_last_used() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database_with_alice(&dir, "sigterm");
    let created = run(tokenauth(&database, &["token", "create", "alice"]), "");
    let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();

    // Timeouts far longer than the deadline: only the deadline can end these requests.
    let (mut server, addr) = Server::start(
        &database,
        &[
            "--header-timeout",
            "60s",
            "--body-timeout",
            "60s",
            "--shutdown-deadline",
            "1s",
        ],
    );

    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Token {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let answer = read_until_closed(&mut stream, SLACK, "/auth/me");
    assert!(
        answer.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A request whose handler waits for the rest of its body, and one without its end
    // of headers.
    let mut half_body = TcpStream::connect(&addr).unwrap();
    half_body
        .write_all(b"POST /api-token-auth/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    let mut half_head = TcpStream::connect(&addr).unwrap();
    half_head
        .write_all(b"GET /auth/me HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // The server has read them once it answers a later request.
    let mut probe = TcpStream::connect(&addr).unwrap();
    probe
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    read_until_closed(&mut probe, SLACK, "healthz");

    server.terminate();
    let status = server.exit_within(Duration::from_secs(1) + SLACK);
    assert!(status.success(), "{status}");
    let logs = server.logs();
    assert!(logs.contains("shutdown deadline passed"), "{logs}");
    read_until_closed(&mut half_body, SLACK, "half-sent body");
    read_until_closed(&mut half_head, SLACK, "half-sent head");

    // The use of /auth/me was written after the deadline dropped the connections.
    let listed = run(tokenauth(&database, &["token", "list", "--user", "alice"]), "");
    let listed = String::from_utf8(listed.stdout).unwrap();
    let header: Vec<&str> = listed.lines().next().unwrap().split_whitespace().collect();
    let row: Vec<&str> = listed.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(header[4], "LAST", "{listed}");
    time::OffsetDateTime::parse(row[4], &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("last used {:?} ({e}) in {listed}", row[4]));
}
