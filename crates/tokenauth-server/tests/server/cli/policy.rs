//! The server's policy in the admin CLI: `token purge` by the server's lifespan, the
//! policy `serve` stored, and the token limit and scopes.

use super::{Db, db};
use tokenauth_core::{AuthError, ManualClock, TokenRequest, UserId};
use tokenauth_server::cli::PolicyStore;

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
