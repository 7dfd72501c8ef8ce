//! The real binary's logs: `--log-format json`, the access log (`tokenauth::access`),
//! request ids (`X-Request-Id`, kept from trusted proxies only), no secret logged even
//! at the most verbose level, and throttled logins logged within the events' rate limit.

use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::Value;
use tokenauth_core::store::TokenDigest;

use crate::common::{Server, add_user, database_with_alice, http, http_with_headers, login, obtain};

/// Stops `server` (SIGTERM); what it logged.
fn stopped_logs(mut server: Server) -> String {
    server.terminate();
    let status = server.exit_within(Duration::from_secs(10));
    assert!(status.success(), "exit status after SIGTERM: {status}");
    server.logs()
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .expect("the response has an X-Request-Id")
        .to_str()
        .unwrap()
        .to_owned()
}

/// A hyphenated UUID (`8-4-4-4-12` hex digits), as the server makes request ids.
fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Every line of `logs`, each of which must be a JSON object.
fn json_lines(logs: &str) -> Vec<Value> {
    logs.lines()
        .map(|line| {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("a line is not JSON ({e}): {line}"));
            assert!(value.is_object(), "a line is not a JSON object: {line}");
            value
        })
        .collect()
}

/// The access lines among `lines`.
fn access_lines(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|line| line["target"] == "tokenauth::access")
        .collect()
}

#[tokio::test]
async fn json_logs_parse_and_each_request_has_an_access_line_with_its_route_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "logs");
    let (server, addr) = Server::start(&database, &["--log-format", "json"]);

    // An id in the path and a secret in the query: the route template is logged instead.
    let (status, headers, _) = http_with_headers(
        &addr,
        "DELETE",
        "/auth/tokens/PathTokenId123?key=QuerySecret456",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 401);
    let revoke_id = request_id(&headers);
    assert!(is_uuid(&revoke_id), "{revoke_id}");
    let (status, headers, body) = http_with_headers(
        &addr,
        "POST",
        "/api-token-auth/",
        &[("content-type", "application/json")],
        r#"{"username":"alice","password":"pw"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let login_id = request_id(&headers);
    assert_ne!(login_id, revoke_id, "each request has an id of its own");
    let (status, headers, _) = http_with_headers(&addr, "GET", "/no/such/route", &[], "").await;
    assert_eq!(status, 404);
    let unrouted_id = request_id(&headers);

    let logs = stopped_logs(server);
    let lines = json_lines(&logs);
    for line in &lines {
        for field in ["timestamp", "level", "target"] {
            assert!(line[field].is_string(), "no {field}: {line}");
        }
    }
    let access = access_lines(&lines);
    assert_eq!(access.len(), 3, "{logs}");
    let revoke = access[0];
    assert_eq!(revoke["level"], "INFO");
    assert_eq!(revoke["method"], "DELETE");
    assert_eq!(revoke["route"], "/auth/tokens/{id}");
    assert_eq!(revoke["status"], 401);
    assert!(
        revoke["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{revoke}"
    );
    assert_eq!(revoke["client"], "127.0.0.1");
    assert_eq!(revoke["request_id"], revoke_id.as_str());
    assert!(!logs.contains("PathTokenId123"), "the path was logged: {logs}");
    assert!(!logs.contains("QuerySecret456"), "the query was logged: {logs}");
    assert_eq!(
        (&access[1]["method"], &access[1]["route"], &access[1]["status"]),
        (&"POST".into(), &"/api-token-auth/".into(), &200.into())
    );
    assert_eq!(access[1]["request_id"], login_id.as_str());
    assert_eq!(
        (&access[2]["route"], &access[2]["status"]),
        (&"-".into(), &404.into())
    );
    assert_eq!(access[2]["request_id"], unrouted_id.as_str());

    // The lines logged while serving the login carry its id, in the request's span.
    let succeeded = lines
        .iter()
        .find(|line| line["event"] == "login_succeeded")
        .unwrap_or_else(|| panic!("no login_succeeded line: {logs}"));
    assert_eq!(succeeded["spans"][0]["name"], "request", "{succeeded}");
    assert_eq!(
        succeeded["spans"][0]["request_id"],
        login_id.as_str(),
        "{succeeded}"
    );
}

#[tokio::test]
async fn a_request_id_is_kept_from_a_trusted_proxy_only() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "ids");

    // The client is not a trusted proxy: its id is replaced.
    let (server, addr) = Server::start(&database, &["--log-format", "json"]);
    let chosen = [("x-request-id", "chosen-by-client")];
    let (status, headers, _) = http_with_headers(&addr, "GET", "/healthz", &chosen, "").await;
    assert_eq!(status, 200);
    let replaced = request_id(&headers);
    assert!(is_uuid(&replaced), "{replaced}");
    let logs = stopped_logs(server);
    assert!(!logs.contains("chosen-by-client"), "{logs}");
    assert_eq!(
        access_lines(&json_lines(&logs))[0]["request_id"],
        replaced.as_str()
    );

    // This test's address is a trusted proxy: its id is kept, if it is short printable
    // ASCII.
    let proxies = ["--log-format", "json", "--trusted-proxies", "127.0.0.1"];
    let (server, addr) = Server::start(&database, &proxies);
    let (_, headers, _) =
        http_with_headers(&addr, "GET", "/healthz", &[("x-request-id", "proxy-7f3a")], "").await;
    assert_eq!(request_id(&headers), "proxy-7f3a");
    let too_long = "a".repeat(201);
    let mut ids = Vec::new();
    for unusable in ["two words", too_long.as_str()] {
        let sent = [("x-request-id", unusable)];
        let (_, headers, _) = http_with_headers(&addr, "GET", "/healthz", &sent, "").await;
        let id = request_id(&headers);
        assert!(is_uuid(&id), "{unusable:?} gave {id:?}");
        ids.push(id);
    }
    let logs = stopped_logs(server);
    let lines = json_lines(&logs);
    let logged: Vec<&Value> = access_lines(&lines)
        .iter()
        .map(|line| &line["request_id"])
        .collect();
    assert_eq!(logged, ["proxy-7f3a", ids[0].as_str(), ids[1].as_str()]);
}

#[tokio::test]
async fn at_the_most_verbose_level_no_token_password_or_digest_is_logged() {
    const PASSWORD: &str = "correct-horse-battery-staple-42";
    const WRONG: &str = "wrong-horse-battery-staple-99";
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("trace.db").display());
    add_user(&database, "carol", PASSWORD);
    let (server, addr) = Server::start_with_env(&database, &[], &[("RUST_LOG", "trace")]);

    let (status, _) = login(&addr, "carol", WRONG).await;
    assert_eq!(status, 400);
    let token = obtain(&addr, "carol", PASSWORD).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let authorization = format!("Token {token}");
    let credentials = [("authorization", authorization.as_str())];
    let (status, headers, body) = http_with_headers(&addr, "GET", "/auth/me", &credentials, "").await;
    assert_eq!(status, 200, "{body}");
    let me_id = request_id(&headers);
    let (status, body) = http(&addr, "POST", "/auth/logout", &credentials, "").await;
    assert_eq!(status, 204, "{body}");

    let logs = stopped_logs(server);
    // The level was raised (sqlx's statements are at DEBUG; nothing here logs at TRACE),
    // every request was logged, and in the text format a request's lines name its id.
    assert!(logs.contains(" DEBUG "), "{logs}");
    assert_eq!(logs.matches(" tokenauth::access: ").count(), 4, "{logs}");
    assert!(logs.contains(&format!("request{{request_id={me_id}}}")), "{logs}");

    let digest = TokenDigest::of(&token);
    let hex: String = digest.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let secrets = [
        ("the token", token.clone()),
        ("the token's end", token[token.len() - 16..].to_owned()),
        ("the password", PASSWORD.to_owned()),
        ("the wrong password", WRONG.to_owned()),
        ("the digest in hex", hex.clone()),
        ("the digest in upper-case hex", hex.to_uppercase()),
        ("the digest's bytes", format!("{:?}", digest.as_bytes())),
    ];
    for (what, secret) in secrets {
        assert!(!logs.contains(&secret), "{what} was logged:\n{logs}");
    }
}

#[tokio::test]
async fn a_storm_of_throttled_logins_is_logged_a_bounded_number_of_times() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "throttled");
    let (server, addr) = Server::start(&database, &["--login-throttle", "ip=1/min"]);
    let password = "a-wrong-password-never-logged";
    assert_eq!(login(&addr, "alice", password).await.0, 400);
    for _ in 0..30 {
        let (status, body) = login(&addr, "alice", password).await;
        assert_eq!(status, 429, "{body}");
    }
    let logs = stopped_logs(server);
    let throttled: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("login_throttled"))
        .collect();
    // The events' rate limit: a burst per address and minute, the rest counted.
    assert_eq!(throttled.len(), tokenauth_core::LOG_BURST as usize, "{logs}");
    assert!(
        throttled
            .iter()
            .all(|line| line.contains("WARN") && line.contains("ip=127.0.0.1")),
        "{logs}"
    );
    assert!(!logs.contains(password), "{logs}");
    assert!(!throttled.iter().any(|line| line.contains("alice")), "{logs}");
}

/// The server writes its lines in batches (logs/batched.rs): the lines of a burst of
/// requests come out while it runs, not only when it stops, each whole.
#[tokio::test]
async fn access_lines_come_out_while_the_server_runs_each_line_whole() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "live");
    let mut child = crate::common::tokenauth(
        &database,
        &["serve", "--bind", "127.0.0.1:0", "--log-format", "json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    // Concurrent requests (within the per-address connection limit), so that both
    // workers serve some.
    const REQUESTS: usize = 200;
    for _ in 0..REQUESTS / 20 {
        let requests = (0..20).map(|_| http(&addr, "GET", "/healthz", &[], ""));
        for (status, _) in futures_util::future::join_all(requests).await {
            assert_eq!(status, 200);
        }
    }

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut access = 0;
    while access < REQUESTS {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines_rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{access} access lines of {REQUESTS} within 5 s"));
        let value: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON line ({e}): {line}"));
        if value["target"] == "tokenauth::access" {
            access += 1;
        }
    }
    assert!(child.try_wait().unwrap().is_none(), "the server still runs");
    let _ = child.kill();
    let _ = child.wait();
}
