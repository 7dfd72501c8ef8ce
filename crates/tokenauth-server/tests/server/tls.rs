//! The binary over TLS: PostgreSQL with `sslmode=require` (the shared server, Debian's
//! snakeoil certificate) and `verify-full` (a server of the test's own with a CA the test
//! made), Redis with `rediss://` (a server of the test's own); a wrong CA is refused
//! with an error naming the certificate problem.
//!
//! Ignored by default: they need PostgreSQL's programs, `redis-server` and `openssl`
//! (and `TOKENAUTH_TEST_POSTGRES_URL` for the shared server); `.ci/run` runs them.

use crate::common;

use std::process::Output;

use common::postgres::Schema;
use common::tls::{Certificates, TlsPostgres, TlsRedis};
use common::{Server, add_user, http, obtain, run, run_ok, tokenauth};
use sqlx::Row;

/// Logs `alice` in over HTTP and reads `/auth/me` with her token: 200 and her name.
async fn login_and_me(addr: &str) {
    let obtained = obtain(addr, "alice", "pw").await;
    let authorization = format!("Token {}", obtained["token"].as_str().expect("a token"));
    let (status, body) = http(addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""username":"alice""#), "{body}");
}

/// The command's standard error, which must report a failure.
fn failure(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "succeeded: {stderr}");
    stderr
}

/// `tokenauth ARGS` without a CA bundle from the environment.
fn without_env_roots(database: &str, args: &[&str]) -> std::process::Command {
    let mut command = tokenauth(database, args);
    command.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    command
}

/// `tokenauth ARGS` with `SSL_CERT_FILE` naming `ca` as the system's roots.
fn with_cert_file(database: &str, args: &[&str], ca: &str) -> std::process::Command {
    let mut command = without_env_roots(database, args);
    command.env("SSL_CERT_FILE", ca);
    command
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn sslmode_require_encrypts_every_connection_to_the_shared_server() {
    let schema = Schema::create_with_prefix("tokenauth_tls_").await;
    let application = schema.name.clone();
    let database = format!("{}&sslmode=require", schema.database_as(&application));
    add_user(&database, "alice", "pw");
    let (mut server, addr) = Server::start(&database, &[]);
    login_and_me(&addr).await;

    let mut conn = schema.connect().await;
    let row = sqlx::query(
        "SELECT count(*) AS connections, bool_and(s.ssl) AS encrypted \
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
    )
    .bind(&application)
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_ssl");
    let connections: i64 = row.get("connections");
    let encrypted: Option<bool> = row.get("encrypted");
    assert!(connections > 0, "the server's connections are not found");
    assert_eq!(encrypted, Some(true), "a connection is not encrypted");
    server.terminate();
    assert!(server.0.wait().unwrap().success());
}

#[tokio::test]
#[ignore = "needs PostgreSQL's programs and openssl; run with --ignored"]
async fn verify_full_trusts_the_deployments_ca_and_refuses_another() {
    let certificates = Certificates::generate();
    let postgres = TlsPostgres::start(&certificates);
    let ca = certificates.ca().display().to_string();
    let database = postgres.url(&format!("sslmode=verify-full&sslrootcert={ca}"));
    add_user(&database, "alice", "pw");
    let (mut server, addr) = Server::start(&database, &[]);
    login_and_me(&addr).await;
    server.terminate();
    assert!(server.0.wait().unwrap().success());

    // Another CA: refused, and the error says why.
    let wrong = postgres.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        certificates.wrong_ca().display()
    ));
    let stderr = failure(run(without_env_roots(&wrong, &["user", "list"]), ""));
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");

    // Without sslrootcert, the system's roots: which do not know this CA...
    let system = postgres.url("sslmode=verify-full");
    let stderr = failure(run(without_env_roots(&system, &["user", "list"]), ""));
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    // ...unless SSL_CERT_FILE names it, as with OpenSSL.
    assert!(run_ok(with_cert_file(&system, &["user", "list"], &ca), "").contains("alice"));
}

#[tokio::test]
#[ignore = "needs redis-server and openssl; run with --ignored"]
async fn rediss_trusts_the_token_store_ca_and_refuses_another() {
    let certificates = Certificates::generate();
    let redis = TlsRedis::start(&certificates);
    let dir = tempfile::tempdir().unwrap();
    let database = common::database_with_alice(&dir, "tls");
    let url = redis.url();
    let ca = certificates.ca().display().to_string();

    let (mut server, addr) = Server::start(&database, &["--token-store", &url, "--token-store-ca", &ca]);
    login_and_me(&addr).await;
    server.terminate();
    assert!(server.0.wait().unwrap().success());
    // The tokens went to Redis: the one just issued is listed from there.
    let listed = run(
        tokenauth(
            &database,
            &["--token-store", &url, "--token-store-ca", &ca, "token", "list"],
        ),
        "",
    );
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), 2);

    // Another CA, or the system's roots: refused, naming the certificate problem.
    let wrong = certificates.wrong_ca().display().to_string();
    for args in [
        vec!["--token-store", &url, "--token-store-ca", &wrong, "token", "list"],
        vec!["--token-store", &url, "token", "list"],
    ] {
        let stderr = failure(run(without_env_roots(&database, &args), ""));
        assert!(stderr.contains("certificate"), "{stderr}");
        assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    }
    // SSL_CERT_FILE is honoured for the system's roots.
    run_ok(
        with_cert_file(&database, &["--token-store", &url, "token", "list"], &ca),
        "",
    );

    // A CA for a plaintext URL is a misconfiguration, said at start-up.
    let plaintext = url.replace("rediss://", "redis://");
    let stderr = failure(run(
        tokenauth(
            &database,
            &[
                "--token-store",
                &plaintext,
                "--token-store-ca",
                &ca,
                "token",
                "list",
            ],
        ),
        "",
    ));
    assert!(stderr.contains("rediss://"), "{stderr}");
}
