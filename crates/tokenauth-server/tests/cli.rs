//! The admin CLI, run in-process against a fresh SQLite file per test.

use clap::Parser;
use tempfile::TempDir;
use tokenauth::TokenAuth;
use tokenauth_core::AuthError;
use tokenauth_server::cli::{self, Cli, CliError, Io};
use tokenauth_sqlx::{SqliteStore, SqliteUserDirectory};

/// A temporary database; dropped with the test.
struct Db {
    _dir: TempDir,
    url: String,
}

fn db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    Db { _dir: dir, url }
}

impl Db {
    /// Runs `tokenauth --database <this db> ARGS` with `stdin`; its stdout on success.
    async fn run(&self, args: &[&str], stdin: &str) -> Result<String, CliError> {
        let argv = ["tokenauth", "--database", &self.url]
            .into_iter()
            .chain(args.iter().copied());
        let cli = Cli::try_parse_from(argv).expect("arguments parse");
        let mut io = Io {
            stdin: stdin.as_bytes(),
            stdout: Vec::new(),
            interactive: false,
        };
        cli::run(cli, &mut io).await?;
        Ok(String::from_utf8(io.stdout).expect("stdout is UTF-8"))
    }

    async fn ok(&self, args: &[&str], stdin: &str) -> String {
        match self.run(args, stdin).await {
            Ok(out) => out,
            Err(e) => panic!("tokenauth {args:?} failed: {e}"),
        }
    }

    async fn err(&self, args: &[&str], stdin: &str) -> String {
        match self.run(args, stdin).await {
            Ok(out) => panic!("tokenauth {args:?} succeeded: {out}"),
            Err(e) => e.to_string(),
        }
    }

    async fn auth(&self) -> TokenAuth<SqliteStore, SqliteUserDirectory> {
        let pool = tokenauth_sqlx::connect(&self.url).await.unwrap();
        TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool))
    }
}

#[tokio::test]
async fn migrate_creates_the_database() {
    let db = db();
    assert_eq!(db.ok(&["migrate"], "").await, "database is up to date\n");
    assert_eq!(db.ok(&["migrate"], "").await, "database is up to date\n");
    assert_eq!(db.ok(&["user", "list"], "").await, "ID       ACTIVE  USERNAME\n");
}

#[tokio::test]
async fn user_add_creates_then_updates_keeping_tokens() {
    let db = db();
    assert_eq!(
        db.ok(&["user", "add", "alice", "--password-stdin"], "first pass\n")
            .await,
        "created user \"alice\" (id 1, active)\n"
    );
    let token = db.ok(&["token", "create", "alice"], "").await;
    assert_eq!(
        db.ok(
            &["user", "add", "alice", "--password-stdin", "--inactive"],
            "second pass\n"
        )
        .await,
        "updated user \"alice\" (id 1, inactive)\n"
    );
    let auth = db.auth().await;
    assert!(auth.obtain("alice", "first pass", None).await.is_err());
    // Inactive: the new password is right, but logins and tokens are refused.
    assert!(auth.obtain("alice", "second pass", None).await.is_err());
    let err = auth.authenticate(token.trim_end()).await.unwrap_err();
    assert!(matches!(err, AuthError::UserInactive), "{err}");

    db.ok(&["user", "activate", "alice"], "").await;
    assert!(auth.obtain("alice", "second pass", None).await.is_ok());
    // The token issued before the update still works.
    assert_eq!(
        auth.authenticate(token.trim_end()).await.unwrap().user.username,
        "alice"
    );
}

#[tokio::test]
async fn password_stdin_takes_the_first_line_without_its_ending() {
    let db = db();
    db.ok(
        &["user", "add", "zoë", "--password-stdin"],
        "  spaced pässword \r\nsecond line\n",
    )
    .await;
    let auth = db.auth().await;
    assert!(auth.obtain("zoë", "  spaced pässword ", None).await.is_ok());
    assert!(auth.obtain("zoë", "  spaced pässword \r", None).await.is_err());

    // No trailing newline at all is fine too.
    db.ok(&["user", "add", "bob", "--password-stdin"], "no newline")
        .await;
    assert!(auth.obtain("bob", "no newline", None).await.is_ok());
}

#[tokio::test]
async fn bad_passwords_are_refused_with_a_clear_message() {
    let db = db();
    assert_eq!(
        db.err(&["user", "add", "alice", "--password-stdin"], "").await,
        "no password on standard input"
    );
    assert_eq!(
        db.err(&["user", "add", "alice", "--password-stdin"], "\n").await,
        "the password must not be empty"
    );
    assert_eq!(
        db.err(&["user", "add", "alice"], "").await,
        "standard input is not a terminal: pass the password with --password-stdin"
    );
    assert_eq!(db.ok(&["user", "list"], "").await, "ID       ACTIVE  USERNAME\n");
}

#[tokio::test]
async fn user_list_activate_deactivate() {
    let db = db();
    db.ok(&["user", "add", "bob", "--password-stdin"], "pw\n").await;
    db.ok(
        &["user", "add", "alice", "--password-stdin", "--inactive"],
        "pw\n",
    )
    .await;
    assert_eq!(
        db.ok(&["user", "list"], "").await,
        "ID       ACTIVE  USERNAME\n2        no      alice\n1        yes     bob\n"
    );
    assert_eq!(
        db.ok(&["user", "activate", "alice"], "").await,
        "activated user \"alice\"\n"
    );
    assert_eq!(
        db.ok(&["user", "deactivate", "bob"], "").await,
        "deactivated user \"bob\"\n"
    );
    assert_eq!(
        db.ok(&["user", "list"], "").await,
        "ID       ACTIVE  USERNAME\n2        yes     alice\n1        no      bob\n"
    );
    assert_eq!(
        db.err(&["user", "activate", "carol"], "").await,
        "no user named \"carol\""
    );
    assert_eq!(
        db.err(&["user", "deactivate", "Bob"], "").await,
        "no user named \"Bob\""
    );
}

#[tokio::test]
async fn token_create_prints_only_a_working_token() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    let out = db
        .ok(&["token", "create", "alice", "--name", "ci runner"], "")
        .await;
    let token = out.strip_suffix('\n').expect("one line");
    assert!(!token.contains('\n'));
    assert_eq!(token.len(), 53);
    assert!(token.starts_with("tka_") && token[4..].bytes().all(|b| b.is_ascii_alphanumeric()));

    let verified = db.auth().await.authenticate(token).await.unwrap();
    assert_eq!(verified.user.username, "alice");
    assert_eq!(verified.token.name.as_deref(), Some("ci runner"));
    assert_eq!(
        verified.token.expires - verified.token.created,
        time::Duration::days(30)
    );

    assert_eq!(
        db.err(&["token", "create", "nobody"], "").await,
        "no user named \"nobody\""
    );
}

#[tokio::test]
async fn token_create_with_a_lifespan_caps_the_token() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    let token = db.ok(&["token", "create", "alice", "--lifespan", "7d"], "").await;
    let verified = db.auth().await.authenticate(token.trim_end()).await.unwrap();
    assert_eq!(
        verified.token.expires - verified.token.created,
        time::Duration::days(7)
    );
}

#[tokio::test]
async fn token_list_shows_tokens_without_secrets() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    db.ok(&["user", "add", "bob", "--password-stdin"], "pw\n").await;
    let alice_token = db.ok(&["token", "create", "alice", "--name", "laptop"], "").await;
    let bob_token = db.ok(&["token", "create", "bob"], "").await;

    let all = db.ok(&["token", "list"], "").await;
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 3, "{all}");
    assert!(lines[0].starts_with("ID") && lines[0].ends_with("NAME"));
    assert!(lines[1].contains(" alice ") && lines[1].ends_with("laptop") && lines[1].contains(" valid "));
    assert!(lines[2].contains(" bob "));
    assert!(!all.contains(alice_token.trim_end()) && !all.contains(bob_token.trim_end()));
    assert!(!all.contains("tka_"));

    let only_bob = db.ok(&["token", "list", "--user", "bob"], "").await;
    assert_eq!(only_bob.lines().count(), 2);
    assert!(only_bob.lines().nth(1).unwrap().contains(" bob "));

    // Under a 1-second server lifespan the tokens (made just now) are shown with
    // an expiry one second after creation.
    let short = db
        .ok(&["token", "list", "--lifespan", "1s", "--user", "alice"], "")
        .await;
    let row: Vec<&str> = short.lines().nth(1).unwrap().split_whitespace().collect();
    let created =
        time::OffsetDateTime::parse(row[2], &time::format_description::well_known::Rfc3339).unwrap();
    let expires =
        time::OffsetDateTime::parse(row[3], &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(expires - created, time::Duration::seconds(1));

    assert_eq!(
        db.err(&["token", "list", "--user", "carol"], "").await,
        "no user named \"carol\""
    );
}

#[tokio::test]
async fn token_revoke_kills_the_token_at_once() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    let token = db.ok(&["token", "create", "alice"], "").await;
    let auth = db.auth().await;
    let id = auth
        .authenticate(token.trim_end())
        .await
        .unwrap()
        .token
        .id
        .to_string();

    assert_eq!(
        db.ok(&["token", "revoke", &id], "").await,
        format!("revoked token {id}\n")
    );
    let err = auth.authenticate(token.trim_end()).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken), "{err}");
    assert_eq!(
        db.err(&["token", "revoke", &id], "").await,
        format!("no token with id {id:?}")
    );
    assert_eq!(
        db.err(&["token", "revoke", "not-an-id"], "").await,
        "no token with id \"not-an-id\""
    );
}

#[tokio::test]
async fn unsupported_database_urls_are_refused_without_echoing_secrets() {
    let argv = [
        "tokenauth",
        "--database",
        "postgres://admin:hunter2@db/app",
        "migrate",
    ];
    let cli = Cli::try_parse_from(argv).unwrap();
    assert!(!format!("{cli:?}").contains("hunter2"));
    let mut io = Io {
        stdin: &b""[..],
        stdout: Vec::new(),
        interactive: false,
    };
    let err = cli::run(cli, &mut io).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "unsupported database URL scheme \"postgres\": this build supports sqlite: URLs"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    for argv in [
        &["tokenauth", "serve", "--lifespan", "0s"][..],
        &["tokenauth", "serve", "--lifespan", "soon"],
        &["tokenauth", "serve", "--bind", "localhost"],
        &["tokenauth", "token", "create", "alice", "--lifespan", "-1d"],
        &["tokenauth", "user", "add"],
        &["tokenauth", "frobnicate"],
    ] {
        let err = Cli::try_parse_from(argv).expect_err("should not parse");
        assert_eq!(err.exit_code(), 2, "{argv:?}: {err}");
    }
}
