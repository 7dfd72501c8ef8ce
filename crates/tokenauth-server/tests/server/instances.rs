//! Two real `tokenauth serve` processes on one PostgreSQL database agree on revocation:
//! without a cache at once, with caches within the bus's bound (1 s), also across a
//! dropped `LISTEN` connection.
//!
//! Ignored by default; run with `TOKENAUTH_TEST_POSTGRES_URL` set (for example
//! `postgres://postgres@127.0.0.1:5432/test`) and `--ignored`, as `.ci/run` does. Each
//! test works in a schema of its own, dropped afterwards; the connections of the
//! instance a test disturbs carry an `application_name` of their own, so that the test
//! ends only its own connection on the shared server.

use crate::common;

use std::time::{Duration, Instant};

use common::postgres::Schema;
use common::{Server, add_user, http, obtain};

/// Caches whose entries would outlive every test: only the bus can explain a flip.
const CACHED: &[&str] = &["--cache", "on", "--cache-ttl", "1h"];

/// No cache (it is on by default): every request reads the database.
const UNCACHED: &[&str] = &["--cache", "off"];

/// How long a cached instance has to see a revocation: the bus's bound (1 s) with
/// room for a loaded machine.
const WITHIN: Duration = Duration::from_secs(5);

const INVALID: &str = r#"{"detail":"Invalid token"}"#;

/// Alice, and a token of hers obtained at `addr`: its `Authorization` header.
async fn token_at(addr: &str) -> String {
    let obtained = obtain(addr, "alice", "wonderland").await;
    format!("Token {}", obtained["token"].as_str().unwrap())
}

async fn me(addr: &str, authorization: &str) -> (u16, String) {
    http(addr, "GET", "/auth/me", &[("authorization", authorization)], "").await
}

async fn logout(addr: &str, authorization: &str) {
    let (status, body) = http(
        addr,
        "POST",
        "/auth/logout",
        &[("authorization", authorization)],
        "",
    )
    .await;
    assert_eq!(status, 204, "{body}");
}

/// Polls `addr` with `authorization` until it is refused as `Invalid token`; panics if
/// it is still accepted after [`WITHIN`] (a bound check, not a measurement).
async fn refused_within(addr: &str, authorization: &str, what: &str) {
    let deadline = Instant::now() + WITHIN;
    loop {
        let (status, body) = me(addr, authorization).await;
        if status == 401 {
            assert_eq!(body, INVALID);
            return;
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            Instant::now() < deadline,
            "{what}: still accepted after {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the instance at `addr` serves from its cache (its bus has connected),
/// and proves it: a token it has used is made a year older behind every instance's
/// back (plain SQL; an update, which no trigger announces, where a delete would be),
/// so that the database says "expired", and the instance still accepts it.
async fn serving_from_cache(schema: &Schema, issuer: &str, addr: &str) {
    let deadline = Instant::now() + WITHIN;
    let mut conn = schema.connect().await;
    loop {
        let authorization = token_at(issuer).await;
        for _ in 0..2 {
            assert_eq!(me(addr, &authorization).await.0, 200);
        }
        let (_, body) = me(addr, &authorization).await;
        let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        sqlx::query("UPDATE tokenauth_tokens SET created = created - interval '365 days' WHERE id = $1")
            .bind(&id)
            .execute(&mut conn)
            .await
            .unwrap();
        if me(addr, &authorization).await.0 == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the instance does not serve from its cache after {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn without_caches_a_logout_at_one_instance_is_refused_by_the_other_at_once() {
    let schema = Schema::create().await;
    let database = schema.database();
    add_user(&database, "alice", "wonderland");
    let (_a, a) = Server::start(&database, UNCACHED);
    let (_b, b) = Server::start(&database, UNCACHED);

    let authorization = token_at(&a).await;
    assert_eq!(me(&b, &authorization).await.0, 200);
    logout(&a, &authorization).await;
    assert_eq!(me(&b, &authorization).await, (401, INVALID.to_owned()));
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn with_caches_a_logout_at_one_instance_reaches_the_other_within_the_bound() {
    let schema = Schema::create().await;
    let database = schema.database();
    add_user(&database, "alice", "wonderland");
    let (_a, a) = Server::start(&database, CACHED);
    let (_b, b) = Server::start(&database, CACHED);
    serving_from_cache(&schema, &a, &b).await;

    let authorization = token_at(&a).await;
    for _ in 0..3 {
        assert_eq!(me(&b, &authorization).await.0, 200, "B uses (and caches) it");
    }
    logout(&a, &authorization).await;
    refused_within(&b, &authorization, "logged out at A").await;
    // And for good: nothing puts it back.
    assert_eq!(me(&b, &authorization).await, (401, INVALID.to_owned()));
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn a_password_change_from_the_command_line_reaches_a_caching_instance() {
    let schema = Schema::create().await;
    let database = schema.database();
    add_user(&database, "alice", "wonderland");
    let (_b, b) = Server::start(&database, CACHED);
    serving_from_cache(&schema, &b, &b).await;

    let authorization = token_at(&b).await;
    for _ in 0..3 {
        assert_eq!(me(&b, &authorization).await.0, 200);
    }
    let changed = add_user(&database, "alice", "looking glass");
    assert!(changed.contains("alice"), "{changed}");
    refused_within(&b, &authorization, "after the password change").await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn a_dropped_listen_connection_does_not_leave_a_revoked_token_cached() {
    let schema = Schema::create().await;
    let database = schema.database();
    add_user(&database, "alice", "wonderland");
    // B's connections carry a name of their own: the test ends only B's LISTEN.
    let b_name = format!("{}_b", schema.name);
    let (_a, a) = Server::start(&database, CACHED);
    let (_b, b) = Server::start(&schema.database_as(&b_name), CACHED);
    serving_from_cache(&schema, &a, &b).await;

    let authorization = token_at(&a).await;
    for _ in 0..3 {
        assert_eq!(me(&b, &authorization).await.0, 200, "B uses (and caches) it");
    }
    let mut conn = schema.connect().await;
    let ended: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND (query LIKE 'LISTEN%' OR query LIKE 'SELECT pg_notify%')",
    )
    .bind(&b_name)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(ended, vec![(true,)], "B's one LISTEN connection was ended");
    // While B reconnects: its notification may be lost, its cache must not tell.
    logout(&a, &authorization).await;
    refused_within(&b, &authorization, "logged out while B's listener was down").await;

    // B listens again, and serves from its cache again, with the revoked token gone.
    serving_from_cache(&schema, &a, &b).await;
    assert_eq!(me(&b, &authorization).await, (401, INVALID.to_owned()));
}
