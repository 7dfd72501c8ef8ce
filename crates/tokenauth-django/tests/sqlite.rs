//! The fixtures Django 5.2.19 + DRF 3.18.3 made (`tests/fixtures`, see its README), on
//! SQLite: every manifest user and token at the manifest's clock, through the store
//! and directory on Django's own tables. Each test works on a copy of the database in
//! a temporary directory.
#![cfg(feature = "sqlite")]

mod common;

use common::{Manifest, Raw, manifest};
use sqlx::SqlitePool;
use tempfile::TempDir;
use time::OffsetDateTime;
use tokenauth_conformance::{CountingStore, Guarded, StoreSubject};
use tokenauth_core::store::{TokenStore as _, UserAdmin as _};
use tokenauth_core::{ManualClock, TokenAuth};
use tokenauth_django::sqlite::{SqliteStore, SqliteUserDirectory, connect};
use tokenauth_django::{DjangoTables, django_auth};

/// The database Django made (see `fixtures/README.md`).
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/django.sqlite3");

/// Through the counting wrapper, so that a test can slip work in before a commit.
type Auth = TokenAuth<CountingStore<SqliteStore>, SqliteUserDirectory>;

/// A copy of the fixture database, the service on it at the manifest's clock, and
/// raw access.
struct Fixture {
    _dir: TempDir,
    pool: SqlitePool,
    auth: Auth,
    clock: ManualClock,
    manifest: Manifest,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("django.sqlite3");
    std::fs::copy(FIXTURE, &path).unwrap();
    let pool = connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let manifest = manifest();
    let clock = common::clock(&manifest);
    let users = SqliteUserDirectory::new(pool.clone()).with_clock(clock.clone());
    let auth = common::configure(
        django_auth(CountingStore::new(SqliteStore::new(pool.clone())), users),
        &clock,
    );
    Fixture {
        _dir: dir,
        pool,
        auth,
        clock,
        manifest,
    }
}

impl Raw for Fixture {
    async fn password_of(&self, username: &str) -> String {
        sqlx::query_scalar(r#"SELECT "password" FROM "auth_user" WHERE "username" = ?"#)
            .bind(username)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn set_password(&self, username: &str, hash: &str) {
        sqlx::query(r#"UPDATE "auth_user" SET "password" = ? WHERE "username" = ?"#)
            .bind(hash)
            .bind(username)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn token_of(&self, user_id: i64) -> Option<(String, OffsetDateTime)> {
        let row: Option<(String, String)> =
            sqlx::query_as(r#"SELECT "key", "created" FROM "authtoken_token" WHERE "user_id" = ?"#)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await
                .unwrap();
        row.map(|(key, created)| (key, parse_django(&created)))
    }

    async fn assert_django_row(&self, user_id: i64, at: OffsetDateTime) {
        let (kind, created): (String, String) = sqlx::query_as(
            r#"SELECT typeof("created"), "created" FROM "authtoken_token" WHERE "user_id" = ?"#,
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        assert_eq!(kind, "text");
        assert_eq!(created, python_str(at));
    }

    async fn new_user_row(
        &self,
        username: &str,
    ) -> (bool, bool, String, String, String, bool, OffsetDateTime) {
        let row: (bool, bool, String, String, String, bool, String) = sqlx::query_as(
            r#"SELECT "is_staff", "is_superuser", "first_name", "last_name", "email",
                      "last_login" IS NULL, "date_joined" FROM "auth_user" WHERE "username" = ?"#,
        )
        .bind(username)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        assert_eq!(row.6, python_str(self.clock.now()));
        (row.0, row.1, row.2, row.3, row.4, row.5, parse_django(&row.6))
    }
}

use tokenauth_core::Clock as _;

/// Python's `str(datetime)` of a UTC time: the reference, written independently of
/// the crate's own formatter.
fn python_str(at: OffsetDateTime) -> String {
    let base = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    match at.microsecond() {
        0 => base,
        us => format!("{base}.{us:06}"),
    }
}

use common::parse_django;

#[tokio::test(flavor = "multi_thread")]
async fn every_manifest_token_authenticates_as_the_seed_did() {
    let f = fixture().await;
    common::every_token_as_the_manifest_says(&f.auth, &f.manifest.tokens.sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_exactly_a_lifespan_old_is_valid_and_a_microsecond_more_is_not() {
    let f = fixture().await;
    common::the_expiry_boundary_is_strict(&f.auth, &f.clock, &f.manifest, &f.manifest.tokens.sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_manifest_user_logs_in_as_djangos_authenticate_did() {
    let f = fixture().await;
    common::every_user_logs_in_as_the_manifest_says(&f.auth, &f, &f.manifest).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_unusable_inactive_and_wrong_cost_one_verification_each() {
    let f = fixture().await;
    common::every_refusal_costs_one_verification(&f.auth).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn obtain_returns_the_valid_key_replaces_an_expired_one_and_creates_one() {
    let f = fixture().await;
    common::obtain_is_drfs(&f.auth, &f, &f.manifest, &f.manifest.tokens.sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_logins_after_expiry_all_get_one_new_key() {
    let f = fixture().await;
    common::concurrent_logins_share_one_new_key(&f.auth, &f, &f.manifest.tokens.sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_set_here_ends_the_token_and_one_set_by_django_does_not() {
    let f = fixture().await;
    common::password_changes(&f.auth, &f, &f.manifest.tokens.sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_set_during_a_login_mints_no_key() {
    let f = fixture().await;
    common::password_race::a_password_set_during_a_login_mints_no_key(&f.auth, &f).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_issued_under_a_password_django_replaced_is_not_committed() {
    let f = fixture().await;
    common::password_race::a_commit_under_a_replaced_password_is_a_conflict(&f.auth, &f).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn users_and_tokens_managed_here_are_rows_django_reads() {
    let f = fixture().await;
    common::users_managed_here_are_djangos(&f.auth, &f, &f.manifest, &f.manifest.tokens.sqlite).await;
}

/// Authentication reads a token and its user in one query ([`common::joined`]): the
/// directory takes that row on the same pool and user table only, not on a second
/// pool on the same file, nor on another user table (a copy of `auth_user` whose
/// passwords differ).
#[tokio::test(flavor = "multi_thread")]
async fn a_token_and_its_user_are_read_together() {
    let f = fixture().await;
    let (ddl,): (String,) = sqlx::query_as("SELECT sql FROM sqlite_master WHERE name = 'auth_user'")
        .fetch_one(&f.pool)
        .await
        .unwrap();
    let copy = ddl.replacen(r#""auth_user""#, r#""copy_user""#, 1);
    sqlx::raw_sql(&format!(
        r#"{copy}; INSERT INTO "copy_user" SELECT * FROM "auth_user";
           UPDATE "copy_user" SET "password" = 'another table';"#
    ))
    .execute(&f.pool)
    .await
    .unwrap();
    let other_table = DjangoTables::open(f.pool.clone(), &common::joined::copy_model())
        .await
        .unwrap()
        .users();
    let url = format!("sqlite://{}", f._dir.path().join("django.sqlite3").display());
    let other_pool = SqliteUserDirectory::new(connect(&url).await.unwrap());

    common::joined::a_token_and_its_user_are_read_together(
        &SqliteStore::new(f.pool.clone()),
        &SqliteUserDirectory::new(f.pool.clone()),
        [&other_pool, &other_table],
        &f,
        &f.manifest.tokens.sqlite,
        f.clock.now(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_without_drfs_table_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-django.sqlite3");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = SqlitePool::connect(&url).await.unwrap();
    sqlx::query(r#"CREATE TABLE "auth_user" ("id" integer PRIMARY KEY, "username" text)"#)
        .execute(&pool)
        .await
        .unwrap();
    let error = connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "not a Django database with DRF's authtoken app: column auth_user.password is missing; \
         column auth_user.is_active is missing; table authtoken_token is missing (run Django's \
         `migrate` with `rest_framework.authtoken` installed; for a custom user model, name its \
         table and fields)"
    );
    let missing = connect(&format!("sqlite://{}", dir.path().join("absent").display()))
        .await
        .unwrap_err();
    assert!(
        !dir.path().join("absent").exists(),
        "{missing}: nothing is created"
    );
}

/// A Django database without users: a copy of the fixture, its users deleted (with
/// their tokens, groups and permissions; `sqlite_sequence` stays, so ids still never
/// return), in a temporary directory that lives as long as the returned guard.
async fn without_users() -> (SqlitePool, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("django.sqlite3");
    std::fs::copy(FIXTURE, &path).unwrap();
    let pool = connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::raw_sql(common::conformance::DELETE_EVERY_USER)
        .execute(&pool)
        .await
        .unwrap();
    (pool, dir)
}

/// `auth_user` of a database without users, for the user-directory suite.
async fn directory() -> Guarded<SqliteUserDirectory, TempDir> {
    let (pool, dir) = without_users().await;
    Guarded::new(SqliteUserDirectory::new(pool), dir)
}

/// DRF's table of a database without users, for the token-store suite: its users in
/// `auth_user`, its tokens DRF's keys.
async fn store_subject() -> StoreSubject<Guarded<SqliteStore, TempDir>, SqliteUserDirectory> {
    let (pool, dir) = without_users().await;
    let users = SqliteUserDirectory::new(pool.clone());
    common::conformance::store_subject(Guarded::new(SqliteStore::new(pool), dir), users)
}

mod users {
    tokenauth_conformance::user_directory_conformance!(super::directory());
}

mod tokens {
    tokenauth_conformance::token_store_conformance!(subject: super::store_subject());
}

/// The store declares what DRF's table holds (one key per user and its `created`,
/// nothing else), and a wrapper in front of it (the suites' counting store, the cache)
/// declares the same, so that what is refused for the store is refused through them.
#[tokio::test]
async fn the_store_declares_what_drfs_table_holds_through_its_wrappers() {
    let Fixture {
        auth,
        _dir: _database,
        ..
    } = fixture().await;
    let declared = auth.store().capabilities();
    let held = [
        declared.several_tokens_per_user,
        declared.names,
        declared.scopes,
        declared.own_lifespans,
        declared.usage,
        declared.credential_versions,
        declared.given_ids,
    ];
    assert_eq!(held, [false; 7], "{declared:?}");
    // (The service alone: a cache must not be put on while clones are alive.)
    let cached = auth.with_cache(tokenauth_core::AuthCache::default());
    assert_eq!(cached.store().capabilities(), declared);
}

/// The directory declares no credential versions of its own (`auth_user` has no column
/// for one), and so does the cache in front of it.
#[tokio::test]
async fn the_directory_declares_versions_of_the_hash_through_its_wrappers() {
    let Fixture {
        auth,
        _dir: _database,
        ..
    } = fixture().await;
    let declared = auth.users().directory_capabilities();
    assert!(!declared.credential_versions, "{declared:?}");
    // (The service alone: a cache must not be put on while clones are alive.)
    let cached = auth.with_cache(tokenauth_core::AuthCache::default());
    assert_eq!(cached.users().directory_capabilities(), declared);
}

/// The custom user models' fixtures (`fixtures/custom-users`).
#[path = "sqlite/custom_users.rs"]
mod custom_users;
