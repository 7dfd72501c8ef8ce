//! The real `tokenauth` binary on MySQL or MariaDB: migrate, add a user, serve (with
//! its cache, by default), log in and use the token over HTTP, log out, and see it
//! refused; a token revoked and a user deactivated by another process (the
//! command-line tool) are refused within the revocation bus's bound, 1 s.
//!
//! Django's tables on MySQL are refused, without a server. The rest is ignored by
//! default; run it with `TOKENAUTH_TEST_MYSQL_URL` set (for example
//! `mysql://root@127.0.0.1:3306/test`) and `--ignored`, as `.ci/run` does. The test
//! works in a database of its own (`tokenauth_e2e_<random>`), dropped afterwards.

use crate::common;

use common::mysql::Database;
use common::{Server, add_user, http, obtain, run, run_ok, tokenauth};
use serde_json::Value;

use crate::cache::{CACHED, cached_token, refused_within_the_bound};

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
            "pw\n"
        ),
        "created user \"alice\" (id 1, active)\n"
    );

    let (mut server, addr) = Server::start(&database, &[]);
    let obtained = obtain(&addr, "alice", "pw").await;
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

    // The cache is on by default, following the revocation bus (its metrics say so).
    cached_token(&database, &addr).await;
    let (status, metrics) = http(&addr, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 200, "{metrics}");
    for line in ["tokenauth_revocation_bus_connected 1", "tokenauth_cache_paused 0"] {
        assert!(metrics.lines().any(|l| l == line), "{line}: {metrics}");
    }

    server.terminate();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// A caching server on MySQL refuses a token the command-line tool revoked, within
/// the bound.
#[tokio::test]
#[ignore = "needs MySQL: set TOKENAUTH_TEST_MYSQL_URL and run with --ignored"]
async fn a_token_revoked_by_the_command_line_is_refused_within_the_bound_on_mysql() {
    let db = Database::create().await;
    let database = db.url();
    add_user(&database, "alice", "pw");
    let (_server, addr) = Server::start(&database, CACHED);
    let (authorization, id) = cached_token(&database, &addr).await;
    let invalid = r#"{"detail":"Invalid token"}"#;
    let revoke = ["token", "revoke", id.as_str()];
    refused_within_the_bound(&database, &revoke, &addr, &authorization, invalid).await;
}

/// A caching server on MySQL refuses the tokens of a user the command-line tool
/// deactivated, within the bound.
#[tokio::test]
#[ignore = "needs MySQL: set TOKENAUTH_TEST_MYSQL_URL and run with --ignored"]
async fn a_user_deactivated_by_the_command_line_is_refused_within_the_bound_on_mysql() {
    let db = Database::create().await;
    let database = db.url();
    add_user(&database, "alice", "pw");
    let (_server, addr) = Server::start(&database, CACHED);
    let (authorization, _) = cached_token(&database, &addr).await;
    let inactive = r#"{"detail":"User inactive or deleted"}"#;
    let deactivate = ["user", "deactivate", "alice"];
    refused_within_the_bound(&database, &deactivate, &addr, &authorization, inactive).await;
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
