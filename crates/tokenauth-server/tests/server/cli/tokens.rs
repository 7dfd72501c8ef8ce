//! The admin CLI's token commands: `token create`, `list` and `revoke`.

use super::db;
use time::format_description::well_known::Rfc3339;
use tokenauth_core::AuthError;
use tokenauth_core::store::UserAdmin;

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
async fn token_revoke_by_value_reads_the_token_from_stdin() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    let leaked = db.ok(&["token", "create", "alice", "--name", "leaked"], "").await;
    let other = db.ok(&["token", "create", "alice"], "").await;
    let auth = db.auth().await;
    let id = auth.authenticate(leaked.trim_end(), None).await.unwrap().token.id;

    // As pasted: surrounding spaces and a CRLF are not part of a token.
    let pasted = format!("  {}\r\n", leaked.trim_end());
    assert_eq!(
        db.ok(&["token", "revoke", "--token-stdin"], &pasted).await,
        format!("revoked token {id} of user alice\n")
    );
    let err = auth.authenticate(leaked.trim_end(), None).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken), "{err}");
    auth.authenticate(other.trim_end(), None).await.unwrap();

    // The operator is told what the HTTP endpoint tells nobody; no token is echoed.
    let again = db.err(&["token", "revoke", "--token-stdin"], &leaked).await;
    assert_eq!(again, "no stored token matches the token given");
    assert_eq!(
        db.err(&["token", "revoke", "--token-stdin"], "tka_not_a_token\n")
            .await,
        "not a token of this server's format"
    );
    for empty in ["", "\n", "   \n"] {
        assert_eq!(
            db.err(&["token", "revoke", "--token-stdin"], empty).await,
            "no token on standard input"
        );
    }
    auth.authenticate(other.trim_end(), None).await.unwrap();
}

#[test]
fn token_revoke_takes_an_id_or_the_token_not_both() {
    use clap::Parser;
    use tokenauth_server::cli::Cli;

    let parse = |args: &[&str]| Cli::try_parse_from(["tokenauth", "token", "revoke"].iter().chain(args));
    assert!(parse(&["3xYc"]).is_ok());
    assert!(parse(&["--token-stdin"]).is_ok());
    assert!(parse(&[]).is_err(), "neither");
    assert!(parse(&["3xYc", "--token-stdin"]).is_err(), "both");
}

#[tokio::test]
async fn token_list_as_json_has_fixed_keys_and_no_secret() {
    let db = db();
    db.ok(&["user", "add", "alice", "--password-stdin"], "pw\n").await;
    db.ok(&["user", "add", "bob", "--password-stdin"], "pw\n").await;
    let policy = ["token", "--scopes", "read write"];
    let create = [
        &policy[..],
        &["create", "alice", "--scope", "read", "--name", "ci \"runner\""],
    ]
    .concat();
    let alice_token = db.ok(&create, "").await;
    let bob_token = db.ok(&[&policy[..], &["create", "bob"]].concat(), "").await;
    db.ok(&["user", "deactivate", "bob"], "").await;

    let listed = db
        .ok(&[&policy[..], &["list", "--output", "json"]].concat(), "")
        .await;
    assert!(!listed.contains("tka_"), "{listed}");
    let tokens: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(&listed).unwrap();
    assert_eq!(tokens.len(), 2, "{listed}");
    for token in &tokens {
        let keys: Vec<&str> = token.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "created",
                "expires",
                "id",
                "last_ip",
                "last_used",
                "name",
                "scopes",
                "status",
                "user",
                "user_id"
            ],
            "{listed}"
        );
    }
    let alice = &tokens[0];
    assert_eq!(alice["user"], "alice");
    assert_eq!(alice["user_id"], "1");
    assert_eq!(alice["status"], "valid");
    assert_eq!(alice["scopes"], serde_json::json!(["read"]));
    assert_eq!(alice["name"], "ci \"runner\"");
    assert_eq!(alice["last_used"], serde_json::Value::Null);
    assert_eq!(alice["last_ip"], serde_json::Value::Null);
    let created = time::OffsetDateTime::parse(alice["created"].as_str().unwrap(), &Rfc3339).unwrap();
    let expires = time::OffsetDateTime::parse(alice["expires"].as_str().unwrap(), &Rfc3339).unwrap();
    assert_eq!(expires - created, time::Duration::days(30));
    let verified = db
        .auth()
        .await
        .authenticate(alice_token.trim_end(), None)
        .await
        .unwrap();
    assert_eq!(alice["id"], verified.token.id.to_string());

    let bob = &tokens[1];
    assert_eq!(bob["user"], "bob");
    assert_eq!(bob["status"], "inactive");
    assert_eq!(bob["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(bob["name"], serde_json::Value::Null);
    assert!(!listed.contains(bob_token.trim_end()));

    let only_bob = db
        .ok(
            &[&policy[..], &["list", "--user", "bob", "--output", "json"]].concat(),
            "",
        )
        .await;
    let only_bob: serde_json::Value = serde_json::from_str(&only_bob).unwrap();
    assert_eq!(only_bob.as_array().unwrap().len(), 1);
    assert_eq!(only_bob[0]["user"], "bob");
}
