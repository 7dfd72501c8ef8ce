//! The fixtures on PostgreSQL: the dump Django made (`tests/fixtures/django-postgres.sql`)
//! loaded with `psql` into a database of each test's own, then the same checks as on
//! SQLite.
//!
//! Ignored by default; run with
//!
//! ```text
//! TOKENAUTH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo test -p tokenauth-django --features postgres --test postgres -- --ignored
//! ```
//!
//! Each test creates `tokenauth_django_<random>` on that server (the dump names the
//! `public` schema, so it needs a database, not a schema), loads the dump with `psql`
//! (15.14 or later: the dump uses `\restrict`), and drops that database when done.
#![cfg(feature = "postgres")]

mod common;

use std::hash::{BuildHasher, RandomState};
use std::process::Command;

use common::{Manifest, Raw, manifest};
use sqlx::{Connection, PgConnection, PgPool};
use time::OffsetDateTime;
use tokenauth_conformance::{CountingStore, Guarded, StoreSubject};
use tokenauth_core::{Clock as _, ManualClock, TokenAuth};
use tokenauth_django::postgres::{PostgresStore, PostgresUserDirectory, connect};
use tokenauth_django::{DjangoTables, django_auth};

macro_rules! needs_postgres {
    () => {
        "needs PostgreSQL and psql: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"
    };
}

fn server_url() -> String {
    std::env::var("TOKENAUTH_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "TOKENAUTH_TEST_POSTGRES_URL is not set: point it at a PostgreSQL server \
             (such as postgres://postgres@127.0.0.1:5432/test) to run these tests"
        )
    })
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').expect("a postgres URL names a database");
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// A database of the test's own holding the fixture dump, dropped on drop.
struct Database {
    name: String,
    url: String,
}

impl Database {
    async fn load() -> Self {
        Self::load_dump(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/django-postgres.sql"
        ))
        .await
    }

    /// A database of its own holding the dump at `dump`.
    async fn load_dump(dump: &str) -> Self {
        let server = server_url();
        let name = format!(
            "tokenauth_django_{:016x}",
            RandomState::new().hash_one(std::process::id())
        );
        let mut admin = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at TOKENAUTH_TEST_POSTGRES_URL: {e}"));
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut admin)
            .await
            .unwrap();
        let url = with_database(&server, &name);
        let database = Self { name, url };
        let output = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &database.url,
                "-f",
                dump,
            ])
            .output()
            .expect("psql must be installed to load the dump");
        assert!(
            output.status.success(),
            "psql failed to load the dump: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        database
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Drop runs outside any runtime: psql drops it (forcing off leftover connections).
        let _ = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-d",
                &server_url(),
                "-c",
                &format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name),
            ])
            .status();
    }
}

struct Fixture {
    /// Through the counting wrapper, so that a test can slip work in before a commit.
    auth: TokenAuth<CountingStore<PostgresStore>, PostgresUserDirectory>,
    pool: PgPool,
    clock: ManualClock,
    manifest: Manifest,
    // Last: the pool closes before the database is dropped.
    _database: Database,
}

async fn fixture() -> Fixture {
    let database = Database::load().await;
    let pool = connect(&database.url).await.unwrap();
    let manifest = manifest();
    let clock = common::clock(&manifest);
    let users = PostgresUserDirectory::new(pool.clone()).with_clock(clock.clone());
    let auth = common::configure(
        django_auth(CountingStore::new(PostgresStore::new(pool.clone())), users),
        &clock,
    );
    Fixture {
        auth,
        pool,
        clock,
        manifest,
        _database: database,
    }
}

impl Raw for Fixture {
    async fn password_of(&self, username: &str) -> String {
        sqlx::query_scalar(r#"SELECT "password" FROM "auth_user" WHERE "username" = $1"#)
            .bind(username)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn set_password(&self, username: &str, hash: &str) {
        sqlx::query(r#"UPDATE "auth_user" SET "password" = $1 WHERE "username" = $2"#)
            .bind(hash)
            .bind(username)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn token_of(&self, user_id: i64) -> Option<(String, OffsetDateTime)> {
        sqlx::query_as(r#"SELECT "key", "created" FROM "authtoken_token" WHERE "user_id" = $1::int4"#)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .unwrap()
    }

    async fn assert_django_row(&self, user_id: i64, at: OffsetDateTime) {
        // As pg_dump and Django's session (TimeZone UTC) spell it.
        let mut conn = self.pool.acquire().await.unwrap();
        sqlx::query("SET TIME ZONE 'UTC'")
            .execute(&mut *conn)
            .await
            .unwrap();
        let (kind, text): (String, String) = sqlx::query_as(
            r#"SELECT pg_typeof("created")::text, "created"::text FROM "authtoken_token" WHERE "user_id" = $1::int4"#,
        )
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        sqlx::query("RESET TIME ZONE").execute(&mut *conn).await.unwrap();
        assert_eq!(kind, "timestamp with time zone");
        let fraction = match at.microsecond() {
            0 => String::new(),
            us => format!(".{us:06}").trim_end_matches('0').to_owned(),
        };
        let expected = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{fraction}+00",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        assert_eq!(text, expected);
    }

    async fn new_user_row(
        &self,
        username: &str,
    ) -> (bool, bool, String, String, String, bool, OffsetDateTime) {
        let row: (bool, bool, String, String, String, bool, OffsetDateTime) = sqlx::query_as(
            r#"SELECT "is_staff", "is_superuser", "first_name", "last_name", "email",
                      "last_login" IS NULL, "date_joined" FROM "auth_user" WHERE "username" = $1"#,
        )
        .bind(username)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        assert_eq!(row.6, self.clock.now());
        row
    }
}

fixture_checks!(#[ignore = needs_postgres!()]; postgres);

#[tokio::test(flavor = "multi_thread")]
#[ignore = needs_postgres!()]
async fn every_manifest_user_logs_in_as_djangos_authenticate_did() {
    let f = fixture().await;
    common::every_user_logs_in_as_the_manifest_says(&f.auth, &f, &f.manifest).await;
}

/// Authentication reads a token and its user in one query ([`common::joined`]): the
/// directory takes that row on the same pool and user table only, not on a second
/// pool on the same database, nor on another user table (a copy of `auth_user` whose
/// passwords differ).
#[tokio::test(flavor = "multi_thread")]
#[ignore = needs_postgres!()]
async fn a_token_and_its_user_are_read_together() {
    let f = fixture().await;
    sqlx::raw_sql(
        r#"CREATE TABLE "copy_user" (LIKE "auth_user" INCLUDING ALL);
           INSERT INTO "copy_user" SELECT * FROM "auth_user";
           UPDATE "copy_user" SET "password" = 'another table';"#,
    )
    .execute(&f.pool)
    .await
    .unwrap();
    let other_table = DjangoTables::open(f.pool.clone(), &common::joined::copy_model())
        .await
        .unwrap()
        .users();
    let other_pool = PostgresUserDirectory::new(connect(&f._database.url).await.unwrap());

    common::joined::a_token_and_its_user_are_read_together(
        &PostgresStore::new(f.pool.clone()),
        &PostgresUserDirectory::new(f.pool.clone()),
        [&other_pool, &other_table],
        &f,
        &f.manifest.tokens.postgres,
        f.clock.now(),
    )
    .await;
}

/// A Django database without users: the fixture's, its users deleted (with their
/// tokens, groups and permissions; the id sequence stays, so ids still never return),
/// dropped with the returned guard.
async fn without_users() -> (PgPool, Database) {
    let database = Database::load().await;
    let pool = connect(&database.url).await.unwrap();
    sqlx::raw_sql(common::conformance::DELETE_EVERY_USER)
        .execute(&pool)
        .await
        .unwrap();
    (pool, database)
}

/// `auth_user` of a database without users, for the user-directory suite.
async fn directory() -> Guarded<PostgresUserDirectory, Database> {
    let (pool, database) = without_users().await;
    Guarded::new(PostgresUserDirectory::new(pool), database)
}

/// DRF's table of a database without users, for the token-store suite: its users in
/// `auth_user`, its tokens DRF's keys.
async fn store_subject() -> StoreSubject<Guarded<PostgresStore, Database>, PostgresUserDirectory> {
    let (pool, database) = without_users().await;
    let users = PostgresUserDirectory::new(pool.clone());
    common::conformance::store_subject(Guarded::new(PostgresStore::new(pool), database), users)
}

mod users {
    tokenauth_conformance::user_directory_conformance!(#[ignore = needs_postgres!()]; super::directory());
}

mod tokens {
    tokenauth_conformance::token_store_conformance!(
        #[ignore = needs_postgres!()];
        subject: super::store_subject()
    );
}

/// The custom user models' fixtures (`fixtures/custom-users`), each dump in a database
/// of its own.
mod custom_users {
    use sqlx::Postgres;
    use tokenauth_conformance::{Guarded, StoreSubject};
    use tokenauth_core::{ManualClock, TokenAuth};
    use tokenauth_django::postgres::{PostgresStore, PostgresUserDirectory, connect_model};
    use tokenauth_django::{DjangoTables, UserModel, django_auth};

    use super::Database;
    use super::common::custom::{self, CustomModel, custom_manifest};

    struct Custom {
        auth: TokenAuth<PostgresStore, PostgresUserDirectory>,
        // Last: the pool closes before the database is dropped.
        _database: Database,
    }

    async fn open(dump: &str, model: &UserModel) -> Custom {
        let database = Database::load_dump(&custom::fixture(dump)).await;
        let tables = connect_model(&database.url, model).await.unwrap();
        let clock: ManualClock = custom_manifest().clock();
        let users = tables.users().with_clock(clock.clone());
        let auth = django_auth(tables.store(), users).with_clock(clock);
        Custom {
            auth,
            _database: database,
        }
    }

    crate::custom_user_checks!(#[ignore = needs_postgres!()]; "postgres", postgres, other_spellings, custom::Folding { unicode: true, collation: false });

    /// The tables of `dump`'s model in a database of its own, emptied by `delete`.
    async fn emptied(dump: &str, model: &CustomModel, delete: &str) -> (DjangoTables<Postgres>, Database) {
        let database = Database::load_dump(&custom::fixture(dump)).await;
        let tables = connect_model(&database.url, &model.user_model()).await.unwrap();
        sqlx::raw_sql(delete).execute(tables.pool()).await.unwrap();
        (tables, database)
    }

    /// The big-integer model's users, for the user-directory suite.
    async fn accounts() -> Guarded<PostgresUserDirectory, Database> {
        let model = &custom_manifest().models.bigint;
        let delete = r#"DELETE FROM "authtoken_token"; DELETE FROM "accounts_user_groups";
            DELETE FROM "accounts_user_user_permissions"; DELETE FROM "accounts_user";"#;
        let (tables, database) = emptied("bigint-postgres.sql", model, delete).await;
        Guarded::new(tables.users(), database)
    }

    /// DRF's table of the UUID model, for the token-store suite.
    async fn member_tokens() -> StoreSubject<Guarded<PostgresStore, Database>, PostgresUserDirectory> {
        let model = &custom_manifest().models.uuid;
        let delete = r#"DELETE FROM "authtoken_token"; DELETE FROM "members_member_groups";
            DELETE FROM "members_member_user_permissions"; DELETE FROM "members_member";"#;
        let (tables, database) = emptied("uuid-postgres.sql", model, delete).await;
        let subject = Guarded::new(tables.store(), database);
        super::common::conformance::store_subject(subject, tables.users())
    }

    mod account_users {
        tokenauth_conformance::user_directory_conformance!(#[ignore = needs_postgres!()]; super::accounts());
    }

    mod member_tokens {
        tokenauth_conformance::token_store_conformance!(
            #[ignore = needs_postgres!()];
            subject: super::member_tokens()
        );
    }
}

/// django-rest-knox's table as knox made it on PostgreSQL (`fixtures/knox`), served
/// live: the checks of `common/knox.rs`, as `tests/knox.rs` runs them on SQLite.
mod knox {
    use sqlx::{PgPool, Postgres};
    use time::OffsetDateTime;
    use tokenauth_core::{Lifespan, ManualClock, TokenAuth};
    use tokenauth_django::knox::KnoxStore;
    use tokenauth_django::postgres::{PostgresUserDirectory, connect_knox_model};
    use tokenauth_django::{DjangoTables, Error, UserModel, knox_auth};

    use super::Database;
    use super::common::knox::{self, KnoxRaw, KnoxRow, LIFESPAN, LONG_LIFESPAN, knox_manifest};

    struct Served {
        tables: DjangoTables<Postgres>,
        clock: ManualClock,
        _database: Database,
    }

    async fn served() -> Served {
        let database = Database::load_dump(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/knox/knox-postgres.sql"
        ))
        .await;
        let tables = connect_knox_model(&database.url, &UserModel::default())
            .await
            .unwrap();
        Served {
            tables,
            clock: ManualClock::new(knox_manifest().generated_at()),
            _database: database,
        }
    }

    impl Served {
        fn auth(
            &self,
            prefix: &str,
            lifespan: &str,
        ) -> TokenAuth<KnoxStore<Postgres>, PostgresUserDirectory> {
            let lifespan: Lifespan = lifespan.parse().unwrap();
            let store = self.tables.knox_store(prefix, Some(lifespan.as_duration()));
            knox_auth(store, self.tables.users(), lifespan)
                .unwrap()
                .with_clock(self.clock.clone())
        }

        fn pool(&self) -> &PgPool {
            self.tables.pool()
        }
    }

    impl KnoxRaw for Served {
        async fn row(&self, digest: &str) -> Option<KnoxRow> {
            let row: Option<(String, i64, OffsetDateTime, Option<OffsetDateTime>)> = sqlx::query_as(
                r#"SELECT "token_key", CAST("user_id" AS bigint), "created", "expiry"
                     FROM "knox_authtoken" WHERE "digest" = $1"#,
            )
            .bind(digest)
            .fetch_optional(self.pool())
            .await
            .unwrap();
            row.map(|(token_key, user_id, created, expiry)| KnoxRow {
                token_key,
                user_id,
                created,
                expiry,
            })
        }

        async fn count(&self, user_id: i64) -> i64 {
            sqlx::query_scalar(r#"SELECT COUNT(*) FROM "knox_authtoken" WHERE "user_id" = $1"#)
                .bind(i32::try_from(user_id).unwrap())
                .fetch_one(self.pool())
                .await
                .unwrap()
        }
    }

    crate::knox_checks!(#[ignore = needs_postgres!()]; postgres);
}
