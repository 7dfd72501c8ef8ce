//! `tokenauth serve`'s cache on SQLite: on by default, a cached token is refused on the
//! very next request after its logout, and within 1 s of its revocation by another
//! process (the command-line tool), and the options are checked. The helpers serve the
//! same cases on MySQL (`mysql.rs`).

use crate::common;

use std::time::{Duration, Instant};

use common::{Server, database_with_alice, http, obtain, run, run_ok, tokenauth};
use sqlx::Connection;

/// A TTL no test outlives: only the revocation bus can explain a refusal.
pub(crate) const CACHED: &[&str] = &["--cache", "on", "--cache-ttl", "1h"];

/// The revocation bus's bound (SQLite's, MySQL's).
const BOUND: Duration = Duration::from_secs(1);

/// How long the server has to start following the bus.
const PATIENCE: Duration = Duration::from_secs(10);

pub(crate) async fn me(addr: &str, authorization: &str) -> (u16, String) {
    http(addr, "GET", "/auth/me", &[("authorization", authorization)], "").await
}

/// Makes the token `id` a year older in `database` (SQLite or MySQL), behind the
/// server's back: plain SQL, an update, which no trigger logs.
async fn age(database: &str, id: &str) {
    const AGE: &str = "UPDATE tokenauth_tokens SET created = created - ? WHERE id = ?";
    let year = 365 * 24 * 3600 * 1_000_000_i64;
    if database.starts_with("mysql:") {
        let mut conn = sqlx::MySqlConnection::connect(database).await.unwrap();
        sqlx::query(AGE)
            .bind(year)
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(database).await.unwrap();
        sqlx::query(AGE)
            .bind(year)
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// Waits until the server at `addr` serves from its cache (its bus is connected), and
/// proves it: a token it has used is made a year older behind its back ([`age`]), so
/// that the database says "expired", and the server still accepts it. That token's
/// `Authorization` header and id.
pub(crate) async fn cached_token(database: &str, addr: &str) -> (String, String) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let obtained = obtain(addr, "alice", "pw").await;
        let authorization = format!("Token {}", obtained["token"].as_str().unwrap());
        let (status, body) = me(addr, &authorization).await;
        assert_eq!(status, 200, "{body}");
        let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        age(database, &id).await;
        if me(addr, &authorization).await.0 == 200 {
            return (authorization, id);
        }
        assert!(
            Instant::now() < deadline,
            "the server does not serve from its cache after {PATIENCE:?}"
        );
    }
}

/// Runs `args` as a command-line process on `database`, then polls the server at `addr`
/// with `authorization` until it answers `refused`: every request sent more than the
/// bound after the process exited (its change committed) must be refused.
pub(crate) async fn refused_within_the_bound(
    database: &str,
    args: &[&str],
    addr: &str,
    authorization: &str,
    refused: &str,
) {
    run_ok(tokenauth(database, args), "");
    let committed = Instant::now();
    loop {
        let sent = Instant::now();
        let (status, body) = me(addr, authorization).await;
        if status == 401 {
            assert_eq!(body, refused);
            return;
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            sent.duration_since(committed) < BOUND,
            "{args:?}: still accepted {:?} after the process exited",
            sent.duration_since(committed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `serve` with no cache option caches (within the bound above): the token made a
/// year older behind its back is still accepted. With `--cache off` the same change is
/// seen on the next request.
#[tokio::test]
async fn the_cache_is_on_by_default_and_off_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "default");
    let (server, addr) = Server::start(&database, &[]);
    cached_token(&database, &addr).await;
    drop(server);

    let (_server, addr) = Server::start(&database, &["--cache", "off"]);
    let obtained = obtain(&addr, "alice", "pw").await;
    let authorization = format!("Token {}", obtained["token"].as_str().unwrap());
    assert_eq!(me(&addr, &authorization).await.0, 200);
    let mut conn = sqlx::SqliteConnection::connect(&database).await.unwrap();
    let year = 365 * 24 * 3600 * 1_000_000_i64;
    sqlx::query("UPDATE tokenauth_tokens SET created = created - ?")
        .bind(year)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        me(&addr, &authorization).await,
        (401, r#"{"detail":"Token has expired"}"#.to_owned())
    );
}

#[tokio::test]
async fn a_token_revoked_by_the_command_line_is_refused_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "revoke");
    let (_server, addr) = Server::start(&database, CACHED);
    let (authorization, id) = cached_token(&database, &addr).await;
    let invalid = r#"{"detail":"Invalid token"}"#;
    refused_within_the_bound(
        &database,
        &["token", "revoke", &id],
        &addr,
        &authorization,
        invalid,
    )
    .await;
}

#[tokio::test]
async fn a_user_deactivated_by_the_command_line_is_refused_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "deactivate");
    let (_server, addr) = Server::start(&database, CACHED);
    let (authorization, _) = cached_token(&database, &addr).await;
    let inactive = r#"{"detail":"User inactive or deleted"}"#;
    let deactivate = ["user", "deactivate", "alice"];
    refused_within_the_bound(&database, &deactivate, &addr, &authorization, inactive).await;
}

#[tokio::test]
async fn a_cached_token_is_refused_on_the_request_after_its_logout() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "cache");
    let (_server, addr) = Server::start(
        &database,
        &["--cache", "on", "--cache-ttl", "1h", "--cache-size", "100"],
    );
    let obtained = obtain(&addr, "alice", "pw").await;
    let authorization = format!("Token {}", obtained["token"].as_str().unwrap());
    let headers = [("authorization", authorization.as_str())];
    for _ in 0..3 {
        let (status, body) = http(&addr, "GET", "/auth/me", &headers, "").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = http(&addr, "POST", "/auth/logout", &headers, "").await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = http(&addr, "GET", "/auth/me", &headers, "").await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));
}

#[test]
fn the_cache_switch_takes_on_or_off() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("switch.db").display());
    let refused = run(
        tokenauth(&database, &["serve", "--bind", "127.0.0.1:0", "--cache", "maybe"]),
        "",
    );
    assert_eq!(refused.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("invalid value 'maybe' for '--cache <on|off>'"),
        "{stderr}"
    );
}
