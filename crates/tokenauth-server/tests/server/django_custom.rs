//! `--schema django` and `import-django` on a custom user model: the real binary on
//! copies of the SQLite databases Django 5.2.19 + DRF 3.18.3 made for an
//! `AbstractBaseUser` with `email` as `USERNAME_FIELD`, a UUID key and no active
//! column (`members_member`), and an `AbstractUser` with big-integer ids
//! (`accounts_user`) (`tokenauth-django/tests/fixtures/custom-users`).
//!
//! The server runs on the system clock, the fixture tokens were dated for the
//! manifest's: a lifespan of 100 years makes every token valid.

use crate::common;

use common::{Server, http, import_django_with, login, obtain, run, run_ok, tokenauth};
use serde_json::Value;
use tempfile::TempDir;

const FIXTURES: &str = common::CUSTOM_USERS;

/// The options naming the UUID model.
pub(crate) const MEMBERS: [&str; 6] = [
    "--django-user-table",
    "members_member",
    "--django-login-field",
    "email",
    "--django-active-field",
    "none",
];

fn manifest() -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A copy of the fixture `file` in a temporary directory; its URL.
fn copy(file: &str) -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    std::fs::copy(format!("{FIXTURES}/{file}"), &path).unwrap();
    (dir, format!("sqlite://{}", path.display()))
}

async fn me(addr: &str, key: &str) -> (u16, Value) {
    let authorization = format!("Token {key}");
    let (status, body) = http(addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

/// The first token of `model` Django found valid, and its user's login.
fn valid_token(model: &Value, database: &str) -> (String, String) {
    let token = model["tokens"][database]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["verdict_at_generated_at"] == "ok")
        .unwrap();
    (
        token["key"].as_str().unwrap().to_owned(),
        token["login"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn serve_on_a_custom_user_model_logs_in_by_email_and_accepts_djangos_tokens() {
    let (_dir, database) = copy("uuid.sqlite3");
    let args = [&["--schema", "django"][..], &MEMBERS, &["--lifespan", "36500d"]].concat();
    let (server, addr) = Server::start(&database, &args);

    let model = &manifest()["models"]["uuid"];
    let (key, owner) = valid_token(model, "sqlite");
    let (status, body) = me(&addr, &key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["username"], owner.as_str());

    let obtained = obtain(&addr, "alice@example.com", "alice-password").await;
    let (status, body) = me(&addr, obtained["token"].as_str().unwrap()).await;
    assert_eq!(
        (status, &body["username"]),
        (200, &Value::from("alice@example.com"))
    );
    // Matched exactly, as Django's get_by_natural_key matches it.
    let (status, body) = login(&addr, "ALICE@example.com", "alice-password").await;
    assert_eq!(status, 400, "{body}");
    drop(server);

    // A user added here gets a UUID and logs in.
    let members = [&["--schema", "django"][..], &MEMBERS].concat();
    let add = [
        &members[..],
        &["user", "add", "new@example.com", "--password-stdin"],
    ]
    .concat();
    let added = run(tokenauth(&database, &add), "s3cret pw\n");
    let stdout = String::from_utf8_lossy(&added.stdout);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let id = stdout
        .strip_prefix("created user \"new@example.com\" (id ")
        .and_then(|rest| rest.strip_suffix(", active)\n"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!((id.len(), &id[14..15]), (36, "4"), "a UUID v4: {id}");
    let deactivate = [&members[..], &["user", "deactivate", "new@example.com"]].concat();
    let refused = run(tokenauth(&database, &deactivate), "");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("the user model has no active flag"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[tokio::test]
async fn django_login_match_iexact_logs_in_whatever_the_case() {
    let (_dir, database) = copy("uuid.sqlite3");
    let iexact = ["--django-login-match", "iexact", "--lifespan", "36500d"];
    let args = [&["--schema", "django"][..], &MEMBERS, &iexact].concat();
    let (server, addr) = Server::start(&database, &args);
    let obtained = obtain(&addr, "ALICE@EXAMPLE.COM", "alice-password").await;
    let (status, body) = me(&addr, obtained["token"].as_str().unwrap()).await;
    assert_eq!(
        (status, &body["username"]),
        (200, &Value::from("alice@example.com"))
    );
    for (spelling, password) in [
        ("ALICE@EXAMPLE.COM", "alice-passwordx"),
        ("ALICE@EXAMPLE.CO", "alice-password"),
    ] {
        let (status, body) = login(&addr, spelling, password).await;
        assert_eq!(status, 400, "{spelling:?}: {body}");
        assert!(
            body.contains("Unable to log in with provided credentials."),
            "{body}"
        );
    }
    drop(server);

    // The commands name users as logins do: `user add` in capitals updates alice.
    let add = [
        &["--schema", "django"][..],
        &MEMBERS,
        &iexact[..2],
        &["user", "add", "ALICE@EXAMPLE.COM", "--password-stdin"],
    ]
    .concat();
    let added = run_ok(tokenauth(&database, &add), "a new password\n");
    assert!(added.starts_with("updated user \"alice@example.com\""), "{added}");
    let (server, addr) = Server::start(&database, &args);
    let (status, body) = login(&addr, "alice@example.com", "a new password").await;
    assert_eq!(status, 200, "{body}");
    drop(server);

    // Nothing else reads it: tokenauth's own directory matches exactly.
    let dir = tempfile::tempdir().unwrap();
    let native = common::database_with_alice(&dir, "native");
    let stderr = refused(&native, &["--django-login-match", "iexact", "user", "list"], 1);
    assert!(stderr.contains("--django-login-match"), "{stderr}");
    let target = format!("sqlite://{}", dir.path().join("imported.db").display());
    run_ok(tokenauth(&target, &["migrate"]), "");
    let mut import = tokenauth(
        &target,
        &[&MEMBERS[..], &["import-django", "--from", &database]].concat(),
    );
    import.env("TOKENAUTH_DJANGO_LOGIN_MATCH", "iexact");
    let output = run(import, "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--django-login-match iexact applies with --schema django"),
        "{stderr}"
    );
    let stderr = refused(&database, &["--django-login-match", "IEXACT", "user", "list"], 2);
    assert!(stderr.contains("[possible values: exact, iexact]"), "{stderr}");
}

/// What `tokenauth --database DATABASE ARGS` printed on standard error, exiting with
/// `code`.
fn refused(database: &str, args: &[&str], code: i32) -> String {
    let output = run(tokenauth(database, args), "");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    stderr
}

#[test]
fn a_user_model_that_does_not_match_the_database_is_refused_at_start_naming_what_is_missing() {
    let (_dir, database) = copy("uuid.sqlite3");
    let django = ["--schema", "django"];
    let table = ["--django-user-table", "members_member"];
    let serve = [&django[..], &table, &["serve", "--bind", "127.0.0.1:0"]].concat();
    let stderr = refused(&database, &serve, 1);
    assert!(
        stderr.contains(
            "column members_member.username is missing; column members_member.is_active is missing"
        ),
        "{stderr}"
    );
    let other = [&django[..], &["--django-user-table", "people", "user", "list"]].concat();
    let stderr = refused(&database, &other, 1);
    assert!(stderr.contains("table people is missing"), "{stderr}");
    // Names of a user model nothing reads are refused, not ignored.
    let dir = tempfile::tempdir().unwrap();
    let native = common::database_with_alice(&dir, "native");
    let stderr = refused(&native, &[&table[..], &["user", "list"]].concat(), 1);
    assert!(
        stderr.contains("they apply with --schema django and to import-django"),
        "{stderr}"
    );
    // A name that is no SQL identifier never reaches the database.
    let bad = [
        &django[..],
        &["--django-login-field", "email; --", "user", "list"],
    ]
    .concat();
    let stderr = refused(&database, &bad, 2);
    assert!(
        stderr.contains("`email; --` is not a table or column name"),
        "{stderr}"
    );
}

#[tokio::test]
async fn import_django_moves_a_custom_user_model_into_tokenauths_schema() {
    for (file, model, options) in [
        ("uuid.sqlite3", "uuid", &MEMBERS[..]),
        (
            "bigint.sqlite3",
            "bigint",
            &["--django-user-table", "accounts_user"][..],
        ),
    ] {
        let (dir, django) = copy(file);
        let database = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
        let printed = import_django_with(&database, &django, options);
        assert!(printed.contains(" user(s) created, 0 already there"), "{printed}");
        let (server, addr) = Server::start(&database, &["--lifespan", "36500d"]);
        let model = &manifest()["models"][model];
        let (key, login) = valid_token(model, "sqlite");
        let (status, body) = me(&addr, &key).await;
        assert_eq!(
            (status, &body["username"]),
            (200, &Value::from(login.as_str())),
            "{body}"
        );
        let user = &model["users"][0];
        let obtained = obtain(
            &addr,
            user["login"].as_str().unwrap(),
            user["password"].as_str().unwrap(),
        )
        .await;
        assert_eq!(me(&addr, obtained["token"].as_str().unwrap()).await.0, 200);
        drop(server);
    }
}

#[test]
fn a_user_model_without_an_active_flag_refuses_to_deactivate_anyone_by_name() {
    let (_dir, database) = copy("uuid.sqlite3");
    let model = &manifest()["models"]["uuid"];
    let login = model["users"][0]["login"].as_str().unwrap();
    let django = [&["--schema", "django"][..], &MEMBERS].concat();
    for command in [
        &["user", "deactivate", login][..],
        &["user", "add", "new@example.com", "--password-stdin", "--inactive"],
    ] {
        let stderr = refused(&database, &[&django[..], command].concat(), 1);
        assert!(
            stderr.contains("the user model has no active flag (--django-active-field none)"),
            "{command:?}: {stderr}"
        );
        assert!(!stderr.contains("failed"), "a refusal, not a failure: {stderr}");
    }
    // Activating changes nothing, and is allowed.
    let output = run(
        tokenauth(&database, &[&django[..], &["user", "activate", login]].concat()),
        "",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
