//! The real `tokenauth` binary on PostgreSQL: add a user, serve, obtain and use a token
//! over HTTP, revoke it from the command line, and see it refused.
//!
//! Ignored by default; run with `TOKENAUTH_TEST_POSTGRES_URL` set (for example
//! `postgres://postgres@127.0.0.1:5432/test`) and `--ignored`, as `.ci/run` does. The
//! test works in a schema of its own (`tokenauth_e2e_<random>`, given to the binary
//! through the URL's `options=-c search_path=...`), dropped afterwards.

use crate::common;

use common::postgres::Schema;
use common::{Server, add_user, http, obtain, run, tokenauth};
use serde_json::Value;

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn serve_obtain_revoke_on_postgres() {
    let schema = Schema::create().await;
    let database = schema.database();

    assert_eq!(
        add_user(&database, "alice", "wonderland"),
        "created user \"alice\" (id 1, active)\n"
    );

    // Without the cache (on by default, when another process's revocation takes up
    // to the bus's bound): every request reads the database.
    let (mut server, addr) = Server::start(&database, &["--cache", "off"]);
    let obtained = obtain(&addr, "alice", "wonderland").await;
    let authorization = format!("Token {}", obtained["token"].as_str().unwrap());

    let (status, body) = http(&addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["username"], "alice");
    let id = me["token"]["id"].as_str().unwrap();

    // Revoked by another process, on the same database: refused at once.
    let revoked = run(tokenauth(&database, &["token", "revoke", id]), "");
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let (status, body) = http(&addr, "GET", "/auth/me", &[("authorization", &authorization)], "").await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));

    server.terminate();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// `--listen-database` sends the LISTEN connection (the one a caching server follows
/// revocations on) to its own URL, apart from the pool: behind a transaction-pooling
/// PgBouncer, the pool goes through it and the listener straight to the database.
#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn the_listen_connection_goes_where_listen_database_says() {
    let schema = Schema::create().await;
    let database = schema.database();
    let listener_name = format!("{}_listen", schema.name);
    let listen = schema.database_as(&listener_name);
    let (mut server, _addr) = Server::start(&database, &["--cache", "on", "--listen-database", &listen]);
    let mut conn = schema.connect().await;
    let mut listening = 0_i64;
    for _ in 0..100 {
        listening = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND (query LIKE 'LISTEN%' OR query LIKE 'SELECT pg_notify%')",
        )
        .bind(&listener_name)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if listening > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(listening, 1, "one LISTEN connection, on --listen-database's URL");
    server.terminate();
    assert!(server.0.wait().unwrap().success());

    // On SQLite there is nothing to listen to: said at start-up.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("x.db").display());
    let refused = run(tokenauth(&sqlite, &["serve", "--listen-database", &listen]), "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--listen-database is for PostgreSQL"));
}

/// The local ports of the TCP sockets process `pid` holds (Linux's `/proc`): the
/// `client_port` of its connections in `pg_stat_activity`.
fn tcp_ports_of(pid: u32) -> Vec<i32> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if inodes.iter().any(|inode| inode == fields[9]) {
                let (_, port) = fields[1].rsplit_once(':').unwrap();
                ports.push(i32::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

/// The `application_name` of each connection the server `server` has open to PostgreSQL.
async fn application_names(schema: &Schema, server: &Server) -> Vec<String> {
    let ports = tcp_ports_of(server.0.id());
    sqlx::query_scalar("SELECT application_name FROM pg_stat_activity WHERE client_port = ANY($1)")
        .bind(&ports)
        .fetch_all(&mut schema.connect().await)
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn connections_are_named_tokenauth_unless_the_url_names_them() {
    let schema = Schema::create().await;
    let database = schema.database();
    add_user(&database, "alice", "pw");
    for (url, name) in [
        (database.clone(), "tokenauth"),
        (schema.database_as("mine"), "mine"),
    ] {
        // With the cache, the LISTEN connection too.
        let (mut server, addr) = Server::start(&url, &["--cache", "on"]);
        obtain(&addr, "alice", "pw").await;
        let names = application_names(&schema, &server).await;
        assert!(!names.is_empty(), "no connection of the server found");
        assert!(names.iter().all(|named| named == name), "{names:?}");
        server.terminate();
        assert!(server.0.wait().unwrap().success());
    }
}
