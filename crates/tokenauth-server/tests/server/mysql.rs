//! The real `tokenauth` binary on MySQL or MariaDB: migrate, add a user, serve, log in
//! and use the token over HTTP, log out, and see it refused; a revocation made by
//! another process is refused at once (the server runs without its cache there).
//!
//! Django's tables on MySQL are refused, without a server. The rest is ignored by
//! default; run it with `TOKENAUTH_TEST_MYSQL_URL` set (for example
//! `mysql://root@127.0.0.1:3306/test`) and `--ignored`, as `.ci/run` does. The test
//! works in a database of its own (`tokenauth_e2e_<random>`), dropped afterwards.

use crate::common;

use common::mysql::Database;
use common::{Server, http, obtain, run, run_ok, tokenauth};
use serde_json::Value;

#[tokio::test]
#[ignore = "needs MySQL: set TOKENAUTH_TEST_MYSQL_URL and run with --ignored"]
async fn migrate_serve_login_logout_on_mysql() {
    let db = Database::create().await;
    let database = db.url();

    assert_eq!(
        run_ok(tokenauth(&database, &["migrate"]), ""),
        "database is up to date\n"
    );
    assert_eq!(
        run_ok(
            tokenauth(&database, &["user", "add", "alice", "--password-stdin"]),
            "wonderland\n"
        ),
        "created user \"alice\" (id 1, active)\n"
    );

    let (mut server, addr) = Server::start(&database, &[]);
    let obtained = obtain(&addr, "alice", "wonderland").await;
    let authorization = format!("Token {}", obtained["token"].as_str().unwrap());
    let headers = [("authorization", authorization.as_str())];
    let (status, body) = http(&addr, "GET", "/auth/me", &headers, "").await;
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["username"], "alice");

    let (status, body) = http(&addr, "POST", "/auth/logout", &headers, "").await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = http(&addr, "GET", "/auth/me", &headers, "").await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));

    // Revoked by another process: refused at once, as no cache serves it.
    let obtained = obtain(&addr, "alice", "wonderland").await;
    let authorization = format!("Token {}", obtained["token"].as_str().unwrap());
    let headers = [("authorization", authorization.as_str())];
    let (status, _) = http(&addr, "GET", "/auth/me", &headers, "").await;
    assert_eq!(status, 200);
    let revoked = run(tokenauth(&database, &["user", "revoke-all", "alice"]), "");
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let (status, body) = http(&addr, "GET", "/auth/me", &headers, "").await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));

    server.terminate();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");

    // The cache needs a revocation bus, which MySQL has not: refused at start.
    let refused = run(
        tokenauth(&database, &["serve", "--bind", "127.0.0.1:0", "--cache", "on"]),
        "",
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("MySQL has no revocation bus yet"), "{stderr}");
}

/// Django's tables on MySQL are not read yet: `--schema django` and `import-django
/// --from mysql://` say so before connecting anywhere.
#[test]
fn django_tables_on_mysql_are_refused_with_the_reason() {
    let mysql = "mysql://app:hunter2@127.0.0.1:9/app";
    let refused = run(tokenauth(mysql, &["--schema", "django", "user", "list"]), "");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            "--schema django is for SQLite and PostgreSQL: Django's tables on MySQL are not supported yet"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("t.db").display());
    run_ok(tokenauth(&sqlite, &["migrate"]), "");
    let refused = run(tokenauth(&sqlite, &["import-django", "--from", mysql]), "");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            "import-django reads SQLite and PostgreSQL: Django's tables on MySQL are not supported yet"
        ),
        "{stderr}"
    );
}
