//! tokenauth's migrations beside an application's own, on any dialect: the cases
//! `tests/migrations.rs` runs on SQLite and `tests/postgres.rs` on PostgreSQL.
//!
//! The application is an ordinary sqlx migrator with default settings over
//! `tests/fixtures/app_migrations`. An earlier tokenauth is sqlx's migrator over
//! tokenauth's own migration folder with `set_ignore_missing(true)`, recording in
//! `_sqlx_migrations`, as the releases before `tokenauth_migrations` did.

/// The application's one migration.
pub(crate) const APP_VERSION: i64 = 20250101000000;

/// `sql` with `$1`-style parameters, as SQLite and PostgreSQL read it.
#[allow(dead_code)] // Each test binary uses one of the two.
pub(crate) fn as_written(sql: &str) -> String {
    sql.to_owned()
}

/// `sql` with its `$1`-style parameters as `?`, as MySQL reads it (the cases bind
/// each parameter once, in order).
#[allow(dead_code)]
pub(crate) fn question_marks(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// `migration_cases!(#[attrs]; Db, dialect, Pool, spelling)`: the cases, as tests with
/// `attrs`, on databases of `Db` (`Db::create().await` makes a fresh, empty one,
/// dropped with it; `db.pool().await` opens a `Pool` on it) and tokenauth's module
/// `dialect`, their SQL's parameters spelled by `spelling` (`as_written` or
/// `question_marks`).
macro_rules! migration_cases {
    ($(#[$attr:meta])*; $db:ident, $dialect:ident, $pool:ident, $spelling:ident) => {
        mod beside_an_app {
            use std::path::Path;

            use sqlx::migrate::Migrator;
            use tokenauth_sqlx::Error;
            use tokenauth_sqlx::$dialect::{migrate, migrations};

            use super::migration_cases::APP_VERSION;

            /// `text` as the dialect spells its parameters.
            fn sql(text: &str) -> String {
                super::migration_cases::$spelling(text)
            }

            type Pool = super::$pool;
            type Db = super::$db;

            fn fixture(path: &str) -> std::path::PathBuf {
                Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
            }

            /// The application's migrator, with sqlx's default settings.
            async fn app() -> Migrator {
                Migrator::new(fixture("tests/fixtures/app_migrations").as_path())
                    .await
                    .expect("the application's migrations")
            }

            /// An earlier tokenauth's migrator: sqlx's, over the same migrations.
            async fn earlier_tokenauth() -> Migrator {
                let folder = fixture(concat!("migrations/", stringify!($dialect)));
                let mut tokenauth = Migrator::new(folder.as_path()).await.expect("tokenauth's migrations");
                tokenauth.set_ignore_missing(true);
                tokenauth
            }

            /// The database as an earlier tokenauth and an application beside it left it:
            /// both recorded in `_sqlx_migrations`, both ignoring the other's versions.
            async fn earlier_layout(pool: &Pool) {
                earlier_tokenauth().await.run(pool).await.expect("an earlier tokenauth migrates");
                let mut app = app().await;
                app.set_ignore_missing(true);
                app.run(pool).await.expect("the application migrates");
            }

            async fn versions(pool: &Pool, table: &str) -> Vec<i64> {
                sqlx::query_scalar(&format!("SELECT version FROM {table} ORDER BY version"))
                    .fetch_all(pool)
                    .await
                    .expect(table)
            }

            fn all() -> Vec<i64> {
                migrations().iter().map(|m| m.version).collect()
            }

            /// Each side recorded only its own, and both sides' tables are there.
            async fn assert_both_applied(pool: &Pool) {
                assert_eq!(versions(pool, "tokenauth_migrations").await, all());
                assert_eq!(versions(pool, "_sqlx_migrations").await, [APP_VERSION]);
                let counts: (i64, i64) = sqlx::query_as(
                    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM tokenauth_users)",
                )
                .fetch_one(pool)
                .await
                .expect("both sides' tables");
                assert_eq!(counts, (0, 0));
            }

            /// An application's own sqlx migrator (default settings) and tokenauth's
            /// `migrate`, in either order and each twice, all succeed.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn run_in_either_order_without_ignore_missing() {
                for app_first in [true, false] {
                    let db = Db::create().await;
                    let pool = db.pool().await;
                    let app = app().await;
                    for _ in 0..2 {
                        if app_first {
                            app.run(&pool).await.expect("the application's migrations");
                            migrate(&pool).await.expect("tokenauth's migrations");
                        } else {
                            migrate(&pool).await.expect("tokenauth's migrations");
                            app.run(&pool).await.expect("the application's migrations");
                        }
                    }
                    assert_both_applied(&pool).await;
                }
            }

            /// A database an earlier tokenauth migrated: its rows move from
            /// `_sqlx_migrations` to `tokenauth_migrations` as sqlx recorded them, the
            /// application's row stays, and the application's migrator then needs no
            /// `set_ignore_missing` either.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn adopt_the_record_of_an_earlier_tokenauth() {
                let db = Db::create().await;
                let pool = db.pool().await;
                earlier_layout(&pool).await;
                let mut before = all();
                before.insert(0, APP_VERSION);
                assert_eq!(versions(&pool, "_sqlx_migrations").await, before);
                let select = sql(
                    "SELECT version, description, checksum FROM _sqlx_migrations \
                     WHERE version <> $1 ORDER BY version",
                );
                let recorded: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(&select)
                .bind(APP_VERSION)
                .fetch_all(&pool)
                .await
                .unwrap();

                migrate(&pool).await.expect("tokenauth adopts its rows");
                let moved: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
                    "SELECT version, description, checksum FROM tokenauth_migrations ORDER BY version",
                )
                .fetch_all(&pool)
                .await
                .unwrap();
                assert_eq!(moved, recorded);
                app().await.run(&pool).await.expect("the application's migrations");
                migrate(&pool).await.expect("tokenauth's migrations, again");
                assert_both_applied(&pool).await;

                // There is no way back: the earlier tokenauth finds its migrations
                // missing, and applying them again fails.
                earlier_tokenauth().await.run(&pool).await.unwrap_err();
            }

            /// An applied migration whose checksum is not this build's is refused with
            /// its version, in tokenauth's record and in the earlier one; a refused
            /// adoption moves nothing.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn refuse_a_changed_migration() {
                let first = all()[0];
                for table in ["tokenauth_migrations", "_sqlx_migrations"] {
                    let db = Db::create().await;
                    let pool = db.pool().await;
                    if table == "tokenauth_migrations" {
                        migrate(&pool).await.unwrap();
                    } else {
                        earlier_layout(&pool).await;
                    }
                    let before = versions(&pool, table).await;
                    sqlx::query(&sql(&format!("UPDATE {table} SET checksum = $1 WHERE version = $2")))
                        .bind(vec![0_u8; 48])
                        .bind(first)
                        .execute(&pool)
                        .await
                        .unwrap();

                    let error = migrate(&pool).await.unwrap_err();
                    assert!(matches!(error, Error::MigrationChanged { version } if version == first), "{error:?}");
                    assert_eq!(
                        error.to_string(),
                        format!(
                            "tokenauth migration {first} was applied with other contents than this \
                             build's (its checksum differs)"
                        )
                    );
                    assert_eq!(versions(&pool, table).await, before, "{table}");
                }
            }

            /// A migration this build does not have (a newer tokenauth's) is refused
            /// with its version.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn refuse_a_migration_of_a_newer_tokenauth() {
                let db = Db::create().await;
                let pool = db.pool().await;
                migrate(&pool).await.unwrap();
                let newer = 29991231000000_i64;
                sqlx::query(&sql(
                    "INSERT INTO tokenauth_migrations (version, description, checksum) \
                     VALUES ($1, 'from a newer tokenauth', $2)",
                ))
                .bind(newer)
                .bind(vec![0_u8; 48])
                .execute(&pool)
                .await
                .unwrap();

                let error = migrate(&pool).await.unwrap_err();
                assert!(matches!(error, Error::MigrationUnknown { version } if version == newer), "{error:?}");
                assert_eq!(
                    error.to_string(),
                    format!(
                        "the database has tokenauth migration {newer}, which this build does not \
                         know: a newer tokenauth migrated it"
                    )
                );
            }

            /// A migration that fails stops `migrate` with its version, and is not
            /// recorded: here the last one, whose record was deleted, runs again
            /// without the tokens table, and fails (on what it created the first
            /// time, or, where it can run again, as MySQL's can, on the missing
            /// table).
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn name_a_failing_migration() {
                let db = Db::create().await;
                let pool = db.pool().await;
                migrate(&pool).await.unwrap();
                let mut applied = all();
                let last = applied.pop().expect("a migration");
                sqlx::query(&sql("DELETE FROM tokenauth_migrations WHERE version = $1"))
                    .bind(last)
                    .execute(&pool)
                    .await
                    .unwrap();
                sqlx::query("DROP TABLE tokenauth_tokens").execute(&pool).await.unwrap();

                let error = migrate(&pool).await.unwrap_err();
                assert!(matches!(error, Error::MigrationFailed { version, .. } if version == last), "{error:?}");
                assert_eq!(error.to_string(), format!("tokenauth migration {last} failed"));
                assert_eq!(versions(&pool, "tokenauth_migrations").await, applied);
            }

            /// Processes starting together on a fresh database all migrate successfully,
            /// and each migration is applied once.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn concurrent_migrations_apply_each_once() {
                let db = Db::create().await;
                let mut pools = Vec::new();
                for _ in 0..8 {
                    pools.push(db.pool().await);
                }
                let mut runs = tokio::task::JoinSet::new();
                for pool in &pools {
                    let pool = pool.clone();
                    runs.spawn(async move { migrate(&pool).await });
                }
                while let Some(run) = runs.join_next().await {
                    run.expect("the task ends").expect("every concurrent migration succeeds");
                }
                assert_eq!(versions(&pools[0], "tokenauth_migrations").await, all());
                migrate(&pools[1]).await.expect("nothing left to do");
            }
        }
    };
}
