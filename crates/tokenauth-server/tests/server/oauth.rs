//! The real `tokenauth` binary's OAuth 2.0 endpoints: introspection (RFC 7662) with
//! the client credential of `--introspection-client-id` and its secret file, or a token
//! carrying the `introspect` scope; revocation (RFC 7009); and `token revoke
//! --token-stdin`, as an operator runs it.

use crate::common;

use base64::Engine as _;
use common::{Server, add_user, http, http_with_headers, run, run_ok, tokenauth};
use serde_json::{Value, json};

const SECRET: &str = "4f1c2b9e7d3a6058c1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4";
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// A database with `alice` and a service account `gateway`, and the client secret file.
fn setup(dir: &tempfile::TempDir) -> (String, String) {
    let database = format!("sqlite://{}", dir.path().join("oauth.db").display());
    add_user(&database, "alice", "pw");
    add_user(&database, "gateway", "pw");
    let secret_file = dir.path().join("introspection-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    (database, secret_file.display().to_string())
}

/// `token create ARGS`, under the policy the last `serve` stored.
fn create_token(database: &str, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    run_ok(tokenauth(database, &all), "").trim_end().to_owned()
}

fn basic(id: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {encoded}")
}

#[tokio::test]
async fn introspection_and_revocation_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (database, secret_file) = setup(&dir);
    let (mut server, addr) = Server::start(
        &database,
        &[
            "--scopes",
            "read introspect",
            "--introspection-client-id",
            "gw",
            "--introspection-client-secret-file",
            &secret_file,
        ],
    );
    let token = create_token(&database, &["alice", "--scope", "read"]);
    let service = create_token(&database, &["gateway", "--scope", "introspect"]);
    let client = basic("gw", SECRET);
    let service_token = format!("Token {service}");
    let body = format!("token={token}");

    for authorization in [client.as_str(), service_token.as_str()] {
        let (status, headers, answer) = http_with_headers(
            &addr,
            "POST",
            "/auth/introspect",
            &[FORM, ("authorization", authorization)],
            &body,
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(headers["cache-control"], "no-store");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        let iat = answer["iat"].as_i64().unwrap();
        assert_eq!(
            answer,
            json!({
                "active": true, "scope": "read", "username": "alice", "sub": "1",
                "token_type": "Token", "exp": iat + 30 * 24 * 3600, "iat": iat,
            })
        );
    }

    let (status, headers, answer) =
        http_with_headers(&addr, "POST", "/auth/introspect", &[FORM], &body).await;
    assert_eq!(
        (status, answer.as_str()),
        (
            401,
            r#"{"detail":"Authentication credentials were not provided."}"#
        )
    );
    let challenges: Vec<_> = headers.get_all("www-authenticate").iter().collect();
    assert_eq!(challenges, ["Token", r#"Basic realm="tokenauth""#]);
    let wrong = basic("gw", &SECRET.replace('4', "5"));
    let (status, answer) = http(
        &addr,
        "POST",
        "/auth/introspect",
        &[FORM, ("authorization", &wrong)],
        &body,
    )
    .await;
    assert_eq!(
        (status, answer.as_str()),
        (
            401,
            r#"{"error":"invalid_client","error_description":"Client authentication failed."}"#
        )
    );

    // Revoked by anyone holding it, twice: the same empty 200.
    for _ in 0..2 {
        let (status, answer) = http(&addr, "POST", "/auth/revoke", &[FORM], &body).await;
        assert_eq!((status, answer.as_str()), (200, ""));
    }
    let (status, answer) = http(
        &addr,
        "POST",
        "/auth/introspect",
        &[FORM, ("authorization", &client)],
        &body,
    )
    .await;
    assert_eq!((status, answer.as_str()), (200, r#"{"active":false}"#));

    server.terminate();
    assert!(server.exit_within(std::time::Duration::from_secs(10)).success());
    let logs = server.logs();
    for secret in [token.as_str(), service.as_str(), SECRET] {
        assert!(!logs.contains(secret), "a secret in the logs:\n{logs}");
    }
}

#[test]
fn a_bad_client_secret_file_stops_serve_before_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _) = setup(&dir);
    let short = dir.path().join("short");
    std::fs::write(&short, "hunter2\n").unwrap();
    let short = short.display().to_string();
    let missing = dir.path().join("missing").display().to_string();
    let serve = |file: &str| {
        let args = [
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--introspection-client-id",
            "gw",
            "--introspection-client-secret-file",
            file,
        ];
        run(tokenauth(&database, &args), "")
    };

    let refused = serve(&short);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: {short}: the introspection client secret must be at least 32 bytes"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the secret is never echoed: {stderr}"
    );
    assert!(refused.stdout.is_empty(), "it never listened");

    let refused = serve(&missing);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("error: cannot use {missing}")),
        "{stderr}"
    );

    // One without the other is a usage error.
    let alone = ["serve", "--introspection-client-id", "gw"];
    assert_eq!(run(tokenauth(&database, &alone), "").status.code(), Some(2));
}

#[test]
fn token_revoke_token_stdin_exits_non_zero_when_nothing_matched() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _) = setup(&dir);
    let token = create_token(&database, &["alice"]);
    let revoke = || tokenauth(&database, &["token", "revoke", "--token-stdin"]);

    let revoked = run(revoke(), &format!("{token}\n"));
    assert!(revoked.status.success());
    let stdout = String::from_utf8(revoked.stdout).unwrap();
    assert!(
        stdout.starts_with("revoked token ") && stdout.ends_with(" of user alice\n"),
        "{stdout}"
    );

    let again = run(revoke(), &format!("{token}\n"));
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.ends_with("error: no stored token matches the token given\n"),
        "{stderr}"
    );
    assert!(!stderr.contains(&token), "{stderr}");
}

#[test]
fn token_revoke_token_stdin_revokes_a_drf_key_import_django_brought() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("moved.db").display());
    common::import_django(&database, &common::django_sqlite(&dir));
    // Alice's key in the fixture Django made.
    let key = "c218a4606fa3bb321c24908f39f21bd17624f918\n";
    let revoke = || tokenauth(&database, &["token", "revoke", "--token-stdin"]);

    let stdout = run_ok(revoke(), key);
    assert!(stdout.ends_with(" of user alice\n"), "{stdout}");
    let again = run(revoke(), key);
    assert_eq!(again.status.code(), Some(1));
}
