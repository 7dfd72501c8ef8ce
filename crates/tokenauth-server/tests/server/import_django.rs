//! `tokenauth import-django`: the real binary moves a copy of the SQLite database
//! Django 5.2.19 + DRF 3.18.3 made (`tokenauth-django/tests/fixtures`, described by
//! its `manifest.json`) into tokenauth's own schema, twice, and the native `serve`
//! then answers every imported key as Django did and logs the users in with their
//! Django passwords.
//!
//! The server runs on the system clock while the fixture tokens were dated for the
//! manifest's clock, so the lifespan is chosen at run time to put the expiry
//! boundary, relative to now, where the manifest's 30 days put it relative to
//! `generated_at`: between the newest expired token and the oldest valid one.
//! On PostgreSQL (source and target, and from SQLite into PostgreSQL), ignored by
//! default: `TOKENAUTH_TEST_POSTGRES_URL=... cargo test -p tokenauth-server --test
//! import_django -- --ignored`.

use crate::common;

use common::{Server, django_sqlite, http, import_django, login, obtain, run, run_ok, tokenauth};
use serde_json::Value;
use tokenauth_core::{Clock, SystemClock};

const FIXTURES: &str = common::DJANGO_FIXTURES;

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/manifest.json")).unwrap()).unwrap()
}

fn import(database: &str, django: &str) -> String {
    let stdout = import_django(database, django);
    stdout.lines().next().unwrap_or_default().to_owned()
}

async fn me(addr: &str, key: &str) -> (u16, String) {
    let authorization = format!("Token {key}");
    http(addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await
}

/// A lifespan, in seconds, that expires now exactly the tokens the manifest says
/// were expired at `generated_at`: the boundary halfway between the newest expired
/// token's `created` and the oldest valid one's.
fn lifespan_like_the_manifests(tokens: &[Value]) -> u64 {
    let created = |expired: bool| {
        tokens
            .iter()
            .filter(move |t| t["expired_at_generated_at"] == expired)
            .map(|t| t["created_unix_micros"].as_i64().unwrap())
    };
    let newest_expired = created(true).max().unwrap();
    let oldest_valid = created(false).min().unwrap();
    let boundary = (newest_expired + oldest_valid) / 2 / 1_000_000;
    // The clock the binary serves on.
    let now = SystemClock.now().unix_timestamp();
    u64::try_from(now - boundary).unwrap()
}

#[tokio::test]
async fn imported_django_users_and_keys_work_in_the_native_server() {
    let dir = tempfile::tempdir().unwrap();
    let django = django_sqlite(&dir);
    let database = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    import_and_check(&django, "sqlite", &database).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL and psql: set TOKENAUTH_TEST_POSTGRES_URL"]
async fn imported_from_postgres_into_postgres() {
    let django = common::postgres::DumpDatabase::load(&format!("{FIXTURES}/django-postgres.sql"));
    let schema = common::postgres::Schema::create().await;
    import_and_check(&django.url, "postgres", &schema.database()).await;
}

/// Across backends: Django on SQLite, tokenauth on PostgreSQL. The keys are the
/// SQLite fixture's, and every one must answer on PostgreSQL as it did in Django.
#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn imported_from_sqlite_into_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let django = django_sqlite(&dir);
    let schema = common::postgres::Schema::create().await;
    import_and_check(&django, "sqlite", &schema.database()).await;
}

/// Imports the Django database `django` (whose keys are the manifest's `engine` ones)
/// into `database` twice, serves it, and checks every key and some logins.
async fn import_and_check(django: &str, engine: &str, database: &str) {
    let manifest = manifest();
    let tokens = manifest["tokens"][engine].as_array().unwrap().clone();
    let users = manifest["users"].as_array().unwrap();
    let (database, django) = (database.to_owned(), django.to_owned());

    // Twice: the second run finds everything there and changes nothing.
    assert_eq!(
        import(&database, &django),
        format!(
            "{} user(s) created, 0 already there; {} token(s) stored, 0 already there",
            users.len(),
            tokens.len()
        )
    );
    assert_eq!(
        import(&database, &django),
        format!(
            "0 user(s) created, {} already there; 0 token(s) stored, {} already there",
            users.len(),
            tokens.len()
        )
    );
    let listed = run(tokenauth(&database, &["user", "list"]), "");
    let listed = String::from_utf8(listed.stdout).unwrap();
    for user in users {
        assert!(listed.contains(user["username"].as_str().unwrap()), "{listed}");
    }

    let lifespan = format!("{}s", lifespan_like_the_manifests(&tokens));
    // The purge grace keeps long-expired keys answering "Token has expired" (DRF keeps
    // them until the next login; tokenauth deletes them a grace after expiry).
    let (server, addr) = Server::start(&database, &["--lifespan", &lifespan, "--purge-grace", "3650d"]);

    // Every key answers as the seed's Django did at `generated_at`, still dated by
    // its `created`.
    let mut seen = [0; 3];
    for token in &tokens {
        let key = token["key"].as_str().unwrap();
        let username = token["username"].as_str().unwrap();
        let (status, body) = me(&addr, key).await;
        match token["seed_auth_at_generated_at"].as_str().unwrap() {
            "ok" => {
                assert_eq!(status, 200, "{username}: {body}");
                let body: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(body["username"], username);
                let created = time::OffsetDateTime::parse(
                    body["token"]["created"].as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap();
                assert_eq!(
                    i64::try_from(created.unix_timestamp_nanos() / 1000).unwrap(),
                    token["created_unix_micros"].as_i64().unwrap(),
                    "{username}"
                );
                seen[0] += 1;
            }
            "Token has expired" => {
                assert_eq!(
                    (status, body.as_str()),
                    (401, r#"{"detail":"Token has expired"}"#),
                    "{username}"
                );
                seen[1] += 1;
            }
            "User inactive or deleted" => {
                assert_eq!(
                    (status, body.as_str()),
                    (401, r#"{"detail":"User inactive or deleted"}"#),
                    "{username}"
                );
                seen[2] += 1;
            }
            other => panic!("unexpected manifest outcome {other:?}"),
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "every outcome is covered: {seen:?}");
    // A key that was never Django's is still unknown.
    let (status, body) = me(&addr, &"0".repeat(40)).await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));

    // Django passwords log in; bob's (PBKDF2, 600,000 iterations) is re-hashed to
    // argon2id by the first login, and the password still works after it.
    assert!(
        stored_hash(&database, "bob")
            .await
            .starts_with("pbkdf2_sha256$600000$")
    );
    for _ in 0..2 {
        let obtained = obtain(&addr, "bob", "bob-password").await;
        let (status, body) = me(&addr, obtained["token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{body}");
        assert!(stored_hash(&database, "bob").await.starts_with("$argon2id$"));
    }
    obtain(&addr, "zoë ünïcode", "pässwörd with spaces ").await;
    // An unusable password, a wrong one and an inactive user never log in.
    for (username, password) in [
        ("heinz", "heinz-password"),
        ("heinz", "x"),
        ("bob", "alice-password"),
        ("grace", "grace-password"),
    ] {
        let (status, body) = login(&addr, username, password).await;
        assert_eq!(
            (status, body.as_str()),
            (
                400,
                r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#
            ),
            "{username}"
        );
    }
    server.terminate();
}

/// `--from` from `TOKENAUTH_IMPORT_DJANGO_FROM`, so a password need not be on the
/// command line.
#[test]
fn the_django_url_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let django = django_sqlite(&dir);
    let database = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    run_ok(tokenauth(&database, &["migrate"]), "");
    let mut command = tokenauth(&database, &["import-django"]);
    command.env("TOKENAUTH_IMPORT_DJANGO_FROM", &django);
    let stdout = run_ok(command, "");
    let users = manifest()["users"].as_array().unwrap().len();
    assert!(
        stdout.starts_with(&format!("{users} user(s) created, 0 already there;")),
        "{stdout}"
    );
}

#[test]
fn import_django_refuses_a_database_that_is_not_djangos() {
    let dir = tempfile::tempdir().unwrap();
    let native = common::database_with_alice(&dir, "native");
    let target = format!("sqlite://{}", dir.path().join("target.db").display());
    run_ok(tokenauth(&target, &["migrate"]), "");
    let refused = run(tokenauth(&target, &["import-django", "--from", &native]), "");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not a Django database with DRF's authtoken app: table auth_user is missing"),
        "{stderr}"
    );
}

/// The password hash `database` (tokenauth's schema) stores for `username`.
async fn stored_hash(database: &str, username: &str) -> String {
    use sqlx::Connection as _;
    const QUERY: &str = "SELECT password_hash FROM tokenauth_users WHERE username = ";
    if database.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database).await.unwrap();
        sqlx::query_scalar(&format!("{QUERY}?"))
            .bind(username)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(database).await.unwrap();
        sqlx::query_scalar(&format!("{QUERY}$1"))
            .bind(username)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }
}
