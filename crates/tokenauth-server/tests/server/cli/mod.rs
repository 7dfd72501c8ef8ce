//! The admin CLI, run in-process against a fresh SQLite file per test: here the
//! arguments and database URLs it refuses, its commands in the submodules.

use crate::common;

use clap::Parser;
use tempfile::TempDir;
use tokenauth::core::TokenAuth;
use tokenauth_server::cli::{self, Cli, CliError, Io};
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

mod policy;
mod tokens;
mod users;

#[tokio::test]
async fn unsupported_database_urls_are_refused_without_echoing_secrets() {
    let argv = [
        "tokenauth",
        "--database",
        "oracle://admin:hunter2@db/app",
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
        "unsupported database URL scheme \"oracle\": this build supports sqlite:, postgres: and mysql: URLs"
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
