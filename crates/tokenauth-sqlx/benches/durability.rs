//! What durable commits cost: logins (a token insert) and revocations (a token delete)
//! on a SQLite file, with the database's connections at `synchronous = NORMAL` (what
//! [`tokenauth_sqlx::sqlite::connect`] opens; revocations switch their connection to `FULL`)
//! and at `synchronous = FULL` for every write.
//!
//! Run with `cargo bench -p tokenauth-sqlx --bench durability`; the temporary database
//! lives in `TMPDIR`, so point that at the disk the server will use. `OPS` (default 400)
//! sets how many logins and revocations each configuration times. Under `cargo test`
//! (`--bench` not passed) it runs a few operations only, as a smoke test.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokenauth_core::{TokenAuth, TokenRequest};
use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory};

/// A pool on a new database file in `dir`, with `synchronous` on every connection.
async fn pool(dir: &std::path::Path, synchronous: SqliteSynchronous) -> SqlitePool {
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let options = SqliteConnectOptions::from_str(&url)
        .expect("url")
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous);
    let pool = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .expect("open");
    tokenauth_sqlx::sqlite::migrate(&pool).await.expect("migrate");
    pool
}

/// Mean time per operation.
fn per_op(elapsed: Duration, ops: u32) -> String {
    format!("{:>9.1} µs/op", elapsed.as_secs_f64() * 1e6 / f64::from(ops))
}

/// How many users the logins are spread over.
const USERS: usize = 40;

async fn run(label: &str, synchronous: SqliteSynchronous, ops: u32) {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).expect("temporary directory");
    let pool = pool(dir.path(), synchronous).await;
    let auth =
        TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool)).with_token_limit(None);
    // A login reads the user's token set: spread the tokens over users so that each
    // set stays small, as in real use, and the timing is the write's.
    let mut users = Vec::new();
    for n in 0..USERS {
        let name = format!("user{n}");
        let user = auth.upsert_user(&name, "bench password", true).await;
        users.push(user.expect("user").user.id);
    }

    let started = Instant::now();
    let mut ids = Vec::new();
    for user in users.iter().cycle().take(ops as usize) {
        let issued = auth.issue(user, TokenRequest::default()).await.expect("issue");
        ids.push(issued.info.id);
    }
    let logins = started.elapsed();

    let started = Instant::now();
    for id in &ids {
        assert!(auth.revoke(id).await.expect("revoke"));
    }
    let revocations = started.elapsed();
    println!(
        "{label:<34} login {}   revoke {}",
        per_op(logins, ops),
        per_op(revocations, ops)
    );
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let ops = if benching {
        std::env::var("OPS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(400)
    } else {
        3
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "{ops} logins, then {ops} revocations, one at a time, on a file in {}",
            std::env::temp_dir().display()
        );
        for round in 0..2 {
            if round > 0 {
                println!("again:");
            }
            run("NORMAL, revocations at FULL", SqliteSynchronous::Normal, ops).await;
            run("FULL for everything", SqliteSynchronous::Full, ops).await;
        }
    });
}
