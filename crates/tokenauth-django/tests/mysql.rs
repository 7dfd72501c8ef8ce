//! The fixtures on MariaDB: the dumps Django made there (`tests/fixtures/django-mariadb.sql`,
//! `custom-users/*-mariadb.sql`) loaded into a database of each test's own, then the
//! same checks as on SQLite and PostgreSQL.
//!
//! Ignored by default; run with
//!
//! ```text
//! TOKENAUTH_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//!     cargo test -p tokenauth-django --features mysql --test mysql -- --ignored
//! ```
//!
//! Each test creates `tokenauth_django_<random>` on that server, loads the dump into it
//! (its statements sent as they are, as the `mariadb` client would), and drops it when
//! done.
#![cfg(feature = "mysql")]

mod common;

use std::hash::{BuildHasher, RandomState};
use std::str::FromStr;

use common::{Manifest, Raw, manifest};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection, MySqlConnection, MySqlPool};
use time::{OffsetDateTime, PrimitiveDateTime};
use tokenauth_conformance::{CountingStore, Guarded, StoreSubject};
use tokenauth_core::{Clock as _, ManualClock, TokenAuth, TokenRequest};
use tokenauth_django::mysql::{MySqlStore, MySqlUserDirectory, connect};
use tokenauth_django::{DjangoTables, django_auth};

macro_rules! needs_mysql {
    () => {
        "needs MySQL or MariaDB: set TOKENAUTH_TEST_MYSQL_URL and run with --ignored"
    };
}

fn server() -> MySqlConnectOptions {
    let url = std::env::var("TOKENAUTH_TEST_MYSQL_URL").unwrap_or_else(|_| {
        panic!(
            "TOKENAUTH_TEST_MYSQL_URL is not set: point it at a MySQL or MariaDB server \
             (such as mysql://root@127.0.0.1:3306/test) to run these tests"
        )
    });
    MySqlConnectOptions::from_str(&url).expect("TOKENAUTH_TEST_MYSQL_URL is a MySQL URL")
}

/// A database of the test's own holding a fixture dump, dropped on drop.
struct Database {
    name: String,
    url: String,
}

impl Database {
    async fn load() -> Self {
        Self::load_dump(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/django-mariadb.sql"
        ))
        .await
    }

    /// A database of its own holding the dump at `dump`.
    async fn load_dump(dump: &str) -> Self {
        let server = server();
        let name = format!(
            "tokenauth_django_{:016x}",
            RandomState::new().hash_one(std::process::id())
        );
        let mut admin = MySqlConnection::connect_with(&server)
            .await
            .unwrap_or_else(|e| panic!("cannot reach MySQL at TOKENAUTH_TEST_MYSQL_URL: {e}"));
        sqlx::raw_sql(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
            .execute(&mut admin)
            .await
            .unwrap();
        let options = server.database(&name);
        let url = options.to_url_lossy().to_string();
        let database = Self { name, url };
        let text = std::fs::read_to_string(dump).unwrap();
        let mut conn = MySqlConnection::connect_with(&options).await.unwrap();
        sqlx::raw_sql(&text).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        database
    }
}

impl Drop for Database {
    /// Best effort: a database left behind by a crash has the `tokenauth_django_` prefix.
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {}", self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on: a runtime of
        // its own, on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = MySqlConnection::connect_with(&server()).await.ok()?;
                sqlx::raw_sql(&drop).execute(&mut conn).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

struct Fixture {
    /// Through the counting wrapper, so that a test can slip work in before a commit.
    auth: TokenAuth<CountingStore<MySqlStore>, MySqlUserDirectory>,
    pool: MySqlPool,
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
    let users = MySqlUserDirectory::new(pool.clone()).with_clock(clock.clone());
    let auth = common::configure(
        django_auth(CountingStore::new(MySqlStore::new(pool.clone())), users),
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
        sqlx::query_scalar("SELECT `password` FROM `auth_user` WHERE `username` = ?")
            .bind(username)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn set_password(&self, username: &str, hash: &str) {
        sqlx::query("UPDATE `auth_user` SET `password` = ? WHERE `username` = ?")
            .bind(hash)
            .bind(username)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn token_of(&self, user_id: i64) -> Option<(String, OffsetDateTime)> {
        let row: Option<(String, PrimitiveDateTime)> =
            sqlx::query_as("SELECT `key`, `created` FROM `authtoken_token` WHERE `user_id` = ?")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await
                .unwrap();
        row.map(|(key, created)| (key, created.assume_utc()))
    }

    async fn assert_django_row(&self, user_id: i64, at: OffsetDateTime) {
        // As Django (USE_TZ) writes `datetime(6)`: naive UTC, six digits always.
        let (kind, text): (String, String) = sqlx::query_as(
            "SELECT (SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
                        AND TABLE_NAME = 'authtoken_token' AND COLUMN_NAME = 'created'),
                    CAST(`created` AS CHAR) FROM `authtoken_token` WHERE `user_id` = ?",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        assert_eq!(kind, "datetime(6)");
        let expected = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.microsecond()
        );
        assert_eq!(text, expected);
    }

    async fn new_user_row(
        &self,
        username: &str,
    ) -> (bool, bool, String, String, String, bool, OffsetDateTime) {
        let row: (bool, bool, String, String, String, bool, PrimitiveDateTime) = sqlx::query_as(
            "SELECT `is_staff`, `is_superuser`, `first_name`, `last_name`, `email`,
                    `last_login` IS NULL, `date_joined` FROM `auth_user` WHERE `username` = ?",
        )
        .bind(username)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        let date_joined = row.6.assume_utc();
        assert_eq!(date_joined, self.clock.now());
        (row.0, row.1, row.2, row.3, row.4, row.5, date_joined)
    }
}

fixture_checks!(#[ignore = needs_mysql!()]; mysql);

#[tokio::test(flavor = "multi_thread")]
#[ignore = needs_mysql!()]
async fn every_manifest_user_logs_in_as_djangos_authenticate_did() {
    let f = fixture().await;
    common::every_manifest_user_logs_in(&f.auth, &f, &f.manifest).await;
}

/// Authentication reads a token and its user in one query ([`common::joined`]): the
/// directory takes that row on the same pool and user table only, not on a second
/// pool on the same database, nor on another user table (a copy of `auth_user` whose
/// passwords differ).
#[tokio::test(flavor = "multi_thread")]
#[ignore = needs_mysql!()]
async fn a_token_and_its_user_are_read_together() {
    let f = fixture().await;
    for statement in [
        "CREATE TABLE `copy_user` LIKE `auth_user`",
        "INSERT INTO `copy_user` SELECT * FROM `auth_user`",
        "UPDATE `copy_user` SET `password` = 'another table'",
    ] {
        sqlx::query(statement).execute(&f.pool).await.unwrap();
    }
    let other_table = DjangoTables::open(f.pool.clone(), &common::joined::copy_model())
        .await
        .unwrap()
        .users();
    let other_pool = MySqlUserDirectory::new(connect(&f._database.url).await.unwrap());

    common::joined::a_token_and_its_user_are_read_together(
        &MySqlStore::new(f.pool.clone()),
        &MySqlUserDirectory::new(f.pool.clone()),
        [&other_pool, &other_table],
        &f,
        &f.manifest.tokens.mysql,
        f.clock.now(),
    )
    .await;
}

/// `auth_user.username` has MariaDB's default collation (`utf8mb4_general_ci`), in
/// which Django's `get_by_natural_key` finds `alice` by `ALICE` and `alice `; so does
/// tokenauth, with the same `=`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = needs_mysql!()]
async fn logins_match_as_the_columns_collation_does_at_django() {
    let f = fixture().await;
    let alice = f.manifest.user("alice");
    for spelling in ["ALICE", "alice "] {
        let issued = f
            .auth
            .obtain(
                spelling,
                alice.password.as_deref().unwrap(),
                TokenRequest::default(),
            )
            .await
            .unwrap();
        let verified = f
            .auth
            .authenticate(issued.token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(verified.user.id.as_str(), "1", "{spelling:?}");
        assert_eq!(verified.user.username, "alice");
    }
}

/// The suites' contract matches usernames exactly (case, trailing spaces); on MySQL
/// that is the login column's collation, which Django leaves at the database's
/// default. Their databases give it MariaDB's exact one, `utf8mb4_nopad_bin`, as a
/// project that wants exact logins does.
fn exact_logins(table: &str, column: &str, width: u32) -> String {
    format!("ALTER TABLE `{table}` MODIFY `{column}` varchar({width}) COLLATE utf8mb4_nopad_bin NOT NULL")
}

/// A Django database without users: the fixture's, its users deleted (with their
/// tokens, groups and permissions; AUTO_INCREMENT stays, so ids still never return),
/// dropped with the returned guard.
async fn without_users() -> (MySqlPool, Database) {
    let database = Database::load().await;
    let pool = connect(&database.url).await.unwrap();
    let delete = common::conformance::DELETE_EVERY_USER.replace('"', "`");
    sqlx::raw_sql(&delete).execute(&pool).await.unwrap();
    sqlx::raw_sql(&exact_logins("auth_user", "username", 150))
        .execute(&pool)
        .await
        .unwrap();
    (pool, database)
}

/// `auth_user` of a database without users, for the user-directory suite.
async fn directory() -> Guarded<MySqlUserDirectory, Database> {
    let (pool, database) = without_users().await;
    Guarded::new(MySqlUserDirectory::new(pool), database)
}

/// DRF's table of a database without users, for the token-store suite: its users in
/// `auth_user`, its tokens DRF's keys.
async fn store_subject() -> StoreSubject<Guarded<MySqlStore, Database>, MySqlUserDirectory> {
    let (pool, database) = without_users().await;
    let users = MySqlUserDirectory::new(pool.clone());
    common::conformance::store_subject(Guarded::new(MySqlStore::new(pool), database), users)
}

mod users {
    tokenauth_conformance::user_directory_conformance!(#[ignore = needs_mysql!()]; super::directory());
}

mod tokens {
    tokenauth_conformance::token_store_conformance!(
        #[ignore = needs_mysql!()];
        subject: super::store_subject()
    );
}

/// The custom user models' fixtures (`fixtures/custom-users`), each dump in a database
/// of its own.
mod custom_users {
    use sqlx::MySql;
    use tokenauth_conformance::{Guarded, StoreSubject};
    use tokenauth_core::{ManualClock, TokenAuth};
    use tokenauth_django::mysql::{MySqlStore, MySqlUserDirectory, connect_model};
    use tokenauth_django::{DjangoTables, UserModel, django_auth};

    use super::common::custom::{self, CustomModel, custom_manifest};
    use super::{Database, exact_logins};

    struct Custom {
        auth: TokenAuth<MySqlStore, MySqlUserDirectory>,
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

    crate::custom_user_checks!(#[ignore = needs_mysql!()]; "mariadb", mysql, other_spellings_mysql, custom::Folding { unicode: true, collation: true });

    /// The tables of `dump`'s model in a database of its own, emptied by `delete`,
    /// its login column given exact matching (see [`exact_logins`]).
    async fn emptied(
        dump: &str,
        model: &CustomModel,
        delete: &str,
        exact: &str,
    ) -> (DjangoTables<MySql>, Database) {
        let database = Database::load_dump(&custom::fixture(dump)).await;
        let tables = connect_model(&database.url, &model.user_model()).await.unwrap();
        sqlx::raw_sql(delete).execute(tables.pool()).await.unwrap();
        sqlx::raw_sql(exact).execute(tables.pool()).await.unwrap();
        (tables, database)
    }

    /// The big-integer model's users, for the user-directory suite.
    async fn accounts() -> Guarded<MySqlUserDirectory, Database> {
        let model = &custom_manifest().models.bigint;
        let delete = "DELETE FROM `authtoken_token`; DELETE FROM `accounts_user_groups`;
            DELETE FROM `accounts_user_user_permissions`; DELETE FROM `accounts_user`;";
        let exact = exact_logins("accounts_user", "username", 150);
        let (tables, database) = emptied("bigint-mariadb.sql", model, delete, &exact).await;
        Guarded::new(tables.users(), database)
    }

    /// DRF's table of the UUID model, for the token-store suite.
    async fn member_tokens() -> StoreSubject<Guarded<MySqlStore, Database>, MySqlUserDirectory> {
        let model = &custom_manifest().models.uuid;
        let delete = "DELETE FROM `authtoken_token`; DELETE FROM `members_member_groups`;
            DELETE FROM `members_member_user_permissions`; DELETE FROM `members_member`;";
        let exact = exact_logins("members_member", "email", 254);
        let (tables, database) = emptied("uuid-mariadb.sql", model, delete, &exact).await;
        let subject = Guarded::new(tables.store(), database);
        super::common::conformance::store_subject(subject, tables.users())
    }

    mod account_users {
        tokenauth_conformance::user_directory_conformance!(#[ignore = needs_mysql!()]; super::accounts());
    }

    mod member_tokens {
        tokenauth_conformance::token_store_conformance!(
            #[ignore = needs_mysql!()];
            subject: super::member_tokens()
        );
    }
}

/// Serving live on knox's `knox_authtoken`, on the dump knox 5.0.2 made on MariaDB.
mod knox {
    use sqlx::{MySql, MySqlPool};
    use time::PrimitiveDateTime;
    use tokenauth_core::{Lifespan, ManualClock, TokenAuth};
    use tokenauth_django::knox::KnoxStore;
    use tokenauth_django::mysql::{MySqlUserDirectory, connect_knox_model};
    use tokenauth_django::{DjangoTables, Error, UserModel, knox_auth};

    use super::Database;
    use super::common::knox::{self, KnoxRaw, KnoxRow, LIFESPAN, LONG_LIFESPAN, knox_manifest};

    struct Served {
        tables: DjangoTables<MySql>,
        clock: ManualClock,
        _database: Database,
    }

    async fn served() -> Served {
        let database = Database::load_dump(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/knox/knox-mariadb.sql"
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
        fn auth(&self, prefix: &str, lifespan: &str) -> TokenAuth<KnoxStore<MySql>, MySqlUserDirectory> {
            let lifespan: Lifespan = lifespan.parse().unwrap();
            let store = self.tables.knox_store(prefix, Some(lifespan.as_duration()));
            knox_auth(store, self.tables.users(), lifespan)
                .unwrap()
                .with_clock(self.clock.clone())
        }

        fn pool(&self) -> &MySqlPool {
            self.tables.pool()
        }
    }

    impl KnoxRaw for Served {
        async fn row(&self, digest: &str) -> Option<KnoxRow> {
            // Django's `datetime(6)` on MySQL: naive UTC.
            let row: Option<(String, i64, PrimitiveDateTime, Option<PrimitiveDateTime>)> = sqlx::query_as(
                "SELECT CAST(`token_key` AS CHAR), CAST(`user_id` AS SIGNED), `created`, `expiry`
                   FROM `knox_authtoken` WHERE `digest` = ?",
            )
            .bind(digest)
            .fetch_optional(self.pool())
            .await
            .unwrap();
            row.map(|(token_key, user_id, created, expiry)| KnoxRow {
                token_key,
                user_id,
                created: created.assume_utc(),
                expiry: expiry.map(PrimitiveDateTime::assume_utc),
            })
        }

        async fn count(&self, user_id: i64) -> i64 {
            sqlx::query_scalar("SELECT COUNT(*) FROM `knox_authtoken` WHERE `user_id` = ?")
                .bind(user_id)
                .fetch_one(self.pool())
                .await
                .unwrap()
        }
    }

    crate::knox_checks!(#[ignore = needs_mysql!()]; mysql);
}
