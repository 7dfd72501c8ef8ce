//! The example app run as its users would: two instances on one PostgreSQL database
//! (`TOKENAUTH_TEST_POSTGRES_URL`, a schema of the test's own), driven over HTTP.
//! Ignored by a plain `cargo test`; CI runs it against its PostgreSQL server.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

fn server_url() -> String {
    std::env::var("TOKENAUTH_TEST_POSTGRES_URL").expect(
        "TOKENAUTH_TEST_POSTGRES_URL is not set: point it at a PostgreSQL server \
         (such as postgres://postgres@127.0.0.1:5432/test) to run this test",
    )
}

/// A schema of the test's own; the URL that works in it.
async fn fresh_schema() -> (String, String) {
    let url = server_url();
    let name = format!("tokenauth_example_{}", std::process::id());
    let mut conn = PgConnection::connect(&url).await.expect("reach PostgreSQL");
    // A schema left by an earlier, killed run of this process id goes first.
    for statement in [
        format!("DROP SCHEMA IF EXISTS {name} CASCADE"),
        format!("CREATE SCHEMA {name}"),
    ] {
        sqlx::query(&statement)
            .execute(&mut conn)
            .await
            .expect("create the schema");
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    let database = format!("{url}{separator}options=-c%20search_path%3D{name}");
    (name, database)
}

/// One instance of the app, killed on drop.
struct Instance {
    child: Child,
    addr: String,
}

impl Instance {
    async fn start(database: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_postgres-app"))
            .env("DATABASE_URL", database)
            .env("BIND", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the app");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the app starts within a minute")
            .expect("read its output")
            .expect("it prints where it listens");
        let addr = line
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        Self { child, addr }
    }

    /// `method path` with an optional token and JSON body: the status and the body.
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).await.expect("connect");
        let body = body.map(|body| body.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Token {token}\r\n"));
        }
        stream
            .write_all(format!("{head}\r\n{body}").as_bytes())
            .await
            .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("receive");
        let status = response[9..12].parse().expect("a status code");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    async fn login(&self, scope: Option<&str>) -> String {
        let mut form = json!({"username": "ada@example.com", "password": "analytical engine"});
        if let Some(scope) = scope {
            form["scope"] = json!(scope);
        }
        // A stale header does not stand in the way of logging in.
        let (status, body) = self
            .call("POST", "/api/v1/api-token-auth/", Some("tka_stale"), Some(form))
            .await;
        assert_eq!(status, 200, "{body}");
        let token: Value = serde_json::from_str(&body).expect("JSON");
        token["token"].as_str().expect("a token").to_owned()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Polls `instance` until `path` answers `status` for `token` (another instance's
/// change travels over the bus, within its 1 s bound); the last answer.
async fn eventually(instance: &Instance, path: &str, token: &str, status: u16) -> (u16, String) {
    let mut answer = (0, String::new());
    for _ in 0..100 {
        answer = instance.call("GET", path, Some(token), None).await;
        if answer.0 == status {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    answer
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL"]
async fn two_instances_of_the_example_app_sign_up_log_in_scope_and_agree_on_revocations() {
    let (schema, database) = fresh_schema().await;
    let a = Instance::start(&database).await;
    // The second start finds both migration records up to date.
    let b = Instance::start(&database).await;

    let ada = json!({"email": "ada@example.com", "password": "analytical engine", "display_name": "Ada"});
    let (status, body) = a.call("POST", "/api/v1/members", None, Some(ada.clone())).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(a.call("POST", "/api/v1/members", None, Some(ada)).await.0, 409);

    // Anonymous: the open route greets a stranger, a members' route asks for credentials.
    assert_eq!(
        a.call("GET", "/api/v1/hello", None, None).await,
        (200, "Hello, stranger!".to_owned())
    );
    let (status, body) = a.call("POST", "/api/v1/me", None, None).await;
    assert_eq!(
        (status, body.as_str()),
        (
            401,
            r#"{"detail":"Authentication credentials were not provided."}"#
        )
    );

    let full = a.login(None).await;
    let read_only = a.login(Some("read")).await;
    for instance in [&a, &b] {
        let (status, body) = instance.call("GET", "/api/v1/me", Some(&full), None).await;
        assert_eq!(status, 200, "{body}");
        let me: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(
            me,
            json!({"email": "ada@example.com", "display_name": "Ada", "scopes": "read sessions write"})
        );
    }
    // Scopes: `write` for notes, `sessions` for ending every session.
    assert_eq!(
        a.call("POST", "/api/v1/notes", Some(&read_only), None).await.0,
        403
    );
    assert_eq!(
        a.call("POST", "/api/v1/auth/logoutall", Some(&read_only), None)
            .await
            .0,
        403
    );
    assert_eq!(
        a.call("POST", "/api/v1/notes", Some(&full), None).await,
        (201, "Noted, Ada.".to_owned())
    );

    // A logout on one instance ends the token on the other, whose cache held it.
    assert_eq!(
        a.call("POST", "/api/v1/auth/logout", Some(&full), None).await.0,
        204
    );
    let (status, body) = eventually(&b, "/api/v1/me", &full, 401).await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));

    // A change to the app's own table, told with `user_changed`, reaches both caches.
    let (status, body) = b.call("GET", "/api/v1/me", Some(&read_only), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        a.call("POST", "/api/v1/me/close", Some(&read_only), None).await.0,
        204
    );
    let (status, body) = eventually(&b, "/api/v1/me", &read_only, 401).await;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"detail":"User inactive or deleted"}"#)
    );

    drop((a, b));
    let mut conn = PgConnection::connect(&server_url())
        .await
        .expect("reach PostgreSQL");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut conn)
        .await
        .expect("drop the schema");
}
