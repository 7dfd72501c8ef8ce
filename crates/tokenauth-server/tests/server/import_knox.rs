//! `tokenauth import-django --django-tokens knox`: the real binary moves a copy of the
//! database Django 5.2 + django-rest-knox 5.0.2 made
//! (`tokenauth-django/tests/fixtures/knox`, described by its `manifest.json`) into
//! tokenauth's own schema, twice; the native `serve` then answers every knox token,
//! presented as the client holds it, as knox did, and logs it out.
//!
//! Knox's expiries are absolute, and the fixture's valid tokens expire ten years after
//! they were made, so the server runs on the system clock: a token knox accepted at
//! `generated_at` is still valid now, and the expired one expired before it.
//! From PostgreSQL and MariaDB (ignored by default): `TOKENAUTH_TEST_POSTGRES_URL=...
//! TOKENAUTH_TEST_MYSQL_URL=... cargo test -p tokenauth-server --test server --
//! --ignored import_knox`.

use crate::common;

use common::{Server, http, obtain, run, run_ok, tokenauth};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokenauth_core::{Clock, SystemClock};

const KNOX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tokenauth-django/tests/fixtures/knox"
);

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{KNOX}/manifest.json")).unwrap()).unwrap()
}

/// A copy, in `dir`, of the SQLite database knox's project made; its `sqlite://` URL.
fn knox_sqlite(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("knox.sqlite3");
    std::fs::copy(format!("{KNOX}/knox.sqlite3"), &path).unwrap();
    format!("sqlite://{}", path.display())
}

fn import_knox(database: &str, django: &str) -> String {
    run_ok(
        tokenauth(
            database,
            &["import-django", "--from", django, "--django-tokens", "knox"],
        ),
        "",
    )
}

async fn me(addr: &str, token: &str) -> (u16, String) {
    let authorization = format!("Token {token}");
    http(addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await
}

fn micros(at: &str) -> i64 {
    let at = OffsetDateTime::parse(at, &Rfc3339).unwrap();
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap()
}

#[tokio::test]
async fn knox_tokens_imported_from_sqlite_work_with_their_original_strings() {
    let dir = tempfile::tempdir().unwrap();
    let django = knox_sqlite(&dir);
    let path = dir.path().join("tokenauth.db");
    let database = format!("sqlite://{}", path.display());
    import_and_check(&django, "sqlite", &database).await;
    // Neither a token nor knox's digest of one is anywhere in the database file.
    let file = std::fs::read(&path).unwrap();
    for token in manifest()["tokens"]["sqlite"].as_array().unwrap() {
        for secret in [&token["token"], &token["digest"]] {
            let secret = secret.as_str().unwrap().as_bytes();
            assert!(!file.windows(secret.len()).any(|w| w == secret));
        }
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL and psql: set TOKENAUTH_TEST_POSTGRES_URL"]
async fn knox_tokens_imported_from_postgres_into_postgres() {
    use sqlx::Connection as _;

    let django = common::postgres::DumpDatabase::load(&format!("{KNOX}/knox-postgres.sql"));
    let schema = common::postgres::Schema::create_with_prefix("tokenauth_knox_").await;
    import_and_check(&django.url, "postgres", &schema.database()).await;
    // Every stored row, as text: no token and no knox digest in it.
    let mut conn = sqlx::PgConnection::connect(&schema.database()).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar("SELECT t::text FROM tokenauth_tokens t")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let tokens = manifest()["tokens"]["postgres"].as_array().unwrap().clone();
    assert_eq!(rows.len(), tokens.len());
    for token in &tokens {
        for secret in [&token["token"], &token["digest"]] {
            let secret = secret.as_str().unwrap();
            assert!(rows.iter().all(|row| !row.contains(secret)), "{rows:?}");
        }
    }
}

#[tokio::test]
#[ignore = "needs MySQL: set TOKENAUTH_TEST_MYSQL_URL and run with --ignored"]
async fn knox_tokens_imported_from_mariadb_into_sqlite() {
    let django = common::mysql::Database::load(&format!("{KNOX}/knox-mariadb.sql")).await;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    import_and_check(&django.url(), "mysql", &database).await;
}

/// Imports the knox database `django` (whose tokens are the manifest's `engine` ones)
/// into `database` twice, serves it, and checks every token, a login and a logout.
async fn import_and_check(django: &str, engine: &str, database: &str) {
    let manifest = manifest();
    let tokens = manifest["tokens"][engine].as_array().unwrap().clone();
    let users = manifest["users"].as_array().unwrap();
    let never_expire = tokens.iter().filter(|t| t["expiry"].is_null()).count();
    assert!(never_expire > 0);
    run_ok(tokenauth(database, &["migrate"]), "");

    // Twice: the second run finds everything there and changes nothing.
    let first = import_knox(database, django);
    let mut lines = first.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "{} user(s) created, 0 already there; {} token(s) stored, 0 already there",
            users.len(),
            tokens.len()
        )
    );
    // The longest expiry after creation (whole seconds, rounded up), and the tokens
    // knox never expires.
    let longest = tokens
        .iter()
        .filter(|t| !t["expiry"].is_null())
        .map(|t| t["expiry_unix_micros"].as_i64().unwrap() - t["created_unix_micros"].as_i64().unwrap())
        .max()
        .unwrap();
    let lifespan = format!("{}s", (longest + 999_999) / 1_000_000);
    let advice = lines.next().unwrap();
    assert!(advice.starts_with("knox's expiries reach "), "{first}");
    let given: String = advice.split('"').nth(1).unwrap().to_owned();
    assert_eq!(
        given.parse::<tokenauth_core::Lifespan>().unwrap(),
        lifespan.parse().unwrap(),
        "{first}"
    );
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "{never_expire} knox token(s) never expire in knox (expiry NULL): here they expire at the end of serve's --lifespan from their creation"
        )
    );
    let again = import_knox(database, django);
    assert_eq!(
        again.lines().next().unwrap(),
        format!(
            "0 user(s) created, {} already there; 0 token(s) stored, {} already there",
            users.len(),
            tokens.len()
        )
    );

    // The lifespan the import advised: each token then expires when knox said. The
    // purge grace keeps the expired one answering "Token has expired".
    let (server, addr) = Server::start(database, &["--lifespan", &given, "--purge-grace", "3650d"]);
    // The clock the binary serves on.
    let now = i64::try_from(SystemClock.now().unix_timestamp_nanos() / 1000).unwrap();
    let mut seen = [0; 3];
    for token in &tokens {
        let secret = token["token"].as_str().unwrap();
        let (user, label) = (token["user"].as_str().unwrap(), token["label"].as_str().unwrap());
        let knox = &token["knox_at_generated_at"];
        let (status, body) = me(&addr, secret).await;
        match (knox["status"].as_u64().unwrap(), knox["detail"].as_str()) {
            (200, None) => {
                assert_eq!(status, 200, "{user} {label}: {body}");
                let body: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(body["username"], user);
                assert_eq!(knox["user"], user);
                let created = micros(body["token"]["created"].as_str().unwrap());
                assert_eq!(created, token["created_unix_micros"].as_i64().unwrap(), "{label}");
                let expiry = micros(body["token"]["expiry"].as_str().unwrap());
                match token["expiry_unix_micros"].as_i64() {
                    // Knox's own expiry, to the microsecond.
                    Some(knox_expiry) => assert_eq!(expiry, knox_expiry, "{label}"),
                    None => assert_eq!(expiry, created + (longest + 999_999) / 1_000_000 * 1_000_000),
                }
                seen[0] += 1;
            }
            // Knox says "Invalid token." for an expired token (and deletes it); here
            // it is DRF's "Token has expired", as for every expired token.
            (401, Some("Invalid token.")) => {
                assert!(token["expiry_unix_micros"].as_i64().unwrap() < now, "{label}");
                assert_eq!(
                    (status, body.as_str()),
                    (401, r#"{"detail":"Token has expired"}"#),
                    "{user} {label}"
                );
                seen[1] += 1;
            }
            (401, Some("User inactive or deleted.")) => {
                assert_eq!(
                    (status, body.as_str()),
                    (401, r#"{"detail":"User inactive or deleted"}"#),
                    "{user} {label}"
                );
                seen[2] += 1;
            }
            other => panic!("unexpected manifest verdict {other:?}"),
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "every verdict is covered: {seen:?}");
    assert!(
        tokens
            .iter()
            .any(|t| t["prefix"] != "" && t["knox_at_generated_at"]["status"] == 200),
        "a prefixed token is covered"
    );

    // A token of knox's shape that knox never issued, and a real one with one
    // character changed, are unknown.
    let valid = tokens
        .iter()
        .find(|t| t["knox_at_generated_at"]["status"] == 200)
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = format!(
        "{}{}",
        &valid[..valid.len() - 1],
        if valid.ends_with('0') { '1' } else { '0' }
    );
    for unknown in ["0".repeat(64), changed] {
        let (status, body) = me(&addr, &unknown).await;
        assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));
    }

    // Logging out with an imported token ends it.
    let authorization = format!("Token {valid}");
    let headers = [("authorization", authorization.as_str())];
    let (status, body) = http(&addr, "POST", "/auth/logout", &headers, "").await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = me(&addr, &valid).await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));

    // Django's passwords log in (tokenauth's own tokens from then on).
    let alice = &users[0];
    let obtained = obtain(
        &addr,
        alice["username"].as_str().unwrap(),
        alice["password"].as_str().unwrap(),
    )
    .await;
    assert!(obtained["token"].as_str().unwrap().starts_with("tka_"));
    server.terminate();
}

#[test]
fn import_of_knox_tokens_refuses_a_database_without_knox() {
    let dir = tempfile::tempdir().unwrap();
    let drf = common::django_sqlite(&dir);
    let target = format!("sqlite://{}", dir.path().join("target.db").display());
    run_ok(tokenauth(&target, &["migrate"]), "");
    let refused = run(
        tokenauth(
            &target,
            &["import-django", "--from", &drf, "--django-tokens", "knox"],
        ),
        "",
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            "not a Django database with django-rest-knox: knox_authtoken or one of its columns is missing"
        ),
        "{stderr}"
    );
}

#[test]
fn import_of_knox_tokens_refuses_a_custom_user_model_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let drf = common::django_sqlite(&dir);
    let target = format!("sqlite://{}", dir.path().join("target.db").display());
    run_ok(tokenauth(&target, &["migrate"]), "");
    let refused = run(
        tokenauth(
            &target,
            &[
                "--django-user-table",
                "accounts_user",
                "import-django",
                "--from",
                &drf,
                "--django-tokens",
                "knox",
            ],
        ),
        "",
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--django-tokens knox imports Django's stock auth_user only"),
        "{stderr}"
    );
}
