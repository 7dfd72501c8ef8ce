//! `tokenauth copy-database` with the real binary: a SQLite database built through the
//! CLI (live, revoked, expired and capped tokens, an inactive user, a revoked-all
//! user, a stored policy) is copied twice; the copy lists the same users and tokens,
//! and a server on it answers every old token exactly as a server on the original
//! did. A token revoked in the source after a copy stays revoked after the next.
//!
//! Into SQLite this runs everywhere; into PostgreSQL and MySQL it is ignored by
//! default: run it with `TOKENAUTH_TEST_POSTGRES_URL` / `TOKENAUTH_TEST_MYSQL_URL` set
//! and `--ignored`, as `.ci/run` does. It works in a schema (a database on MySQL) of
//! its own, dropped afterwards.

use crate::common;

use common::postgres::Schema;
use common::{Server, add_user, http, run, run_ok, tokenauth};
use serde_json::Value;
use time::Duration;
use time::format_description::well_known::Rfc3339;
use tokenauth_core::{Clock, SystemClock, TokenFormat};

/// Runs `tokenauth --database DATABASE ARGS`, which must succeed; its stdout.
fn ok(database: &str, args: &[&str], stdin: &str) -> String {
    run_ok(tokenauth(database, args), stdin)
}

/// `tokenauth copy-database --from FROM --to TO`: its summary line.
fn copy(from: &str, to: &str) -> String {
    // The copy never changes a schema: the target is migrated first.
    ok(to, &["migrate"], "");
    let out = ok(from, &["copy-database", "--from", from, "--to", to], "");
    let mut lines = out.lines();
    let summary = lines.next().unwrap_or_default().to_owned();
    assert!(lines.next().is_some_and(|l| l.starts_with("took ")), "{out}");
    summary
}

/// The id of the only token of `username`, from `token list`.
fn token_id(database: &str, username: &str) -> String {
    let listed = ok(database, &["token", "list", "--user", username], "");
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{listed}");
    rows[0].split_whitespace().next().unwrap().to_owned()
}

/// Stops `server` with SIGTERM, which must end it cleanly.
fn stop(mut server: Server) {
    server.terminate();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status}: {}", server.logs());
}

/// What a server on `database` answers to each token on `GET /auth/me`: the status,
/// and the body without `last_used` (which the requests themselves move).
async fn answers(database: &str, tokens: &[String]) -> Vec<(u16, Value)> {
    let (server, addr) = Server::start(database, &["--scopes", "read write"]);
    let mut answers = Vec::new();
    for token in tokens {
        let authorization = format!("Token {token}");
        let (status, body) = http(&addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
        let mut body: Value = serde_json::from_str(&body).unwrap();
        if let Some(token) = body.get_mut("token").and_then(Value::as_object_mut) {
            token.remove("last_used");
        }
        answers.push((status, body));
    }
    stop(server);
    answers
}

/// The whole move, from a new SQLite database in `dir` to `target`.
async fn move_keeps_every_answer(dir: &tempfile::TempDir, target: &str) {
    let source = format!("sqlite://{}", dir.path().join("old.db").display());
    for user in ["alice", "bob", "carol", "dave"] {
        add_user(&source, user, &format!("{user} pw"));
    }
    // A serve stores its policy, which the copy carries over.
    let (server, addr) = Server::start(&source, &["--lifespan", "30d", "--scopes", "read write"]);
    // Answering a request, it also listens for the signal.
    assert_eq!(http(&addr, "GET", "/healthz", &[], "").await.0, 200);
    stop(server);

    let mut tokens = vec![
        ok(
            &source,
            &["token", "create", "alice", "--name", "laptop", "--scope", "read"],
            "",
        ),
        ok(&source, &["token", "create", "alice", "--lifespan", "1h"], ""),
        ok(&source, &["token", "create", "bob"], ""),
        ok(&source, &["token", "create", "carol"], ""),
        ok(&source, &["token", "create", "dave"], ""),
    ];
    // Revoked by id.
    ok(&source, &["token", "revoke", &token_id(&source, "bob")], "");
    // Expired ones, through the import: one past the lifespan, one past its own cap
    // (both within the purge grace of 7 days, which serve applies).
    let format = TokenFormat::default();
    let (old, capped) = (format.generate(), format.generate());
    let now = SystemClock.now();
    let lines = [
        serde_json::json!({"username": "alice", "token": old.expose_secret(),
            "created": (now - Duration::days(33)).format(&Rfc3339).unwrap()}),
        serde_json::json!({"username": "bob", "token": capped.expose_secret(),
            "created": (now - Duration::days(2)).format(&Rfc3339).unwrap(),
            "expires": (now - Duration::days(1)).format(&Rfc3339).unwrap()}),
    ];
    let file = dir.path().join("tokens.jsonl");
    std::fs::write(&file, lines.map(|l| l.to_string()).join("\n")).unwrap();
    ok(&source, &["import", "--tokens", file.to_str().unwrap()], "");
    tokens.extend([old.into_secret(), capped.into_secret()]);
    for token in &mut tokens {
        *token = token.trim_end().to_owned();
    }
    // A user deactivated, every token of a user revoked.
    ok(&source, &["user", "deactivate", "carol"], "");
    ok(&source, &["user", "revoke-all", "dave"], "");
    // A deleted user: its id is never given out again, in the copy either.
    add_user(&source, "eve", "eve pw");
    ok(&source, &["user", "delete", "eve"], "");

    let before = answers(&source, &tokens).await;
    let statuses: Vec<u16> = before.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [200, 200, 401, 401, 401, 401, 401], "{before:#?}");
    let details: Vec<&str> = before[2..]
        .iter()
        .map(|(_, body)| body["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "Invalid token",
            "User inactive or deleted",
            "Invalid token",
            "Token has expired",
            "Token has expired"
        ]
    );

    assert_eq!(
        copy(&source, target),
        "copied 4 user(s), 5 token(s), 4 token-set version(s) and 8 setting(s); \
         deleted 0 token(s) the source no longer has"
    );
    // Again: the same rows, nothing duplicated, nothing to delete.
    assert_eq!(
        copy(&source, target),
        "copied 4 user(s), 5 token(s), 4 token-set version(s) and 8 setting(s); \
         deleted 0 token(s) the source no longer has"
    );
    for listing in [&["user", "list"][..], &["token", "list"]] {
        assert_eq!(ok(&source, listing, ""), ok(target, listing, ""), "{listing:?}");
    }
    assert_eq!(answers(target, &tokens).await, before);

    // The next user gets a new id in both: 6, after deleted eve's 5.
    let added = add_user(target, "frank", "frank pw");
    assert_eq!(added, "created user \"frank\" (id 6, active)\n");
    ok(target, &["user", "delete", "frank"], "");

    // Revoked in the source after a copy: revoked in the target by the next one.
    let laptop = ok(&source, &["token", "list", "--user", "alice"], "")
        .lines()
        .find(|line| line.ends_with("laptop"))
        .and_then(|line| line.split_whitespace().next())
        .unwrap()
        .to_owned();
    ok(&source, &["token", "revoke", &laptop], "");
    assert_eq!(
        copy(&source, target),
        "copied 4 user(s), 4 token(s), 4 token-set version(s) and 8 setting(s); \
         deleted 1 token(s) the source no longer has"
    );
    let after = answers(target, &tokens[..1]).await;
    assert_eq!(after[0].0, 401);
    assert_eq!(after[0].1["detail"], "Invalid token");
}

#[tokio::test]
async fn a_sqlite_database_moves_to_another_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = format!("sqlite://{}", dir.path().join("new.db").display());
    move_keeps_every_answer(&dir, &target).await;
}

#[tokio::test]
async fn copying_a_database_onto_itself_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("db.db").display());
    let output = run(
        tokenauth(
            &database,
            &["copy-database", "--from", &database, "--to", &database],
        ),
        "",
    );
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: --from and --to name the same database\n"
    );
}

/// `--from` and `--to` from `TOKENAUTH_COPY_FROM` and `TOKENAUTH_COPY_TO`, so a
/// password need not be on the command line.
#[tokio::test]
async fn the_urls_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::database_with_alice(&dir, "old");
    let target = format!("sqlite://{}", dir.path().join("new.db").display());
    ok(&target, &["migrate"], "");
    let mut command = tokenauth(&source, &["copy-database"]);
    command
        .env("TOKENAUTH_COPY_FROM", &source)
        .env("TOKENAUTH_COPY_TO", &target);
    run_ok(command, "");
    assert_eq!(
        ok(&target, &["user", "list"], ""),
        "ID       ACTIVE  USERNAME\n1        yes     alice\n"
    );
}

#[tokio::test]
async fn a_target_holding_other_users_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let source = format!("sqlite://{}", dir.path().join("old.db").display());
    let target = format!("sqlite://{}", dir.path().join("new.db").display());
    add_user(&source, "alice", "pw");
    add_user(&target, "mallory", "pw");
    let output = run(
        tokenauth(&source, &["copy-database", "--from", &source, "--to", &target]),
        "",
    );
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: database error: the target database holds other data: \
         user id 1 is \"mallory\" there but \"alice\" in the source\n"
    );
    assert_eq!(
        ok(&target, &["user", "list"], ""),
        "ID       ACTIVE  USERNAME\n1        yes     mallory\n"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn a_sqlite_database_moves_to_postgres() {
    let schema = Schema::create_with_prefix("tokenauth_copy_").await;
    let dir = tempfile::tempdir().unwrap();
    move_keeps_every_answer(&dir, &schema.database()).await;
}

#[tokio::test]
#[ignore = "needs MySQL: set TOKENAUTH_TEST_MYSQL_URL and run with --ignored"]
async fn a_sqlite_database_moves_to_mysql() {
    let database = common::mysql::Database::create().await;
    let dir = tempfile::tempdir().unwrap();
    move_keeps_every_answer(&dir, &database.url()).await;
}
