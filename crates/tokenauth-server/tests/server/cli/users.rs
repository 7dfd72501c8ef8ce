//! The admin CLI's user commands: `migrate`, `user add` (passwords, names, what it
//! does to tokens), `user list`, `activate` and `deactivate`.

use super::db;
use tokenauth_core::{AuthError, TokenRequest, UserId};

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
async fn user_list_as_json_has_fixed_keys() {
    let db = db();
    let empty = db.ok(&["user", "list", "--output", "json"], "").await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&empty).unwrap(),
        serde_json::json!([])
    );
    db.ok(&["user", "add", "bob", "--password-stdin"], "pw\n").await;
    db.ok(
        &["user", "add", "alice", "--password-stdin", "--inactive"],
        "secret pw\n",
    )
    .await;
    let listed = db.ok(&["user", "list", "--output", "json"], "").await;
    let users: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(
        users,
        serde_json::json!([
            {"id": "2", "username": "alice", "active": false},
            {"id": "1", "username": "bob", "active": true},
        ])
    );
    assert!(
        !listed.contains("argon2") && !listed.contains("secret pw"),
        "{listed}"
    );
    // The default is the columns, as `--output text`.
    assert_eq!(
        db.ok(&["user", "list", "--output", "text"], "").await,
        db.ok(&["user", "list"], "").await
    );
}
