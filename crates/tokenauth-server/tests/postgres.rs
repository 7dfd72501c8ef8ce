//! The real `tokenauth` binary on PostgreSQL: add a user, serve, obtain and use a token
//! over HTTP, revoke it from the command line, and see it refused.
//!
//! Ignored by default; run with `TOKENAUTH_TEST_POSTGRES_URL` set (for example
//! `postgres://postgres@127.0.0.1:5432/test`) and `--ignored`, as `.ci/run` does. The
//! test works in a schema of its own (`tokenauth_e2e_<random>`, given to the binary
//! through the URL's `options=-c search_path=...`), dropped afterwards.

mod common;

use std::hash::{BuildHasher, RandomState};

use common::{Server, add_user, http, obtain, run, tokenauth};
use serde_json::Value;
use sqlx::{Connection, PgConnection};

/// A schema of its own on the server at `url`, dropped (best effort) on drop.
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    async fn create(url: &str) -> Self {
        let name = format!(
            "tokenauth_e2e_{:016x}",
            RandomState::new().hash_one(std::process::id())
        );
        let mut conn = PgConnection::connect(url).await.unwrap_or_else(|error| {
            panic!("cannot reach PostgreSQL at TOKENAUTH_TEST_POSTGRES_URL: {error}")
        });
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test schema");
        Self {
            url: url.to_owned(),
            name,
        }
    }

    /// `--database` for the binary: the server's URL, working in this schema.
    fn database(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-c%20search_path%3D{}", self.url, self.name)
    }
}

impl Drop for Schema {
    /// Best effort, also when the test fails: on a thread and runtime of its own, since
    /// the test's runtime cannot be blocked on. A schema left behind by a crash has the
    /// `tokenauth_e2e_` prefix.
    fn drop(&mut self) {
        let url = self.url.clone();
        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&url).await.ok()?;
                sqlx::query(&drop).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn serve_obtain_revoke_on_postgres() {
    let url = std::env::var("TOKENAUTH_TEST_POSTGRES_URL").expect(
        "TOKENAUTH_TEST_POSTGRES_URL is not set: point it at a PostgreSQL server \
         (such as postgres://postgres@127.0.0.1:5432/test) to run this test",
    );
    let schema = Schema::create(&url).await;
    let database = schema.database();

    assert_eq!(
        add_user(&database, "alice", "wonderland"),
        "created user \"alice\" (id 1, active)\n"
    );

    let (mut server, addr) = Server::start(&database, &[]);
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
