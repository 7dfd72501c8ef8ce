//! The `tokenauth-core` contracts, and what is particular to PostgreSQL, run against
//! `PostgresStore` and `PostgresUserDirectory` on a real server.
//!
//! The server comes from `TOKENAUTH_TEST_POSTGRES_URL` (read at run time), for example
//! `postgres://postgres@127.0.0.1:5432/test`. These tests are ignored by default, so
//! that `cargo test` passes on a machine without PostgreSQL and lists them as ignored;
//! run them with
//!
//! ```text
//! TOKENAUTH_TEST_POSTGRES_URL=postgres://... \
//!     cargo test -p tokenauth-sqlx --features postgres --test postgres -- --ignored
//! ```
//!
//! as `.ci/run` does. Run that way, a missing variable or an unreachable server fails
//! every test with a message saying so. Every test gets a schema of its own
//! (`tokenauth_test_<random>`, which its pool's connections put first on their
//! `search_path`), dropped when the test's value is dropped, so runs never collide and
//! leave nothing behind.

#![cfg(feature = "postgres")]

use std::hash::{BuildHasher, RandomState};
use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use tokenauth_conformance::{Guarded, record};
use tokenauth_core::UserId;
use tokenauth_core::store::{Change, Committed, TokenStore, UserAdmin, UserDirectory};
use tokenauth_sqlx::postgres::{PgPool, PostgresStore, PostgresUserDirectory, migrate};

#[macro_use]
#[path = "support/migration_cases.rs"]
mod migration_cases;
#[macro_use]
#[path = "support/server_cases.rs"]
mod server_cases;

/// Why the tests are ignored by default.
macro_rules! needs_postgres {
    () => {
        "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"
    };
}

/// The server's URL, from the environment.
fn server_url() -> String {
    std::env::var("TOKENAUTH_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "TOKENAUTH_TEST_POSTGRES_URL is not set: point it at a PostgreSQL server \
             (such as postgres://postgres@127.0.0.1:5432/test) to run these tests"
        )
    })
}

/// A schema of its own for one test, dropped (with everything in it) on drop.
struct Schema {
    name: String,
    options: PgConnectOptions,
}

impl Schema {
    /// Creates `tokenauth_test_<random>` on the server.
    async fn create() -> Self {
        let url = server_url();
        let options =
            PgConnectOptions::from_str(&url).expect("TOKENAUTH_TEST_POSTGRES_URL is a PostgreSQL URL");
        // A random name per test: RandomState is seeded from the system's randomness.
        let name = format!(
            "tokenauth_test_{:016x}",
            RandomState::new().hash_one(std::process::id())
        );
        let mut conn = PgConnection::connect_with(&options)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot reach PostgreSQL at TOKENAUTH_TEST_POSTGRES_URL: {error}")
            });
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test schema");
        conn.close().await.expect("close");
        Self { name, options }
    }

    /// A pool whose connections work in this schema, not yet migrated.
    async fn pool(&self) -> PgPool {
        let options = self
            .options
            .clone()
            .options([("search_path", self.name.as_str())]);
        PgPoolOptions::new()
            .connect_with(options)
            .await
            .expect("connect to the test schema")
    }
}

impl Drop for Schema {
    /// Best effort: a schema left behind by a crash has the `tokenauth_test_` prefix.
    fn drop(&mut self) {
        let options = self.options.clone();
        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on: use a
        // runtime of its own, on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = PgConnection::connect_with(&options).await.ok()?;
                sqlx::query(&drop).execute(&mut conn).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop the test schema {}", self.name);
        }
    }
}

/// `make` on a pool in a fresh, migrated schema of its own.
async fn fresh<T>(make: fn(PgPool) -> T) -> Guarded<T, Schema> {
    let schema = Schema::create().await;
    let pool = schema.pool().await;
    migrate(&pool).await.expect("migrate");
    Guarded {
        inner: make(pool),
        guard: schema,
    }
}

migration_cases!(#[ignore = needs_postgres!()]; Schema, postgres, PgPool, as_written);

conformance_suites!(
    #[ignore = needs_postgres!()];
    tokenauth_sqlx::postgres::PostgresStore::new,
    tokenauth_sqlx::postgres::PostgresUserDirectory::new
);

/// The columns have the types the suites rely on (microsecond `TIMESTAMPTZ`), and
/// commits are durable (`synchronous_commit` is on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_postgres!()]
async fn columns_have_the_documented_types() {
    let store = fresh(PostgresStore::new).await;
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'tokenauth_tokens' \
         AND column_name IN ('digest', 'created', 'expires', 'last_used', 'credential_version') \
         ORDER BY column_name",
    )
    .fetch_all(store.inner.pool())
    .await
    .unwrap();
    let types: Vec<(&str, &str)> = types.iter().map(|(c, t)| (c.as_str(), t.as_str())).collect();
    assert_eq!(
        types,
        [
            ("created", "timestamp with time zone"),
            ("credential_version", "bigint"),
            ("digest", "bytea"),
            ("expires", "timestamp with time zone"),
            ("last_used", "timestamp with time zone"),
        ]
    );
    let commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(store.inner.pool())
        .await
        .unwrap();
    assert_eq!(commit, "on", "revocations must be durable");
}

/// User ids come from the identity column and are never reused, even after the
/// newest user is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_postgres!()]
async fn user_ids_are_never_reused() {
    let users = fresh(PostgresUserDirectory::new).await;
    let first = users.inner.create_user("a", "hash", true).await.unwrap().unwrap();
    users.inner.delete_user(&first.id).await.unwrap().unwrap();
    let second = users.inner.create_user("a", "hash", true).await.unwrap().unwrap();
    assert_ne!(first.id, second.id);
    assert!(users.inner.find_user(&first.id).await.unwrap().is_none());
    assert!(
        users
            .inner
            .find_user(&UserId::new("007"))
            .await
            .unwrap()
            .is_none()
    );
}

/// An insert that fails (a duplicate digest) writes nothing, not even the version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_postgres!()]
async fn a_failed_commit_writes_nothing() {
    let store = fresh(PostgresStore::new).await;
    server_cases::a_failed_commit_writes_nothing(&store).await;
}

/// Two processes storing their settings at once (two `serve` starting together) both
/// succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_postgres!()]
async fn concurrent_settings_replacements_all_succeed() {
    let store = fresh(PostgresStore::new).await;
    server_cases::concurrent_settings_replacements_all_succeed(&store.inner).await;
}

/// A token deleted by any program (here bare SQL, no tokenauth code and no publisher)
/// is announced on the revocation channel by its own transaction, at its commit; a
/// deletion rolled back is not announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_postgres!()]
async fn deletions_are_announced_by_their_own_transaction() {
    let store = fresh(PostgresStore::new).await;
    // User ids no other test on the server uses: the channel is database-wide.
    let kept = UserId::new(format!("{}_kept", store.guard.name));
    let gone = UserId::new(format!("{}_gone", store.guard.name));
    for user in [&kept, &gone] {
        let mut rec = record(user.as_str(), 0);
        rec.user_id = user.clone();
        let insert = Change {
            delete: vec![],
            insert: Some(rec),
        };
        let committed = store.commit(user, 0, insert).await.unwrap();
        assert_eq!(committed, Committed::Applied { ended: vec![] });
    }
    let pool = store.inner.pool().clone();
    let bus = tokenauth_sqlx::postgres::PostgresRevocationBus::new(pool.clone());
    let mut received = tokenauth_core::store::RevocationBus::subscribe(&bus);
    let mut connected = tokenauth_core::store::RevocationBus::connected(&bus);
    tokio::time::timeout(std::time::Duration::from_secs(10), connected.wait_for(|up| *up))
        .await
        .expect("the bus listens within 10 s")
        .unwrap();

    let mut rolled_back = pool.begin().await.unwrap();
    sqlx::query("DELETE FROM tokenauth_tokens WHERE user_id = $1")
        .bind(kept.as_str())
        .execute(&mut *rolled_back)
        .await
        .unwrap();
    rolled_back.rollback().await.unwrap();
    sqlx::query("DELETE FROM tokenauth_tokens WHERE user_id = $1")
        .bind(gone.as_str())
        .execute(&pool)
        .await
        .unwrap();

    let heard = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match received.recv().await.expect("the bus lives") {
                tokenauth_core::Revocation::User(user) if user == gone => return,
                tokenauth_core::Revocation::User(user) => {
                    assert_ne!(user, kept, "a rolled-back deletion was announced")
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "the committed deletion was not announced");
}
