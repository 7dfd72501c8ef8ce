//! The real `tokenauth` binary with its tokens in Redis (`--token-store`) and its users
//! and policy in SQLite: add a user, serve, log in over HTTP, use the token, see it in
//! `token list` (of Redis, not of the database), log out, and see it gone.
//!
//! Ignored by default; run with `TOKENAUTH_TEST_REDIS_URL` (such as
//! `redis://127.0.0.1:6379`) and `TOKENAUTH_TEST_REDIS_CLUSTER_URL` (such as
//! `redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002`) set and
//! `--ignored`, as `.ci/run` does. Each test uses a key prefix of its own and deletes
//! its keys afterwards (`SCAN` + `DEL` on that prefix only).

use crate::common;

use std::hash::{BuildHasher, RandomState};
use std::process::Command;

use common::{Server, database_with_alice, http, obtain, run, tokenauth};
use redis::AsyncCommands;
use serde_json::Value;
use tokenauth_redis::{RedisStore, Target};

/// A key prefix of its own, whose keys are deleted (best effort) on drop.
struct Prefix {
    url: String,
    name: String,
}

impl Prefix {
    /// A fresh prefix on the Redis in `variable`, and a store on it (without the
    /// prefix); fails with a clear message when Redis is not there, before a test
    /// starts anything.
    async fn connect(variable: &str) -> (Self, RedisStore) {
        let url = url(variable);
        let store = RedisStore::connect(&url)
            .await
            .unwrap_or_else(|error| panic!("cannot reach Redis at {variable}: {error:?}"));
        let name = format!(
            "tokenauth-e2e-{:016x}",
            RandomState::new().hash_one(std::process::id())
        );
        (Self { url, name }, store)
    }

    /// The `tokenauth` arguments that keep tokens under this prefix.
    fn args(&self) -> Vec<&str> {
        vec!["--token-store", &self.url, "--token-store-prefix", &self.name]
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // On a thread and runtime of its own: the test's runtime cannot be blocked on.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let store = RedisStore::connect(&url).await.ok()?.with_prefix(&name).ok()?;
                store.delete_all_keys().await.ok()
            })
        })
        .join();
    }
}

/// The URL in `variable`; panics when it is not set.
fn url(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: point it at Redis (see this file's docs) to run this test")
    })
}

/// `tokenauth` on `database` with tokens under `prefix`.
fn with_tokens(database: &str, prefix: &Prefix, args: &[&str]) -> Command {
    let mut all = prefix.args();
    all.extend_from_slice(args);
    tokenauth(database, &all)
}

fn stdout_of(command: Command) -> String {
    let output = run(command, "");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

async fn login_me_logout(variable: &str) {
    let (prefix, _) = Prefix::connect(variable).await;
    let url = prefix.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "users");

    let args = prefix.args();
    let (mut server, addr) = Server::start(&database, &args);
    let obtained = obtain(&addr, "alice", "pw").await;
    let authorization = format!("Token {}", obtained["token"].as_str().unwrap());
    let (status, body) = http(&addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["username"], "alice");
    let id = me["token"]["id"].as_str().unwrap().to_owned();

    // The token is in Redis, not in the database.
    let listed = stdout_of(with_tokens(&database, &prefix, &["token", "list"]));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.lines().nth(1).unwrap().starts_with(&id), "{listed}");
    // Without --token-store (or under another prefix) a command would miss them, and
    // its revocations would reach no server: refused, naming the options to give.
    for args in [
        vec!["token", "list"],
        vec![
            "--token-store",
            &url,
            "--token-store-prefix",
            "elsewhere",
            "user",
            "list",
        ],
    ] {
        let refused = run(tokenauth(&database, &args), "");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            stderr.contains("--token-store-prefix") && stderr.contains(&prefix.name),
            "{stderr}"
        );
    }

    // Its id pointer expires with the retention serve set: 30 days + 7 days of grace.
    let pointer = format!("{}:{{i:{id}}}", prefix.name);
    let target = Target::parse(&url).unwrap();
    let ttl: i64 = match target.urls() {
        [node] if !target.is_cluster() => {
            let client = redis::Client::open(node.as_str()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            conn.pttl(pointer).await.unwrap()
        }
        nodes => {
            let client = redis::cluster::ClusterClient::new(nodes.to_vec()).unwrap();
            let mut conn = client.get_async_connection().await.unwrap();
            conn.pttl(pointer).await.unwrap()
        }
    };
    let retention = 37 * 24 * 3600 * 1000_i64;
    assert!(ttl > retention - 600_000 && ttl <= retention, "{ttl}");

    let (status, body) = http(
        &addr,
        "POST",
        "/auth/logout",
        &[("authorization", &authorization)],
        "",
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = http(&addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));
    let listed = stdout_of(with_tokens(&database, &prefix, &["token", "list"]));
    assert_eq!(listed.lines().count(), 1, "the token is gone: {listed}");

    server.terminate();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");

    // And the other way round: a server that keeps tokens in its database.
    let in_sql = database_with_alice(&dir, "sql");
    let (mut server, _) = Server::start(&in_sql, &[]);
    server.terminate();
    assert!(server.0.wait().unwrap().success());
    let refused = run(with_tokens(&in_sql, &prefix, &["token", "list"]), "");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("in the database: drop --token-store"), "{stderr}");
}

#[tokio::test]
#[ignore = "needs Redis: set TOKENAUTH_TEST_REDIS_URL and run with --ignored"]
async fn serve_login_logout_with_tokens_in_redis() {
    login_me_logout("TOKENAUTH_TEST_REDIS_URL").await;
}

#[tokio::test]
#[ignore = "needs a Redis Cluster: set TOKENAUTH_TEST_REDIS_CLUSTER_URL and run with --ignored"]
async fn serve_login_logout_with_tokens_in_a_redis_cluster() {
    login_me_logout("TOKENAUTH_TEST_REDIS_CLUSTER_URL").await;
}

/// Two server processes on one Redis (and one user database) agree at once: a token
/// obtained through one works through the other, and logged out through the other it
/// is refused by the first on its next request (no cache: each reads Redis).
#[tokio::test]
#[ignore = "needs Redis: set TOKENAUTH_TEST_REDIS_URL and run with --ignored"]
async fn two_servers_on_one_redis_agree_on_logout() {
    let (prefix, _) = Prefix::connect("TOKENAUTH_TEST_REDIS_URL").await;
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "users");
    let mut args = prefix.args();
    args.extend(["--cache", "off"]);
    let (mut first, first_addr) = Server::start(&database, &args);
    let (mut second, second_addr) = Server::start(&database, &args);

    let obtained = obtain(&first_addr, "alice", "pw").await;
    let authorization = format!("Token {}", obtained["token"].as_str().unwrap());
    let auth = [("authorization", authorization.as_str())];
    let (status, body) = http(&second_addr, "GET", "/auth/me", &auth, "").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(&second_addr, "POST", "/auth/logout", &auth, "").await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = http(&first_addr, "GET", "/auth/me", &auth, "").await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));

    for server in [&mut first, &mut second] {
        server.terminate();
        let status = server.0.wait().unwrap();
        assert!(status.success(), "exit status after SIGTERM: {status}");
    }
}

/// Two caching servers on one Redis (`--cache on`, with an hour's TTL so that nothing
/// expires during the test): a token cached by the first and logged out through the
/// second is refused by the first within the bus's bound, through Redis pub/sub. The
/// first really serves from its cache: a token whose keys are deleted behind its back
/// (nothing published) still answers 200 there.
#[tokio::test]
#[ignore = "needs Redis: set TOKENAUTH_TEST_REDIS_URL and run with --ignored"]
async fn two_caching_servers_on_one_redis_agree_on_logout() {
    let (prefix, store) = Prefix::connect("TOKENAUTH_TEST_REDIS_URL").await;
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "users");
    let mut args = prefix.args();
    args.extend(["--cache", "on", "--cache-ttl", "1h"]);
    let (mut first, first_addr) = Server::start(&database, &args);
    let (mut second, second_addr) = Server::start(&database, &args);

    let obtained = obtain(&first_addr, "alice", "pw").await;
    let authorization = format!("Token {}", obtained["token"].as_str().unwrap());
    let auth = [("authorization", authorization.as_str())];
    let (status, body) = http(&first_addr, "GET", "/auth/me", &auth, "").await;
    assert_eq!(status, 200, "cached by the first: {body}");
    let (status, body) = http(&second_addr, "POST", "/auth/logout", &auth, "").await;
    assert_eq!(status, 204, "{body}");
    let mut refused = None;
    for _ in 0..50 {
        let (status, body) = http(&first_addr, "GET", "/auth/me", &auth, "").await;
        if status == 401 {
            refused = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        refused.as_deref(),
        Some(r#"{"detail":"Invalid token"}"#),
        "the first server kept serving a token logged out through the second"
    );

    // The first serves from its cache: keys deleted without a word still answer there.
    let obtained = obtain(&first_addr, "alice", "pw").await;
    let authorization = format!("Token {}", obtained["token"].as_str().unwrap());
    let auth = [("authorization", authorization.as_str())];
    let (status, body) = http(&first_addr, "GET", "/auth/me", &auth, "").await;
    assert_eq!(status, 200, "{body}");
    let store = store.with_prefix(&prefix.name).unwrap();
    store.delete_all_keys().await.unwrap();
    let (status, body) = http(&first_addr, "GET", "/auth/me", &auth, "").await;
    assert_eq!(status, 200, "served from the cache: {body}");

    for server in [&mut first, &mut second] {
        server.terminate();
        let status = server.0.wait().unwrap();
        assert!(status.success(), "exit status after SIGTERM: {status}");
    }
}
