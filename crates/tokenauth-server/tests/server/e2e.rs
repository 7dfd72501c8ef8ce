//! The real `tokenauth` binary: add a user, start the server on port 0, obtain and use a
//! token over HTTP, shut down on SIGTERM.

use crate::common;

use common::{Server, add_user, http, obtain, run, tokenauth};
use serde_json::Value;

#[tokio::test]
async fn serve_obtain_use_and_shut_down() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("e2e.db").display());

    assert_eq!(
        add_user(&database, "alice", "wonderland"),
        "created user \"alice\" (id 1, active)\n"
    );

    let (mut server, addr) = Server::start(&database, &["--lifespan", "12h"]);
    assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");

    let (status, body) = http(&addr, "GET", "/healthz", &[], "").await;
    assert_eq!((status, body.as_str()), (200, "ok"));

    let obtained = obtain(&addr, "alice", "wonderland").await;
    let token = obtained["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tka_") && token.len() == 53, "{token}");

    let authorization = format!("Token {token}");
    let (status, body) = http(&addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["token"]["expiry"], obtained["expiry"]);
    let created = time::OffsetDateTime::parse(
        me["token"]["created"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expiry = time::OffsetDateTime::parse(
        me["token"]["expiry"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        expiry - created,
        time::Duration::hours(12),
        "--lifespan 12h applies"
    );

    let (status, body) = http(
        &addr,
        "GET",
        "/auth/me",
        &[("authorization", "Token tka_nope")],
        "",
    )
    .await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));

    // SIGTERM: graceful shutdown, exit status 0.
    server.terminate();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let logs = server.logs();
    assert!(logs.contains("shut down"), "{logs}");
    // Nothing secret in the logs.
    assert!(!logs.contains(&token), "the token was logged: {logs}");
    assert!(!logs.contains("wonderland"), "the password was logged: {logs}");

    // The token was stored (as a digest) and is listed by the CLI, without its secret.
    let listed = run(tokenauth(&database, &["token", "list", "--user", "alice"]), "");
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(!listed.contains(&token));
    let row: Vec<&str> = listed.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[0], me["token"]["id"].as_str().unwrap());
    // The use of /auth/me was written on shutdown: last used is set.
    let last_used = time::OffsetDateTime::parse(row[4], &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("last used {:?}: {e}", row[4]));
    assert!(last_used >= created, "{listed}");
    assert_eq!(row[5], "127.0.0.1", "the client address was recorded");
    let raw = std::fs::read(dir.path().join("e2e.db")).unwrap();
    let wal = std::fs::read(dir.path().join("e2e.db-wal")).unwrap_or_default();
    for bytes in [raw, wal] {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "token stored in plaintext"
        );
    }
}

#[test]
fn bad_input_gets_a_clear_message_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("bad.db").display());
    assert!(run(tokenauth(&database, &["migrate"]), "").status.success());

    let output = run(tokenauth(&database, &["token", "create", "nobody"]), "");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.ends_with("error: no user named \"nobody\"\n"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = run(tokenauth(&database, &["serve", "--lifespan", "forever"]), "");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value 'forever' for '--lifespan"),
        "{stderr}"
    );

    let output = run(tokenauth(&database, &["user", "add", "alice"]), "");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pass the password with --password-stdin"),
        "{stderr}"
    );

    let output = run(tokenauth("sqlite:///nonexistent-dir/x/y.db", &["migrate"]), "");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: database error"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn token_commands_apply_the_servers_policy_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database_with_alice(&dir, "policy");

    let mut create = tokenauth(&database, &["token", "create", "alice", "--scope", "read"]);
    create
        .env("TOKENAUTH_SCOPES", "read write")
        .env("TOKENAUTH_LIFESPAN", "2h");
    let output = run(create, "");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut list = tokenauth(&database, &["token", "list"]);
    list.env("TOKENAUTH_LIFESPAN", "2h")
        .env("TOKENAUTH_SCOPES", "read write");
    let listed = String::from_utf8(run(list, "").stdout).unwrap();
    let row: Vec<&str> = listed.lines().nth(1).unwrap().split_whitespace().collect();
    let parse =
        |s: &str| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(
        parse(row[3]) - parse(row[2]),
        time::Duration::hours(2),
        "{listed}"
    );
    assert_eq!(row[7], "read");

    let mut refused = tokenauth(&database, &["token", "create", "alice", "--scope", "admin"]);
    refused.env("TOKENAUTH_SCOPES", "read write");
    let output = run(refused, "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: Scope \"admin\" cannot be granted.\n"
    );

    let mut bad_env = tokenauth(&database, &["token", "list"]);
    bad_env.env("TOKENAUTH_LIFESPAN", "forever");
    let output = run(bad_env, "");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value 'forever' for '--server-lifespan"),
        "{stderr}"
    );
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("port.db").display());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = run(tokenauth(&database, &["serve", "--bind", &addr]), "");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("error: cannot listen on {addr}")),
        "{stderr}"
    );
}
