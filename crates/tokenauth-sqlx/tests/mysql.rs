//! The `tokenauth-core` contracts, and what is particular to MySQL, run against
//! `MySqlStore` and `MySqlUserDirectory` on a real MySQL or MariaDB server.
//!
//! The server comes from `TOKENAUTH_TEST_MYSQL_URL` (read at run time), for example
//! `mysql://root@127.0.0.1:3306/test`. These tests are ignored by default, so that
//! `cargo test` passes on a machine without MySQL and lists them as ignored; run them
//! with
//!
//! ```text
//! TOKENAUTH_TEST_MYSQL_URL=mysql://... \
//!     cargo test -p tokenauth-sqlx --features mysql --test mysql -- --ignored
//! ```
//!
//! as `.ci/run` does. Run that way, a missing variable or an unreachable server fails
//! every test with a message saying so. Every test gets a database of its own
//! (`tokenauth_test_<random>`), dropped when the test's value is dropped, so runs
//! never collide and leave nothing behind. The URL's user must be allowed to create
//! and drop databases.

#![cfg(feature = "mysql")]

use std::hash::{BuildHasher, RandomState};
use std::str::FromStr;

use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPoolOptions};
use tokenauth_conformance::Guarded;
use tokenauth_core::store::{UserAdmin, UserDirectory};
use tokenauth_sqlx::mysql::{MySqlPool, MySqlStore, MySqlUserDirectory, migrate};

#[macro_use]
#[path = "support/migration_cases.rs"]
mod migration_cases;
#[macro_use]
#[path = "support/server_cases.rs"]
mod server_cases;

/// Why the tests are ignored by default.
macro_rules! needs_mysql {
    () => {
        "needs MySQL or MariaDB: set TOKENAUTH_TEST_MYSQL_URL and run with --ignored"
    };
}

/// `MySqlRevocationBus`.
#[path = "mysql/bus.rs"]
mod bus;
#[path = "support/following.rs"]
mod following;

/// The server's URL, from the environment.
fn server_url() -> String {
    std::env::var("TOKENAUTH_TEST_MYSQL_URL").unwrap_or_else(|_| {
        panic!(
            "TOKENAUTH_TEST_MYSQL_URL is not set: point it at a MySQL or MariaDB server \
             (such as mysql://root@127.0.0.1:3306/test) to run these tests"
        )
    })
}

/// A database of its own for one test, dropped (with everything in it) on drop.
struct Database {
    name: String,
    options: MySqlConnectOptions,
}

impl Database {
    /// Creates `tokenauth_test_<random>` on the server.
    async fn create() -> Self {
        let url = server_url();
        let options = MySqlConnectOptions::from_str(&url).expect("TOKENAUTH_TEST_MYSQL_URL is a MySQL URL");
        // A random name per test: RandomState is seeded from the system's randomness.
        let name = format!(
            "tokenauth_test_{:016x}",
            RandomState::new().hash_one(std::process::id())
        );
        let mut conn = MySqlConnection::connect_with(&options)
            .await
            .unwrap_or_else(|error| panic!("cannot reach MySQL at TOKENAUTH_TEST_MYSQL_URL: {error}"));
        sqlx::raw_sql(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        conn.close().await.expect("close");
        Self { name, options }
    }

    /// A pool on this database, not yet migrated.
    async fn pool(&self) -> MySqlPool {
        MySqlPoolOptions::new()
            .connect_with(self.options.clone().database(&self.name))
            .await
            .expect("connect to the test database")
    }
}

impl Drop for Database {
    /// Best effort: a database left behind by a crash has the `tokenauth_test_` prefix.
    fn drop(&mut self) {
        let options = self.options.clone();
        let drop = format!("DROP DATABASE IF EXISTS {}", self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on: use a
        // runtime of its own, on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = MySqlConnection::connect_with(&options).await.ok()?;
                sqlx::raw_sql(&drop).execute(&mut conn).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// `make` on a pool in a fresh, migrated database of its own.
async fn fresh<T>(make: fn(MySqlPool) -> T) -> Guarded<T, Database> {
    let database = Database::create().await;
    let pool = database.pool().await;
    migrate(&pool).await.expect("migrate");
    Guarded {
        inner: make(pool),
        guard: database,
    }
}

migration_cases!(#[ignore = needs_mysql!()]; Database, mysql, MySqlPool, question_marks);

conformance_suites!(
    #[ignore = needs_mysql!()];
    tokenauth_sqlx::mysql::MySqlStore::new,
    tokenauth_sqlx::mysql::MySqlUserDirectory::new
);

/// The tables are InnoDB, the columns have the types the crate documents (bytes for
/// names, BIGINT microseconds for times), and commits are durable
/// (`innodb_flush_log_at_trx_commit = 1`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn columns_have_the_documented_types() {
    let store = fresh(MySqlStore::new).await;
    let pool = store.inner.pool();
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'tokenauth_tokens' \
         AND COLUMN_NAME IN ('id', 'digest', 'created', 'expires', 'last_used', 'credential_version') \
         ORDER BY COLUMN_NAME",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let types: Vec<(&str, &str)> = types.iter().map(|(c, t)| (c.as_str(), t.as_str())).collect();
    assert_eq!(
        types,
        [
            ("created", "bigint(20)"),
            ("credential_version", "bigint(20)"),
            ("digest", "binary(32)"),
            ("expires", "bigint(20)"),
            ("id", "varbinary(255)"),
            ("last_used", "bigint(20)"),
        ]
    );
    let engines: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT CAST(ENGINE AS CHAR) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'tokenauth%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(engines, ["InnoDB"]);
    let flush: i64 = sqlx::query_scalar("SELECT CAST(@@innodb_flush_log_at_trx_commit AS SIGNED)")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(flush, 1, "revocations must be durable");
}

/// User ids come from AUTO_INCREMENT and are never reused, even after the newest user
/// is deleted; a name differing only by trailing spaces or case is another user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn user_ids_are_never_reused_and_names_are_exact() {
    let users = fresh(MySqlUserDirectory::new).await;
    let first = users.inner.create_user("a", "hash", true).await.unwrap().unwrap();
    users.inner.delete_user(&first.id).await.unwrap().unwrap();
    let second = users.inner.create_user("a", "hash", true).await.unwrap().unwrap();
    assert_ne!(first.id, second.id);
    assert!(users.inner.find_user(&first.id).await.unwrap().is_none());
    assert!(
        users
            .inner
            .create_user("a", "other", true)
            .await
            .unwrap()
            .is_none()
    );
    for name in ["a ", "A"] {
        let other = users.inner.create_user(name, "hash", true).await.unwrap();
        assert_eq!(other.expect("another user").username, name);
    }
}

/// An insert that fails (a duplicate digest) writes nothing, not even the version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn a_failed_commit_writes_nothing() {
    let store = fresh(MySqlStore::new).await;
    server_cases::a_failed_commit_writes_nothing(&store).await;
}

/// Two processes storing their settings at once (two `serve` starting together) both
/// succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn concurrent_settings_replacements_all_succeed() {
    let store = fresh(MySqlStore::new).await;
    server_cases::concurrent_settings_replacements_all_succeed(&store.inner).await;
}

/// The named lock migrating processes take is let go after a migration, and after one
/// that failed: the next `migrate` on the pool fails with the migration's error again,
/// instead of waiting for a lock its own idle connection would still hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn the_migration_lock_is_let_go() {
    let store = fresh(MySqlStore::new).await;
    let pool = store.inner.pool();
    let free = || async {
        let free: i64 =
            sqlx::query_scalar("SELECT IS_FREE_LOCK(CONCAT('tokenauth_migrations.', DATABASE()))")
                .fetch_one(pool)
                .await
                .unwrap();
        free == 1
    };
    assert!(free().await, "free after migrating");
    let last = tokenauth_sqlx::mysql::migrations().last().unwrap().version;
    sqlx::query("DELETE FROM tokenauth_migrations WHERE version = ?")
        .bind(last)
        .execute(pool)
        .await
        .unwrap();
    // The last migration can run again, but not without the table it puts triggers on.
    sqlx::query("DROP TABLE tokenauth_tokens")
        .execute(pool)
        .await
        .unwrap();
    for _ in 0..2 {
        let error = migrate(pool).await.unwrap_err();
        assert!(
            matches!(error, tokenauth_sqlx::Error::MigrationFailed { version, .. } if version == last),
            "{error:?}"
        );
        assert!(free().await, "free after a failed migration");
    }
}

/// The revocation log's migration runs again whole after failing part way (MySQL
/// commits DDL statement by statement): what it made stays as it was (the counter
/// keeps its number), and what it had not made yet is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_mysql!()]
async fn the_revocation_log_migration_runs_again_after_failing_part_way() {
    let store = fresh(MySqlStore::new).await;
    let pool = store.inner.pool();
    let last = tokenauth_sqlx::mysql::migrations().last().unwrap().version;
    for statement in [
        "UPDATE tokenauth_revocation_seq SET n = 41",
        "DROP TRIGGER tokenauth_users_deleted",
        "DROP TRIGGER tokenauth_users_changed",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
    sqlx::query("DELETE FROM tokenauth_migrations WHERE version = ?")
        .bind(last)
        .execute(pool)
        .await
        .unwrap();
    migrate(pool).await.expect("the migration runs again");
    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(TRIGGER_NAME AS CHAR) FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        triggers,
        [
            "tokenauth_tokens_deleted",
            "tokenauth_users_changed",
            "tokenauth_users_deleted"
        ]
    );
    let users = MySqlUserDirectory::new(pool.clone());
    let user = users.create_user("a", "hash", true).await.unwrap().unwrap();
    users.delete_user(&user.id).await.unwrap();
    let logged: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, CONVERT(user_id USING utf8mb4) FROM tokenauth_revocations")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(logged, [(42, user.id.as_str().to_owned())]);
}
