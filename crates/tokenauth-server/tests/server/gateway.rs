//! A real nginx in front of an application that is not tokenauth, asking the real
//! `tokenauth serve` about every request with `auth_request` (forward auth,
//! `/auth/verify`). The configuration is `docs/gateway/nginx.conf`, the file
//! `docs/gateway.md` shows, with its three addresses replaced by ports of the test's
//! own; nginx runs as a child of the test in a temporary prefix (no root needed) and is
//! killed when the test ends.
//!
//! Ignored by a plain `cargo test`: run with `TOKENAUTH_TEST_NGINX` naming the nginx
//! binary (`/usr/sbin/nginx`) and `--ignored`, as `.ci/run` does.

use crate::common;

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use common::{Server, database_with_alice, expired_token, http_with_headers, run_ok, tokenauth};
use serde_json::Value;

/// The configuration docs/gateway.md shows.
const NGINX_CONF: &str = include_str!("../../../../docs/gateway/nginx.conf");

const NOT_PROVIDED: &str = r#"{"detail":"Authentication credentials were not provided."}"#;
const INVALID_TOKEN: &str = r#"{"detail":"Invalid token"}"#;
const EXPIRED: &str = r#"{"detail":"Token has expired"}"#;
const FORBIDDEN: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

/// A request the application received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    /// The values of header `name`, as text.
    fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect()
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// The application behind nginx: answers every request with 200 `upstream` and
/// records what it received.
async fn start_app() -> (String, Log) {
    async fn record(
        State(log): State<Log>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: String,
    ) -> &'static str {
        let path = uri.path().to_owned();
        log.lock().unwrap().push(Seen {
            method,
            path,
            headers,
            body,
        });
        "upstream"
    }
    let log = Log::default();
    let app = Router::new().fallback(record).with_state(Arc::clone(&log));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, log)
}

/// A running nginx, killed on drop.
struct Nginx {
    child: Child,
    prefix: tempfile::TempDir,
    addr: String,
}

impl Nginx {
    /// Starts `$TOKENAUTH_TEST_NGINX` with docs/gateway/nginx.conf, asking `tokenauth`
    /// about requests for `app`, on a port of its own.
    fn start(tokenauth: &str, app: &str) -> Self {
        let binary = std::env::var("TOKENAUTH_TEST_NGINX").expect(
            "TOKENAUTH_TEST_NGINX must name the nginx binary (such as /usr/sbin/nginx) to run this test",
        );
        let addr = free_addr();
        let mut conf = NGINX_CONF.to_owned();
        for (documented, actual) in [
            ("127.0.0.1:8000", tokenauth),
            ("127.0.0.1:9000", app),
            ("127.0.0.1:8080", addr.as_str()),
        ] {
            assert!(
                conf.contains(documented),
                "docs/gateway/nginx.conf no longer names {documented}"
            );
            conf = conf.replace(documented, actual);
        }
        let prefix = tempfile::tempdir().unwrap();
        // Run as root (CI), nginx's workers run as `nobody`: they must reach the prefix.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(prefix.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let conf_path = prefix.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(&binary)
            .arg("-p")
            .arg(prefix.path())
            .arg("-c")
            .arg(&conf_path)
            // Before the configuration is read, the log goes to stderr, not to the
            // packaged default path (which needs root).
            .args(["-e", "stderr", "-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let mut nginx = Self { child, prefix, addr };
        nginx.wait_until_listening();
        nginx
    }

    /// Polls nginx's port until it accepts (a readiness check, not a measurement).
    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&self.addr).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                panic!("nginx exited ({status}): {stderr}\n{}", self.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx does not listen on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// nginx's error log.
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// SIGTERM, so that the master stops its workers (killed, it would leave them
    /// running, holding the port); SIGKILL if it has not exited within 10 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An address on a port free a moment ago, for nginx to listen on.
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// `tokenauth token create alice ARGS`: the token.
fn create_token(database: &str, args: &[&str]) -> String {
    let mut command = vec!["token", "create", "alice"];
    command.extend_from_slice(args);
    run_ok(tokenauth(database, &command), "").trim().to_owned()
}

/// A response through nginx: status, headers, body.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn challenges(&self) -> Vec<&str> {
        self.headers
            .get_all("www-authenticate")
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect()
    }

    /// tokenauth's refusal, passed through: the status, DRF's JSON body, one challenge.
    #[track_caller]
    fn assert_refused(&self, status: u16, body: &str, challenge: &str, what: &str) {
        assert_eq!((self.status, self.body.as_str()), (status, body), "{what}");
        assert_eq!(self.headers["content-type"], "application/json", "{what}");
        assert_eq!(self.challenges(), [challenge], "{what}");
    }
}

async fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let (status, headers, body) = http_with_headers(addr, method, path, headers, body).await;
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
#[ignore = "needs nginx: set TOKENAUTH_TEST_NGINX (CI runs it)"]
async fn nginx_auth_request_lets_through_only_what_tokenauth_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "gateway");
    let expired = expired_token(&database).await;
    let (mut server, tokenauth_addr) = Server::start(
        &database,
        &["--scopes", "read write", "--trusted-proxies", "127.0.0.1"],
    );
    let read = create_token(&database, &["--scope", "read"]);
    let read_write = create_token(&database, &["--scope", "read", "--scope", "write"]);
    let (app_addr, log) = start_app().await;
    let nginx = Nginx::start(&tokenauth_addr, &app_addr);
    let gateway = nginx.addr.as_str();
    let seen = || log.lock().unwrap().clone();

    // A valid token reaches the application with the identity headers, which replace
    // the client's own; the token itself does not.
    let authorization = format!("Token {read}");
    let answer = send(
        gateway,
        "GET",
        "/hello?x=1",
        &[
            ("authorization", &authorization),
            ("x-auth-user", "mallory"),
            ("x-auth-scopes", "admin"),
        ],
        "",
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "upstream"),
        "{}",
        nginx.error_log()
    );
    let (status, _, me) = http_with_headers(
        &tokenauth_addr,
        "GET",
        "/auth/me",
        &[("authorization", &authorization)],
        "",
    )
    .await;
    assert_eq!(status, 200, "{me}");
    let me: Value = serde_json::from_str(&me).unwrap();
    let requests = seen();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/hello")
    );
    assert_eq!(request.values("x-auth-user"), ["alice"]);
    assert_eq!(request.values("x-auth-user-id"), ["1"]);
    assert_eq!(request.values("x-auth-scopes"), ["read"]);
    assert_eq!(
        request.values("x-auth-token-id"),
        [me["token"]["id"].as_str().unwrap()]
    );
    assert_eq!(
        request.values("x-auth-expires"),
        [me["token"]["expiry"].as_str().unwrap()]
    );
    assert!(request.values("authorization").is_empty(), "{request:?}");

    // Refusals reach the client as tokenauth gave them; the application sees none.
    send(
        gateway,
        "GET",
        "/hello",
        &[("authorization", "Token tka_nope")],
        "",
    )
    .await
    .assert_refused(401, INVALID_TOKEN, "Token", "an unknown token");
    send(gateway, "GET", "/hello", &[("x-auth-user", "alice")], "")
        .await
        .assert_refused(401, NOT_PROVIDED, "Token", "no credentials");
    let expired = format!("Token {expired}");
    send(gateway, "POST", "/hello", &[("authorization", &expired)], "data")
        .await
        .assert_refused(401, EXPIRED, "Token", "an expired token");
    // /write/ requires scope `write`.
    send(
        gateway,
        "POST",
        "/write/notes",
        &[("authorization", &authorization)],
        "note",
    )
    .await
    .assert_refused(
        403,
        FORBIDDEN,
        r#"Token error="insufficient_scope", scope="write""#,
        "a token without the location's scope",
    );
    assert_eq!(
        seen().len(),
        1,
        "a refused request reached the application: {:?}",
        seen()
    );

    // With the scope, the request and its body go through.
    let authorization = format!("Token {read_write}");
    let answer = send(
        gateway,
        "POST",
        "/write/notes",
        &[("authorization", &authorization)],
        "note",
    )
    .await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "upstream"));
    let request = seen().pop().unwrap();
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.body.as_str()
        ),
        ("POST", "/write/notes", "note")
    );
    assert_eq!(request.values("x-auth-scopes"), ["read write"]);

    // tokenauth stopped: nginx refuses (fails closed).
    server.terminate();
    assert!(server.exit_within(Duration::from_secs(20)).success());
    let before = seen().len();
    let answer = send(gateway, "GET", "/hello", &[("authorization", &authorization)], "").await;
    assert!(
        matches!(answer.status, 500 | 502 | 503),
        "{} {}",
        answer.status,
        answer.body
    );
    assert_eq!(
        seen().len(),
        before,
        "a request reached the application without tokenauth"
    );
}

/// docs/gateway.md shows the configuration the test runs, as it is.
#[test]
fn the_documented_nginx_configuration_is_the_tested_one() {
    let doc = include_str!("../../../../docs/gateway.md");
    assert!(
        doc.contains(&format!("```nginx\n{NGINX_CONF}```")),
        "copy docs/gateway/nginx.conf into docs/gateway.md"
    );
}

/// The binary serves `/auth/verify` by default, with the header names and the cookie
/// its flags give; a cookie name that is not one is refused at start.
#[tokio::test]
async fn serve_mounts_forward_auth_with_the_configured_headers_and_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "verify");
    let (_server, addr) = Server::start(
        &database,
        &[
            "--verify-user-header",
            "X-Remote-User",
            "--verify-cookie",
            "session",
        ],
    );
    let token = create_token(&database, &[]);
    let cookie = format!("theme=dark; session={token}");
    let answer = send(&addr, "DELETE", "/auth/verify", &[("cookie", &cookie)], "").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["x-remote-user"], "alice");
    assert_eq!(answer.headers["x-auth-user-id"], "1");
    assert!(answer.headers.get("x-auth-user").is_none());
    send(&addr, "GET", "/auth/verify?scope=write", &[], "")
        .await
        .assert_refused(401, NOT_PROVIDED, "Token", "no credentials");

    let refused = common::run(
        tokenauth(
            &database,
            &["serve", "--bind", "127.0.0.1:0", "--verify-cookie", "a b"],
        ),
        "",
    );
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("invalid cookie name \"a b\""), "{stderr}");
}
