//! `tokenauth serve --schema django --django-tokens knox`: the real binary on a copy of
//! the database django-rest-knox 5.0.2 made (`tokenauth-django/tests/fixtures/knox`),
//! sharing knox's `knox_authtoken` live: knox's tokens authenticate, a login writes a
//! row knox accepts, a logout deletes it, and a database without knox's table is
//! refused at start naming it.
//!
//! On PostgreSQL (ignored without `TOKENAUTH_TEST_POSTGRES_URL`) the dump knox made is
//! served the same way.
//!
//! The server runs on the system clock; the fixture's valid tokens expire ten years
//! after it was made, and `--lifespan 36500d` keeps the lifespan out of the way.

use crate::common;

use std::path::PathBuf;

use common::{Server, http, obtain, run, tokenauth};
use serde_json::Value;
use sha2::{Digest as _, Sha512};
use sqlx::Connection as _;
use tempfile::TempDir;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tokenauth-django/tests/fixtures");

fn manifest() -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/knox/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A copy of `file` (under the fixtures) in a temporary directory; its URL.
fn copy(file: &str) -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("db.sqlite3");
    std::fs::copy(format!("{FIXTURES}/{file}"), &path).unwrap();
    let url = format!("sqlite://{}", path.display());
    (dir, url)
}

async fn get(addr: &str, path: &str, token: &str) -> (u16, String) {
    let authorization = format!("Token {token}");
    http(addr, "GET", path, &[("authorization", &authorization)], "").await
}

async fn post(addr: &str, path: &str, token: &str) -> (u16, String) {
    let authorization = format!("Token {token}");
    http(addr, "POST", path, &[("authorization", &authorization)], "").await
}

/// knox's row for `token`: (`token_key`, `user_id`, `expiry` is set), found by the
/// token's SHA-512 as knox finds it.
async fn knox_row(database: &str, token: &str) -> Option<(String, i64, bool)> {
    let digest: String = Sha512::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut conn = sqlx::SqliteConnection::connect(database).await.unwrap();
    sqlx::query_as(
        r#"SELECT "token_key", "user_id", "expiry" IS NOT NULL FROM "knox_authtoken" WHERE "digest" = $1"#,
    )
    .bind(digest)
    .fetch_optional(&mut conn)
    .await
    .unwrap()
}

/// The manifest's SQLite token labelled `label`.
fn manifest_token(label: &str) -> String {
    let tokens = manifest()["tokens"]["sqlite"].as_array().unwrap().clone();
    let found = tokens.iter().find(|t| t["label"] == label).unwrap();
    found["token"].as_str().unwrap().to_owned()
}

/// `--schema django --django-tokens knox`, then `more`, then a lifespan past the
/// fixture's ten-year expiries.
fn knox_args<'a>(more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--schema", "django", "--django-tokens", "knox"];
    args.extend(more);
    args.extend(["--lifespan", "36500d"]);
    args
}

#[tokio::test]
async fn serve_on_knoxs_table_shares_its_tokens_both_ways() {
    let (_dir, database) = copy("knox/knox.sqlite3");
    let (server, addr) = Server::start(&database, &knox_args(&[]));

    // knox's tokens, as knox answered them (the expired one: knox says "Invalid
    // token.", having deleted it; tokenauth that it expired).
    for token in manifest()["tokens"]["sqlite"].as_array().unwrap() {
        let (status, body) = get(&addr, "/auth/me", token["token"].as_str().unwrap()).await;
        let expected = match token["label"].as_str().unwrap() {
            "phone (prefixed)" => (401, r#"{"detail":"Invalid token"}"#.to_owned()),
            "expired by expiry" => (401, r#"{"detail":"Token has expired"}"#.to_owned()),
            "inactive user" => (401, r#"{"detail":"User inactive or deleted"}"#.to_owned()),
            _ => (200, token["user"].as_str().unwrap().to_owned()),
        };
        if expected.0 == 200 {
            let me: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                (status, me["username"].as_str().unwrap()),
                (200, expected.1.as_str())
            );
        } else {
            assert_eq!((status, body), expected, "{}", token["label"]);
        }
    }

    // A login writes a row knox accepts: its SHA-512, its first 15 characters, an
    // expiry; each login a new token, the others kept.
    let issued = obtain(&addr, "bob", "bob-password").await;
    let token = issued["token"].as_str().unwrap().to_owned();
    assert!(
        token.len() == 64 && token.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{token}"
    );
    assert_eq!(
        knox_row(&database, &token).await,
        Some((token[..15].to_owned(), 2, true))
    );
    obtain(&addr, "bob", "bob-password").await;
    assert_eq!(get(&addr, "/auth/me", &token).await.0, 200);

    // Logout deletes knox's row; the token is then unknown.
    let (status, body) = post(&addr, "/auth/logout", &token).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(knox_row(&database, &token).await, None);
    assert_eq!(
        get(&addr, "/auth/me", &token).await,
        (401, r#"{"detail":"Invalid token"}"#.to_owned())
    );
    // Log out everywhere deletes knox's own rows of the user too.
    let (laptop, alice) = (manifest_token("laptop"), manifest_token("phone (prefixed)"));
    assert_eq!(knox_row(&database, &laptop).await.map(|r| r.1), Some(1));
    let (status, body) = post(&addr, "/auth/logoutall", &laptop).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(knox_row(&database, &laptop).await, None);
    assert_eq!(
        knox_row(&database, &alice).await,
        None,
        "alice's prefixed token too"
    );
    server.terminate();
}

#[tokio::test]
async fn a_prefix_is_knoxs_token_prefix() {
    let (_dir, database) = copy("knox/knox.sqlite3");
    let (server, addr) = Server::start(&database, &knox_args(&["--django-knox-prefix", "knx_"]));
    let phone = manifest_token("phone (prefixed)");
    assert_eq!(get(&addr, "/auth/me", &phone).await.0, 200);
    let issued = obtain(&addr, "alice", "alice-password").await;
    let token = issued["token"].as_str().unwrap();
    assert!(token.starts_with("knx_") && token.len() == 68, "{token}");
    assert_eq!(knox_row(&database, token).await.unwrap().0, &token[..15]);
    server.terminate();
}

#[test]
fn a_database_without_knoxs_table_is_refused_at_start_by_name() {
    let (_dir, database) = copy("django.sqlite3");
    let output = run(
        tokenauth(
            &database,
            &["--schema", "django", "--django-tokens", "knox", "serve"],
        ),
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a Django database with django-rest-knox: table knox_authtoken is missing"),
        "{stderr}"
    );
}

#[test]
fn knox_options_apply_only_to_knoxs_table() {
    let (_dir, database) = copy("knox/knox.sqlite3");
    for (args, expected) in [
        (
            vec!["--django-tokens", "knox", "user", "list"],
            "--django-tokens name a Django database's user model and tokens",
        ),
        (
            vec![
                "--schema",
                "django",
                "--django-knox-prefix",
                "knx_",
                "user",
                "list",
            ],
            "--django-knox-prefix, --django-knox-ttl and --django-knox-auto-refresh are knox's",
        ),
        (
            vec![
                "--schema",
                "django",
                "--django-knox-auto-refresh",
                "on",
                "user",
                "list",
            ],
            "they apply with --schema django --django-tokens knox",
        ),
        (
            vec![
                "--schema",
                "django",
                "--django-tokens",
                "knox",
                "serve",
                "--idle-timeout",
                "1h",
            ],
            "--idle-timeout: knox's table records no use",
        ),
        (
            vec![
                "--schema",
                "django",
                "--django-tokens",
                "knox",
                "serve",
                "--cache",
                "on",
            ],
            "--cache: Django's own changes",
        ),
    ] {
        let output = run(tokenauth(&database, &args), "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_ne!(output.status.code(), Some(0), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let output = run(
        tokenauth(&database, &["--django-knox-prefix", "a prefix", "user", "list"]),
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("at most 10 printable ASCII characters"));
}

#[tokio::test]
#[ignore = "needs PostgreSQL and psql: set TOKENAUTH_TEST_POSTGRES_URL"]
async fn serve_on_knoxs_table_in_postgres() {
    let django = common::postgres::DumpDatabase::load(&format!("{FIXTURES}/knox/knox-postgres.sql"));
    serve_on_knoxs_table_in(&django.url, "postgres").await;
}

#[tokio::test]
#[ignore = "needs MySQL: set TOKENAUTH_TEST_MYSQL_URL and run with --ignored"]
async fn serve_on_knoxs_table_in_mariadb() {
    let django = common::mysql::Database::load(&format!("{FIXTURES}/knox/knox-mariadb.sql")).await;
    serve_on_knoxs_table_in(&django.url(), "mysql").await;
}

/// How many rows of `knox_authtoken` knox would find for `token` (its digest and
/// `token_key`) in the database at `url`.
async fn knox_rows(url: &str, token: &str) -> i64 {
    let digest: String = Sha512::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let count = r#"SELECT COUNT(*) FROM "knox_authtoken" WHERE "digest" = $1 AND "token_key" = $2"#;
    if url.starts_with("mysql:") {
        let mut conn = sqlx::MySqlConnection::connect(url).await.unwrap();
        let count = count.replace('"', "`").replace("$1", "?").replace("$2", "?");
        let query = sqlx::query_scalar(&count).bind(&digest).bind(&token[..15]);
        query.fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let query = sqlx::query_scalar(count).bind(&digest).bind(&token[..15]);
        query.fetch_one(&mut conn).await.unwrap()
    }
}

/// The binary on the knox database at `url` (the manifest's tokens of `database`):
/// knox's token works, a login writes the row knox would find, a logout deletes it.
async fn serve_on_knoxs_table_in(url: &str, database: &str) {
    let (server, addr) = Server::start(url, &knox_args(&[]));
    let tokens = manifest()["tokens"][database].as_array().unwrap().clone();
    let laptop = tokens.iter().find(|t| t["label"] == "laptop").unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(get(&addr, "/auth/me", &laptop).await.0, 200);
    let issued = obtain(&addr, "bob", "bob-password").await;
    let token = issued["token"].as_str().unwrap().to_owned();
    assert_eq!(knox_rows(url, &token).await, 1, "the row knox would find");
    let (status, body) = post(&addr, "/auth/logout", &token).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(knox_rows(url, &token).await, 0);
    assert_eq!(get(&addr, "/auth/me", &token).await.0, 401);
    server.terminate();
}

/// `--django-knox-ttl` and `--django-knox-auto-refresh on` through the binary (on the
/// system clock, so without waiting an hour): a login's row expires a TTL after it is
/// created; a token whose row expires in ten minutes (as if issued fifty minutes ago)
/// is moved to an hour from its use.
#[tokio::test]
async fn knoxs_ttl_and_auto_refresh_are_the_servers() {
    let (_dir, database) = copy("knox/knox.sqlite3");
    let refresh = ["--django-knox-ttl", "1h", "--django-knox-auto-refresh", "on"];
    let (server, addr) = Server::start(&database, &knox_args(&refresh));
    let issued = obtain(&addr, "bob", "bob-password").await;
    let token = issued["token"].as_str().unwrap().to_owned();
    let digest: String = Sha512::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut conn = sqlx::SqliteConnection::connect(&database).await.unwrap();
    // Django's SQLite text times; julianday reads them.
    let seconds = |from: &str| {
        format!(
            r#"SELECT (julianday("expiry") - julianday({from})) * 86400 FROM "knox_authtoken" WHERE "digest" = $1"#
        )
    };
    let ttl: f64 = sqlx::query_scalar(&seconds(r#""created""#))
        .bind(&digest)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!((ttl - 3600.0).abs() < 0.01, "expiry - created = {ttl} s");

    // The server reads the system clock: so does this test.
    let soon = tokenauth_core::Clock::now(&tokenauth_core::SystemClock) + time::Duration::minutes(10);
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]"
    );
    sqlx::query(r#"UPDATE "knox_authtoken" SET "expiry" = $1 WHERE "digest" = $2"#)
        .bind(soon.format(&format).unwrap())
        .bind(&digest)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(get(&addr, "/auth/me", &token).await.0, 200);
    let left: f64 = sqlx::query_scalar(&seconds("'now'"))
        .bind(&digest)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(
        (3500.0..=3600.0).contains(&left),
        "expiry moved to {left} s from now"
    );
    server.terminate();
}
