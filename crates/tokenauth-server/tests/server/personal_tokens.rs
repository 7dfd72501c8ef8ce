//! `POST /auth/tokens` on the real binary: a personal token made with a session token,
//! used, listed by the CLI, and refused to a token without the session scope.

use crate::common;

use common::{Server, database_with_alice, http_with_headers, obtain, run_ok, tokenauth};
use serde_json::Value;

#[tokio::test]
async fn a_session_token_creates_a_personal_token_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "personal");
    let (_server, addr) = Server::start(&database, &["--scopes", "read write"]);
    let session = obtain(&addr, "alice", "pw").await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let authorization = format!("Bearer {session}");
    let (status, headers, body) = http_with_headers(
        &addr,
        "POST",
        "/auth/tokens",
        &[
            ("authorization", &authorization),
            ("content-type", "application/json"),
        ],
        r#"{"name": "ci", "scope": "read", "lifespan": "1h"}"#,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let created: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&created["name"], &created["scopes"]),
        (&"ci".into(), &serde_json::json!(["read"]))
    );
    let personal = created["token"].as_str().unwrap();

    let me = format!("Token {personal}");
    let (status, _, body) = http_with_headers(&addr, "GET", "/auth/me", &[("authorization", &me)], "").await;
    assert_eq!(status, 200, "{body}");
    let me_body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&me_body["token"]["id"], &me_body["token"]["name"]),
        (&created["id"], &"ci".into())
    );

    // The CLI lists it by name, never its secret.
    let listed = run_ok(tokenauth(&database, &["token", "list", "--user", "alice"]), "");
    assert!(
        listed
            .lines()
            .any(|line| line.starts_with(created["id"].as_str().unwrap()) && line.contains("ci")),
        "{listed}"
    );
    assert!(!listed.contains(personal));

    // Without the session scope, a token cannot make another.
    let (status, headers, body) = http_with_headers(
        &addr,
        "POST",
        "/auth/tokens",
        &[
            ("authorization", &format!("Bearer {personal}")),
            ("content-type", "application/json"),
        ],
        r#"{"name": "again"}"#,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (
            403,
            r#"{"detail":"You do not have permission to perform this action."}"#
        )
    );
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer realm="api", error="insufficient_scope", error_description="You do not have permission to perform this action.", scope="sessions""#
    );
}
