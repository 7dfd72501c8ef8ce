//! The admin CLI, run in-process against a fresh SQLite file per test.

use crate::common;

use clap::Parser;
use tempfile::TempDir;
use time::format_description::well_known::Rfc3339;
use tokenauth::TokenAuth;
use tokenauth_core::{AuthError, ManualClock, TokenRequest, UserAdmin, UserId};
use tokenauth_server::cli::{self, Cli, CliError, Io, PolicyStore};
use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory};

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
        common::run_cli(&self.url, args, stdin).await
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
        let pool = tokenauth_sqlx::sqlite::connect(&self.url).await.unwrap();
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
async fn user_add_with_the_same_password_keeps_tokens() {
    let db = db();
    let created = db
        .ok(&["user", "add", "alice", "--password-stdin"], "first pass\n")
        .await;
    assert_eq!(created, "created user \"alice\" (id 1, active)\n");
    let token = db.ok(&["token", "create", "alice"], "").await;
    let args = ["user", "add", "alice", "--password-stdin", "--inactive"];
    let updated = db.ok(&args, "first pass\n").await;
    assert_eq!(updated, "updated user \"alice\" (id 1, inactive)\n");

    let auth = db.auth().await;
    // Inactive: logins and tokens are refused.
    assert!(
        auth.obtain("alice", "first pass", TokenRequest::default())
            .await
            .is_err()
    );
    let err = auth.authenticate(token.trim_end(), None).await.unwrap_err();
    assert!(matches!(err, AuthError::UserInactive), "{err}");

    db.ok(&["user", "activate", "alice"], "").await;
    assert!(
        auth.obtain("alice", "first pass", TokenRequest::default())
            .await
            .is_ok()
    );
    // The token issued before the update still works: the password did not change.
    let verified = auth.authenticate(token.trim_end(), None).await.unwrap();
    assert_eq!(verified.user.username, "alice");
}

#[tokio::test]
async fn user_add_with_a_new_password_revokes_older_tokens() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "first pass\n")
        .await;
    let first = db.ok(&["token", "create", "alice"], "").await;
    let second = db.ok(&["token", "create", "alice"], "").await;
    let updated = db
        .ok(&["user", "add", "alice", "--password-stdin"], "second pass\n")
        .await;
    assert_eq!(
        updated,
        "updated user \"alice\" (id 1, active); password changed, 2 older token(s) revoked\n"
    );

    let auth = db.auth().await;
    for token in [&first, &second] {
        let err = auth.authenticate(token.trim_end(), None).await.unwrap_err();
        assert!(matches!(err, AuthError::InvalidToken), "{err}");
    }
    assert!(
        auth.obtain("alice", "first pass", TokenRequest::default())
            .await
            .is_err()
    );
    let issued = auth
        .obtain("alice", "second pass", TokenRequest::default())
        .await
        .unwrap();
    assert!(
        auth.authenticate(issued.token.expose_secret(), None)
            .await
            .is_ok()
    );
    assert_eq!(
        db.ok(&["token", "list"], "").await.lines().count(),
        2,
        "only the new token is left"
    );
}

#[tokio::test]
async fn password_stdin_takes_the_first_line_without_its_ending() {
    let db = db();
    let args = ["user", "add", "zoë", "--password-stdin"];
    db.ok(&args, "  spaced pässword \r\nsecond line\n").await;
    let auth = db.auth().await;
    let obtain =
        async |username: &str, password: &str| auth.obtain(username, password, TokenRequest::default()).await;
    assert!(obtain("zoë", "  spaced pässword ").await.is_ok());
    assert!(obtain("zoë", "  spaced pässword \r").await.is_err());

    // No trailing newline at all is fine too.
    db.ok(&["user", "add", "bob", "--password-stdin"], "no newline")
        .await;
    assert!(obtain("bob", "no newline").await.is_ok());
}

#[tokio::test]
async fn bad_passwords_are_refused_with_a_clear_message() {
    let db = db();
    let args = ["user", "add", "alice", "--password-stdin"];
    assert_eq!(db.err(&args, "").await, "no password on standard input");
    assert_eq!(db.err(&args, "\n").await, "the password must not be empty");
    assert_eq!(
        db.err(&["user", "add", "alice"], "").await,
        "standard input is not a terminal: pass the password with --password-stdin"
    );
    assert_eq!(db.ok(&["user", "list"], "").await, "ID       ACTIVE  USERNAME\n");
}

#[tokio::test]
async fn usernames_and_token_names_that_would_misbehave_are_refused() {
    let db = db();
    let refused = "a username must not be empty or start or end with whitespace (logins trim it)";
    for username in ["", " alice", "alice\t"] {
        let args = ["user", "add", username, "--password-stdin"];
        assert_eq!(db.err(&args, "pw\n").await, refused, "{username:?}");
    }
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    assert_eq!(
        db.err(&["token", "create", "alice", "--name", "a\nb"], "").await,
        "a token name must not contain control characters"
    );
    // A name with a control character that came in over HTTP is shown defused.
    let auth = db.auth().await;
    let request = TokenRequest {
        name: Some("evil\x1b[2Jname".to_owned()),
        ..TokenRequest::default()
    };
    auth.issue(&UserId::from(1), request).await.unwrap();
    let listed = db.ok(&["token", "list"], "").await;
    assert!(
        listed.contains("evil?[2Jname") && !listed.contains('\x1b'),
        "{listed}"
    );
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

    let verified = db.auth().await.authenticate(token, None).await.unwrap();
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
    let verified = db
        .auth()
        .await
        .authenticate(token.trim_end(), None)
        .await
        .unwrap();
    assert_eq!(
        verified.token.expires - verified.token.created,
        time::Duration::days(7)
    );

    // Longer than the server's lifespan (TOKENAUTH_LIFESPAN, 30 days by default): refused.
    assert_eq!(
        db.err(&["token", "create", "alice", "--lifespan", "60d"], "")
            .await,
        "Ensure the lifespan is at most 30d (2592000 seconds)."
    );
}

#[tokio::test]
async fn token_create_refuses_scopes_the_server_does_not_grant() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    assert_eq!(
        db.err(&["token", "create", "alice", "--scope", "read"], "").await,
        "Scope \"read\" cannot be granted."
    );
    assert_eq!(
        db.err(&["token", "create", "alice", "--scope", "bad\"scope"], "")
            .await,
        r#"invalid scope "bad\"scope": scopes are printable ASCII without spaces, quotes or backslashes"#
    );
    assert_eq!(
        db.ok(&["token", "list"], "").await.lines().count(),
        1,
        "nothing was issued"
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
    let header: Vec<&str> = lines[0]
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "ID",
            "USER",
            "CREATED",
            "EXPIRES",
            "LAST USED",
            "LAST IP",
            "STATUS",
            "SCOPES",
            "NAME"
        ]
    );
    let alice_row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(alice_row.len(), 9, "{all}");
    assert_eq!(alice_row[0].len(), 22);
    assert_eq!(alice_row[1], "alice");
    assert_eq!(
        alice_row[4..],
        ["-", "-", "valid", "-", "laptop"],
        "never used, no scopes"
    );
    let created = time::OffsetDateTime::parse(alice_row[2], &Rfc3339).unwrap();
    let expires = time::OffsetDateTime::parse(alice_row[3], &Rfc3339).unwrap();
    assert_eq!(expires - created, time::Duration::days(30));
    assert!(lines[2].contains(" bob "));
    assert!(!all.contains(alice_token.trim_end()) && !all.contains(bob_token.trim_end()));
    assert!(!all.contains("tka_"));

    let only_bob = db.ok(&["token", "list", "--user", "bob"], "").await;
    assert_eq!(only_bob.lines().count(), 2);
    assert!(only_bob.lines().nth(1).unwrap().contains(" bob "));
    assert_eq!(
        db.err(&["token", "list", "--user", "carol"], "").await,
        "no user named \"carol\""
    );
}

#[tokio::test]
async fn token_list_status_follows_authentication() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    db.ok(&["user", "add", "bob", "--password-stdin"], "pw\n").await;
    db.ok(&["token", "create", "alice"], "").await;
    db.ok(&["token", "create", "bob"], "").await;
    let status = async || -> Vec<String> {
        let listed = db.ok(&["token", "list"], "").await;
        let rows = listed.lines().skip(1);
        rows.map(|row| row.split_whitespace().nth(6).unwrap().to_owned())
            .collect()
    };
    assert_eq!(status().await, ["valid", "valid"]);

    // A new credential version written to the directory alone (by another tool on the
    // same database, say) leaves the old token stored, and dead.
    let auth = db.auth().await;
    let alice = auth.find_by_username("alice").await.unwrap().unwrap();
    auth.users().bump_credential_version(&alice.id).await.unwrap();
    db.ok(&["user", "deactivate", "bob"], "").await;
    assert_eq!(status().await, ["revoked", "inactive"]);
}

#[tokio::test]
async fn token_revoke_kills_the_token_at_once() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    let token = db.ok(&["token", "create", "alice"], "").await;
    let auth = db.auth().await;
    let verified = auth.authenticate(token.trim_end(), None).await.unwrap();
    let id = verified.token.id.to_string();

    assert_eq!(
        db.ok(&["token", "revoke", &id], "").await,
        format!("revoked token {id}\n")
    );
    let err = auth.authenticate(token.trim_end(), None).await.unwrap_err();
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
async fn token_purge_deletes_only_long_expired_tokens() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    let live = db.ok(&["token", "create", "alice"], "").await;
    let auth = db.auth().await;
    // Tokens issued 60 and 32 days ago: expired 30 days and 2 days ago.
    let clock = ManualClock::new(auth.now() - time::Duration::days(60));
    let back_then = auth.clone().with_clock(clock.clone());
    let alice = UserId::from(1);
    let long_expired = back_then.issue(&alice, TokenRequest::default()).await.unwrap();
    clock.advance(time::Duration::days(28));
    let recently_expired = back_then.issue(&alice, TokenRequest::default()).await.unwrap();

    assert_eq!(
        db.ok(&["token", "purge"], "").await,
        "purged 1 token(s) expired over 7d ago (server lifespan 30d, default)\n"
    );
    let gone = auth
        .authenticate(long_expired.token.expose_secret(), None)
        .await
        .unwrap_err();
    assert!(matches!(gone, AuthError::InvalidToken), "{gone}");
    let kept = auth
        .authenticate(recently_expired.token.expose_secret(), None)
        .await
        .unwrap_err();
    assert!(matches!(kept, AuthError::Expired), "{kept}");
    assert!(auth.authenticate(live.trim_end(), None).await.is_ok());

    let shorter = db.ok(&["token", "purge", "--older-than", "1d"], "").await;
    assert_eq!(
        shorter,
        "purged 1 token(s) expired over 1d ago (server lifespan 30d, default)\n"
    );
    assert_eq!(
        db.ok(&["token", "list"], "").await.lines().count(),
        2,
        "the live token stays"
    );
}

#[tokio::test]
async fn token_purge_applies_the_servers_lifespan() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    let auth = db.auth().await;
    let back_then = auth
        .clone()
        .with_clock(ManualClock::new(auth.now() - time::Duration::days(40)));
    let issued = back_then
        .issue(&UserId::from(1), TokenRequest::default())
        .await
        .unwrap();

    // A server with a 90-day lifespan still accepts the 40-day-old token: keep it.
    let kept = db.ok(&["token", "purge", "--server-lifespan", "90d"], "").await;
    assert_eq!(
        kept,
        "purged 0 token(s) expired over 7d ago (server lifespan 90d, given)\n"
    );
    let server = auth.clone().with_lifespan("90d".parse().unwrap());
    assert!(
        server
            .authenticate(issued.token.expose_secret(), None)
            .await
            .is_ok()
    );

    // Under the default 30 days it expired 10 days ago: beyond the grace, purged.
    let purged = db.ok(&["token", "purge"], "").await;
    assert_eq!(
        purged,
        "purged 1 token(s) expired over 7d ago (server lifespan 30d, default)\n"
    );
}

/// What `serve --lifespan 90d --purge-grace 20d` stores when it starts (the real
/// server does it in `stored_policy`).
async fn store_policy_as_serve_would(db: &Db) {
    let auth = db.auth().await;
    let values = [
        ("policy.lifespan", "90d"),
        ("policy.purge_grace", "20d"),
        ("policy.scopes", "read write"),
    ];
    let values = values
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    auth.store().store_policy(&values).await.unwrap();
}

#[tokio::test]
async fn token_commands_apply_the_policy_serve_stored_unless_given_one() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    store_policy_as_serve_would(&db).await;
    let auth = db.auth().await;
    let back_then = auth
        .clone()
        .with_clock(ManualClock::new(auth.now() - time::Duration::days(40)));
    back_then
        .issue(&UserId::from(1), TokenRequest::default())
        .await
        .unwrap();

    // The 40-day-old token works on the 90-day server: a purge without options keeps it.
    assert_eq!(
        db.ok(&["token", "purge"], "").await,
        "purged 0 token(s) expired over 20d ago (server lifespan 90d, stored by serve)\n"
    );
    // The stored scopes apply to `create` too.
    db.ok(&["token", "create", "alice", "--scope", "write"], "").await;
    // An option wins over the stored policy.
    assert_eq!(
        db.ok(
            &["token", "purge", "--server-lifespan", "30d", "--older-than", "7d"],
            ""
        )
        .await,
        "purged 1 token(s) expired over 7d ago (server lifespan 30d, given)\n"
    );
    assert_eq!(
        db.err(
            &["token", "create", "alice", "--scope", "write", "--scopes", "read"],
            ""
        )
        .await,
        "Scope \"write\" cannot be granted."
    );
}

#[tokio::test]
async fn an_unreadable_stored_policy_is_an_error_not_a_default() {
    let db = db();
    let values = [("policy.lifespan".to_owned(), "forever".to_owned())].into();
    db.auth().await.store().store_policy(&values).await.unwrap();
    assert_eq!(
        db.err(&["token", "purge"], "").await,
        "the serving policy stored in the database has an unreadable lifespan: \"forever\" \
         (run `serve` to store it again, or give the option)"
    );
    // Given explicitly, the stored value is not needed.
    db.ok(&["token", "purge", "--server-lifespan", "30d"], "").await;
}

#[tokio::test]
async fn token_create_applies_the_servers_limit_and_scopes() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    let limit = ["--max-tokens-per-user", "1", "--on-limit", "reject"];
    let create = |extra: &'static [&'static str]| {
        let mut args = vec!["token", "create", "alice"];
        args.extend_from_slice(&limit);
        args.extend_from_slice(extra);
        args
    };
    db.ok(&create(&["--scopes", "read write", "--scope", "read"]), "")
        .await;
    assert_eq!(
        db.err(&create(&[]), "").await,
        "Token limit reached: at most 1 active tokens per user. Log out on another device or revoke a token first."
    );
    // The listing shows the scopes the server still grants: given its policy, those
    // the token carries; without it (no scopes granted), none.
    let scope_column = async |extra: &[&str]| {
        let mut args = vec!["token", "list"];
        args.extend_from_slice(extra);
        let listed = db.ok(&args, "").await;
        listed
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .nth(7)
            .unwrap()
            .to_owned()
    };
    assert_eq!(scope_column(&["--scopes", "read write"]).await, "read");
    assert_eq!(scope_column(&[]).await, "-");
}

#[tokio::test]
async fn unsupported_database_urls_are_refused_without_echoing_secrets() {
    let argv = [
        "tokenauth",
        "--database",
        "mysql://admin:hunter2@db/app",
        "migrate",
    ];
    let cli = Cli::try_parse_from(argv).unwrap();
    assert!(!format!("{cli:?}").contains("hunter2"));
    let mut io = Io {
        stdin: &b""[..],
        stdout: Vec::new(),
        interactive: false,
        show_progress: false,
    };
    let err = cli::run(cli, &mut io).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "unsupported database URL scheme \"mysql\": this build supports sqlite: and postgres: URLs"
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
