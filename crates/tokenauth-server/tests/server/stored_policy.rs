//! The real binary: `serve` stores the policy it runs with, and a later `token purge`
//! without options applies it instead of deleting tokens the server still accepts.

use crate::common;

use common::{Server, run, tokenauth};
use tokenauth::core::TokenAuth;
use tokenauth_core::{ManualClock, PlainToken, TokenRequest, UserId};
use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory};

type Auth = TokenAuth<SqliteStore, SqliteUserDirectory>;

/// A database with `alice`, holding a token issued 40 days ago: live under a 90-day
/// lifespan, expired 10 days ago under 30.
async fn database_with_an_old_token(dir: &tempfile::TempDir) -> (String, Auth, PlainToken) {
    let database = format!("sqlite://{}", dir.path().join("policy.db").display());
    let pool = tokenauth_sqlx::sqlite::connect(&database).await.unwrap();
    let auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool));
    auth.upsert_user("alice", "pw", true).await.unwrap();
    let back_then = auth
        .clone()
        .with_clock(ManualClock::new(auth.now() - time::Duration::days(40)));
    let token = back_then
        .issue(&UserId::from(1), TokenRequest::default())
        .await
        .unwrap()
        .token;
    (database, auth, token)
}

/// `token purge` with `args`: its standard output.
fn purge(database: &str, args: &[&str]) -> String {
    let mut command = vec!["token", "purge"];
    command.extend_from_slice(args);
    let purged = run(tokenauth(database, &command), "");
    assert_eq!(purged.status.code(), Some(0), "{purged:?}");
    String::from_utf8_lossy(&purged.stdout).into_owned()
}

#[tokio::test]
async fn token_purge_applies_the_lifespan_serve_runs_with() {
    let dir = tempfile::tempdir().unwrap();
    let (database, auth, token) = database_with_an_old_token(&dir).await;
    // It stores its policy before it listens.
    let (server, _) = Server::start(&database, &["--lifespan", "90d"]);
    drop(server);

    assert_eq!(
        purge(&database, &[]),
        "purged 0 token(s) expired over 7d ago (server lifespan 90d, stored by serve)\n"
    );
    let server = auth.clone().with_lifespan("90d".parse().unwrap());
    assert!(server.authenticate(token.expose_secret(), None).await.is_ok());

    // Told otherwise, it follows the option.
    assert_eq!(
        purge(&database, &["--server-lifespan", "30d"]),
        "purged 1 token(s) expired over 7d ago (server lifespan 30d, given)\n"
    );
    assert!(server.authenticate(token.expose_secret(), None).await.is_err());
}

/// A second `serve` that cannot take its address changes nothing: the running server's
/// stored policy stays, and `token purge` keeps its tokens.
#[tokio::test]
async fn a_serve_that_cannot_bind_leaves_the_stored_policy_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (database, auth, token) = database_with_an_old_token(&dir).await;
    let (_running, addr) = Server::start(&database, &["--lifespan", "90d"]);
    let second = run(
        tokenauth(&database, &["serve", "--bind", &addr, "--lifespan", "1d"]),
        "",
    );
    assert_eq!(second.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains(&format!("error: cannot listen on {addr}")),
        "{second:?}"
    );
    assert_eq!(
        purge(&database, &[]),
        "purged 0 token(s) expired over 7d ago (server lifespan 90d, stored by serve)\n"
    );
    let server = auth.with_lifespan("90d".parse().unwrap());
    assert!(server.authenticate(token.expose_secret(), None).await.is_ok());
}
