//! The real `tokenauth` binary on PostgreSQL: add a user, serve, obtain and use a token
//! over HTTP, revoke it from the command line, and see it refused.
//!
//! Ignored by default; run with `TOKENAUTH_TEST_POSTGRES_URL` set (for example
//! `postgres://postgres@127.0.0.1:5432/test`) and `--ignored`, as `.ci/run` does. The
//! test works in a schema of its own (`tokenauth_e2e_<random>`, given to the binary
//! through the URL's `options=-c search_path=...`), dropped afterwards.

mod common;

use common::postgres::Schema;
use common::{Server, add_user, http, obtain, run, tokenauth};
use serde_json::Value;

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn serve_obtain_revoke_on_postgres() {
    let schema = Schema::create().await;
    let database = schema.database();

    assert_eq!(
        add_user(&database, "alice", "wonderland"),
        "created user \"alice\" (id 1, active)\n"
    );

    let (mut server, addr) = Server::start(&database, &[]);
    let obtained = obtain(&addr, "alice", "wonderland").await;
    let authorization = format!("Token {}", obtained["token"].as_str().unwrap());

    let (status, body) = http(&addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["username"], "alice");
    let id = me["token"]["id"].as_str().unwrap();

    // Revoked by another process, on the same database: refused at once.
    let revoked = run(tokenauth(&database, &["token", "revoke", id]), "");
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let (status, body) = http(&addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));

    server.terminate();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
