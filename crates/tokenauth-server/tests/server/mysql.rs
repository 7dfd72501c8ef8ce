//! The real `tokenauth` binary on MySQL or MariaDB: migrate, add a user, serve (with
//! its cache, by default), log in and use the token over HTTP, log out, and see it
//! refused; a token revoked and a user deactivated by another process (the
//! command-line tool) are refused within the revocation bus's bound, 1 s.
//!
//! Django's tables on MariaDB, from the dumps Django made there
//! (`tokenauth-django/tests/fixtures`): `serve --schema django` and `import-django
//! --from mysql://`.
//!
//! Ignored by default; run with `TOKENAUTH_TEST_MYSQL_URL` set (for example
//! `mysql://root@127.0.0.1:3306/test`) and `--ignored`, as `.ci/run` does. Each test
//! works in a database of its own (`tokenauth_e2e_<random>`), dropped afterwards.

use crate::common;
use crate::django_custom::MEMBERS;

use common::mysql::Database;
use common::{
    CUSTOM_USERS, DJANGO_FIXTURES, Server, add_user, http, import_django_with, obtain, run, run_ok, tokenauth,
};
use serde_json::Value;
use sqlx::{Connection, MySqlConnection};

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

/// `alice`'s key among the tokens Django made on MariaDB (`tokens.mysql` of a
/// manifest or of a custom model), whose login is the field `login_key`.
fn alices_key(manifest: &Value, login_key: &str) -> String {
    let token = manifest["tokens"]["mysql"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[login_key].as_str().is_some_and(|l| l.starts_with("alice")))
        .unwrap();
    token["key"].as_str().unwrap().to_owned()
}

fn manifest(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The user `/auth/me` names for `key`, and the status.
async fn me(addr: &str, key: &str) -> (u16, String) {
    let authorization = format!("Token {key}");
    let (status, body) = http(addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
    let user: Value = serde_json::from_str(&body).unwrap_or_default();
    (status, user["username"].as_str().unwrap_or(&body).to_owned())
}

/// `serve --schema django` on the database Django made on MariaDB: its users log in,
/// its tokens authenticate; and on a custom user model's (email login, UUID key, no
/// active column). The tokens were dated for the manifest's clock, the server runs
/// on the system's: a lifespan of 100 years keeps them valid.
#[tokio::test]
#[ignore = "needs MySQL: set TOKENAUTH_TEST_MYSQL_URL and run with --ignored"]
async fn serve_shares_djangos_tables_on_mariadb() {
    let db = Database::load(&format!("{DJANGO_FIXTURES}/django-mariadb.sql")).await;
    let stock = manifest(&format!("{DJANGO_FIXTURES}/manifest.json"));
    let (server, addr) = Server::start(&db.url(), &["--schema", "django", "--lifespan", "36500d"]);
    let obtained = obtain(&addr, "alice", "alice-password").await;
    let key = obtained["token"].as_str().unwrap();
    assert_eq!(me(&addr, key).await, (200, "alice".to_owned()));
    // DRF's one key per user: the login returned the key Django made.
    assert_eq!(key, alices_key(&stock, "username"));
    let (status, body) = http(&addr, "GET", "/auth/me", &[("authorization", "Token 0123")], "").await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));
    drop(server);

    let db = Database::load(&format!("{CUSTOM_USERS}/uuid-mariadb.sql")).await;
    let custom = manifest(&format!("{CUSTOM_USERS}/manifest.json"));
    let model = &custom["models"]["uuid"];
    let members = [&["--schema", "django"][..], &MEMBERS, &["--lifespan", "36500d"]].concat();
    let (server, addr) = Server::start(&db.url(), &members);
    let key = alices_key(model, "login");
    assert_eq!(me(&addr, &key).await, (200, "alice@example.com".to_owned()));
    let obtained = obtain(&addr, "alice@example.com", "alice-password").await;
    assert_eq!(obtained["token"].as_str(), Some(key.as_str()));
    drop(server);
}

/// `import-django --from mysql://...` moves Django's users and tokens from MariaDB
/// into tokenauth's schema (here SQLite): the keys Django made still authenticate,
/// the passwords still log in.
#[tokio::test]
#[ignore = "needs MySQL: set TOKENAUTH_TEST_MYSQL_URL and run with --ignored"]
async fn import_django_reads_djangos_tables_on_mariadb() {
    let db = Database::load(&format!("{DJANGO_FIXTURES}/django-mariadb.sql")).await;
    let stock = manifest(&format!("{DJANGO_FIXTURES}/manifest.json"));
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    let printed = import_django_with(&database, &db.url(), &[]);
    assert!(
        printed.contains("9 user(s) created, 0 already there"),
        "{printed}"
    );
    let (server, addr) = Server::start(&database, &["--lifespan", "36500d"]);
    let key = alices_key(&stock, "username");
    assert_eq!(me(&addr, &key).await, (200, "alice".to_owned()));
    let obtained = obtain(&addr, "bob", "bob-password").await;
    let (status, user) = me(&addr, obtained["token"].as_str().unwrap()).await;
    assert_eq!((status, user.as_str()), (200, "bob"));
    drop(server);
}

/// A Django database on MariaDB without a column tokenauth reads is refused at start,
/// naming it, by `serve` and by `import-django`.
#[tokio::test]
#[ignore = "needs MySQL: set TOKENAUTH_TEST_MYSQL_URL and run with --ignored"]
async fn a_django_database_on_mariadb_missing_a_column_is_refused_naming_it() {
    let db = Database::load(&format!("{DJANGO_FIXTURES}/django-mariadb.sql")).await;
    let mut conn = MySqlConnection::connect(&db.url()).await.unwrap();
    sqlx::raw_sql("ALTER TABLE auth_user DROP COLUMN is_active")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let serve = ["--schema", "django", "serve", "--bind", "127.0.0.1:0"];
    let refused = run(tokenauth(&db.url(), &serve), "");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("column auth_user.is_active is missing"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("t.db").display());
    run_ok(tokenauth(&sqlite, &["migrate"]), "");
    let refused = run(tokenauth(&sqlite, &["import-django", "--from", &db.url()]), "");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("column auth_user.is_active is missing"),
        "{stderr}"
    );
}
