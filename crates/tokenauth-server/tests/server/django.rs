//! `tokenauth --schema django`: the real binary on a copy of the SQLite database Django
//! 5.2.19 + DRF 3.18.3 made (`tokenauth-django/tests/fixtures`), serving the same
//! routes with DRF's keys and semantics, and administering Django's users.
//!
//! The server runs on the system clock while the fixture tokens were dated for the
//! manifest's clock, so these tests choose lifespans that make the outcome independent
//! of today's date: 100 years (every token valid) or 1 second (every token expired).

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Server, http, obtain, run, tokenauth};
use serde_json::Value;
use tempfile::TempDir;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tokenauth-django/tests/fixtures");

/// alice's key in the fixture SQLite database, and grace's (inactive).
const ALICE_KEY: &str = "c218a4606fa3bb321c24908f39f21bd17624f918";
const GRACE_KEY: &str = "0d20ddae79d34b3c135b2c5f625f4ed5c050bbab";

/// A copy of the fixture database in a temporary directory; its URL.
fn django_copy() -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("django.sqlite3");
    std::fs::copy(format!("{FIXTURES}/django.sqlite3"), &path).unwrap();
    let url = format!("sqlite://{}", path.display());
    (dir, url)
}

async fn me(addr: &str, key: &str) -> (u16, String) {
    let authorization = format!("Token {key}");
    http(addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await
}

#[tokio::test]
async fn serve_on_djangos_tables_returns_drfs_key_and_accepts_djangos_tokens() {
    let (_dir, database) = django_copy();
    let (server, addr) = Server::start(&database, &["--schema", "django", "--lifespan", "36500d"]);

    // Django's token authenticates here.
    let (status, body) = me(&addr, ALICE_KEY).await;
    assert_eq!(status, 200, "{body}");
    let me_body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me_body["username"], "alice");
    assert_eq!(me_body["token"]["created"], "2026-11-27T14:44:48.029931Z");

    // Logging in returns the same key again, as DRF does.
    for _ in 0..2 {
        let obtained = obtain(&addr, "alice", "alice-password").await;
        assert_eq!(obtained["token"], ALICE_KEY);
    }
    // dave (bcrypt_sha256, no token) gets a new DRF key.
    let dave = obtain(&addr, "dave", "dave-password").await;
    let key = dave["token"].as_str().unwrap();
    assert!(
        key.len() == 40 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{key}"
    );
    assert_eq!(me(&addr, key).await.0, 200);

    // Refusals are DRF's.
    let (status, body) = me(&addr, &ALICE_KEY.to_uppercase()).await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));
    let (status, body) = me(&addr, GRACE_KEY).await;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"detail":"User inactive or deleted"}"#)
    );
    for (username, password) in [
        ("heinz", ""),
        ("heinz", "x"),
        ("grace", "grace-password"),
        ("alice", "nope"),
    ] {
        let credentials = serde_json::json!({ "username": username, "password": password });
        let (status, body) = http(
            &addr,
            "POST",
            "/api-token-auth/",
            &[("content-type", "application/json")],
            &credentials.to_string(),
        )
        .await;
        let expected = if password.is_empty() {
            r#"{"password":["This field may not be blank."]}"#
        } else {
            r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#
        };
        assert_eq!((status, body.as_str()), (400, expected), "{username}");
    }
    // DRF keeps one token per user: no personal token beside it (405), and the key
    // still works.
    let authorization = format!("Token {ALICE_KEY}");
    let (status, headers, body) = common::http_with_headers(
        &addr,
        "POST",
        "/auth/tokens",
        &[
            ("authorization", &authorization),
            ("content-type", "application/json"),
        ],
        r#"{"name": "ci"}"#,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (405, r#"{"detail":"Method \"POST\" not allowed."}"#)
    );
    assert_eq!(headers["allow"], "GET,HEAD");
    assert_eq!(me(&addr, ALICE_KEY).await.0, 200);
    server.terminate();
}

#[tokio::test]
async fn expiry_is_the_originals_and_inactive_comes_first() {
    let (_dir, database) = django_copy();
    let (server, addr) = Server::start(&database, &["--schema", "django", "--lifespan", "1s"]);
    let (status, body) = me(&addr, ALICE_KEY).await;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"detail":"Token has expired"}"#)
    );
    let (status, body) = me(&addr, GRACE_KEY).await;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"detail":"User inactive or deleted"}"#)
    );
    // An expired key is replaced on login, and the old one is then unknown.
    let obtained = obtain(&addr, "alice", "alice-password").await;
    assert_ne!(obtained["token"], ALICE_KEY);
    let (status, body) = me(&addr, ALICE_KEY).await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));
    server.terminate();
}

#[test]
fn user_and_token_commands_work_on_djangos_tables() {
    let (_dir, database) = django_copy();
    let django = |args: &[&str]| {
        let mut all = vec!["--schema", "django"];
        all.extend_from_slice(args);
        tokenauth(&database, &all)
    };
    let added = run(
        django(&["user", "add", "newbie", "--password-stdin"]),
        "s3cret pw\n",
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&added.stdout),
        "created user \"newbie\" (id 10, active)\n"
    );

    let listed = run(django(&["user", "list"]), "");
    let users = String::from_utf8(listed.stdout).unwrap();
    for name in ["alice", "grace", "newbie", "zoë ünïcode"] {
        assert!(users.contains(name), "{users}");
    }

    let created = run(django(&["token", "create", "newbie"]), "");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8(created.stdout).unwrap();
    assert_eq!(key.trim().len(), 40, "{key}");

    let refused = run(django(&["token", "create", "newbie", "--lifespan", "1h"]), "");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("not with --schema django: --name, --lifespan and --scope"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let migrate = run(django(&["migrate"]), "");
    assert!(!migrate.status.success());
    assert!(
        String::from_utf8_lossy(&migrate.stderr).contains("tokenauth never migrates a Django database"),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
}

/// `command`'s output once it has exited, with no input; the test fails if it is
/// still running after 30 s (a server that started instead of refusing).
fn ended_within_30s(mut command: Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!(
                "still running after 30 s: {:?}",
                child.wait_with_output().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_cache_and_a_token_store_are_refused_not_ignored() {
    let (_dir, database) = django_copy();
    let refused = |args: &[&str], option: &str| {
        let mut all = vec!["--schema", "django"];
        all.extend_from_slice(args);
        let output = ended_within_30s(tokenauth(&database, &all));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("not with --schema django: ") && stderr.contains(option),
            "{args:?}: {stderr}"
        );
    };
    let serve = ["serve", "--bind", "127.0.0.1:0"];
    refused(&[&serve[..], &["--cache", "on"]].concat(), "--cache");
    for command in [&serve[..], &["user", "list"], &["token", "list"]] {
        let store = ["--token-store", "redis://127.0.0.1:1"];
        refused(&[&store[..], command].concat(), "--token-store");
        refused(
            &[command, &["--token-store-ca", "/etc/hostname"]].concat(),
            "--token-store-ca",
        );
        refused(
            &[command, &["--token-store-prefix", "other"]].concat(),
            "--token-store-prefix",
        );
    }
}

#[test]
fn a_database_that_is_not_djangos_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    // A tokenauth database: no auth_user, no authtoken_token.
    let database = common::database_with_alice(&dir, "native");
    let refused = run(
        tokenauth(
            &database,
            &["--schema", "django", "serve", "--bind", "127.0.0.1:0"],
        ),
        "",
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not a Django database with DRF's authtoken app: table auth_user is missing"),
        "{stderr}"
    );
    let tables = run(tokenauth(&database, &["user", "list"]), "");
    assert!(
        String::from_utf8_lossy(&tables.stdout).contains("alice"),
        "the native database is untouched"
    );
}
