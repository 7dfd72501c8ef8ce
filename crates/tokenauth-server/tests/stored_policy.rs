//! The real binary: `serve` stores the policy it runs with, and a later `token purge`
//! without options applies it instead of deleting tokens the server still accepts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use tokenauth::TokenAuth;
use tokenauth_core::{ManualClock, TokenRequest, UserId};
use tokenauth_sqlx::{SqliteStore, SqliteUserDirectory};

const BIN: &str = env!("CARGO_BIN_EXE_tokenauth");

/// `tokenauth --database URL ARGS`, with no `TOKENAUTH_*` setting from the environment.
fn tokenauth(database: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.arg("--database").arg(database).args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TOKENAUTH_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "warn");
    command
}

fn output(mut command: Command) -> Output {
    command.stdin(Stdio::null()).output().expect("the binary runs")
}

/// Kills the server when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn token_purge_applies_the_lifespan_serve_runs_with() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("policy.db").display());
    let pool = tokenauth_sqlx::connect(&database).await.unwrap();
    let auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool));
    auth.upsert_user("alice", "pw", true).await.unwrap();
    // A token issued 40 days ago: live under 90 days, expired 10 days ago under 30.
    let back_then = auth
        .clone()
        .with_clock(ManualClock::new(auth.now() - time::Duration::days(40)));
    let token = back_then
        .issue(&UserId::from(1), TokenRequest::default())
        .await
        .unwrap()
        .token;

    let mut server = Server(
        tokenauth(
            &database,
            &["serve", "--bind", "127.0.0.1:0", "--lifespan", "90d"],
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    // It stores its policy before it listens.
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on http://"), "{line:?}");
    drop(server);

    let purge = output(tokenauth(&database, &["token", "purge"]));
    assert_eq!(purge.status.code(), Some(0), "{purge:?}");
    assert_eq!(
        String::from_utf8_lossy(&purge.stdout),
        "purged 0 token(s) expired over 7d ago (server lifespan 90d, stored by serve)\n"
    );
    let server = auth.clone().with_lifespan("90d".parse().unwrap());
    assert!(server.authenticate(token.expose_secret(), None).await.is_ok());

    // Told otherwise, it follows the option.
    let purge = output(tokenauth(
        &database,
        &["token", "purge", "--server-lifespan", "30d"],
    ));
    assert_eq!(purge.status.code(), Some(0), "{purge:?}");
    assert_eq!(
        String::from_utf8_lossy(&purge.stdout),
        "purged 1 token(s) expired over 7d ago (server lifespan 30d, given)\n"
    );
    assert!(server.authenticate(token.expose_secret(), None).await.is_err());
}
