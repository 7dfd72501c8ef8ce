//! The migrations: released ones never change, and each upgrade keeps every row and
//! what it meant.

#![cfg(feature = "sqlite")]

use std::path::Path;
use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use tempfile::TempDir;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokenauth_conformance::{fast_hasher, record};
use tokenauth_core::store::{TokenRecord, TokenStore, Usage, UserAdmin, UserDirectory};
use tokenauth_core::{
    AuthError, ManualClock, PlainToken, Scopes, TokenAuth, TokenFormat, TokenId, User, UserId,
};
use tokenauth_sqlx::sqlite::{SqlitePool, SqliteStore, SqliteUserDirectory, connect, migrations};

#[macro_use]
#[path = "support/migration_cases.rs"]
mod migration_cases;

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456 UTC);

/// Every tokenauth migration, oldest first.
const ALL: [i64; 5] = [
    20260301000000,
    20260302000000,
    20260401000000,
    20260501000000,
    20261207000000,
];

fn url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("tokenauth.db").display())
}

/// `time` as stored: Unix microseconds.
fn micros(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1000).expect("in range")
}

/// A database in `dir` with only the first `count` migrations applied, as a release
/// that shipped just those left it.
async fn database_of_the_first(count: usize, dir: &TempDir) -> SqlitePool {
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).expect("directory");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let mut names: Vec<_> = std::fs::read_dir(&source)
        .expect("migrations")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    names.sort();
    for name in &names[..count] {
        std::fs::copy(source.join(name), old.join(name)).expect("copy");
    }
    let options = SqliteConnectOptions::from_str(&url(dir))
        .expect("url")
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await.expect("open");
    Migrator::new(old.as_path())
        .await
        .expect("migrator")
        .run(&pool)
        .await
        .expect("old migrations");
    pool
}

/// The versions tokenauth recorded as applied.
async fn applied(pool: &SqlitePool) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM tokenauth_migrations ORDER BY version")
        .fetch_all(pool)
        .await
        .expect("applied migrations")
}

/// A fresh SQLite file in a temporary directory of its own, removed with it.
struct TempDb(TempDir);

impl TempDb {
    async fn create() -> Self {
        Self(tempfile::tempdir().expect("temporary directory"))
    }

    /// A pool on the file (created by the first), not migrated.
    async fn pool(&self) -> SqlitePool {
        let options = SqliteConnectOptions::from_str(&url(&self.0))
            .expect("url")
            .create_if_missing(true);
        SqlitePool::connect_with(options).await.expect("open")
    }
}

migration_cases!(; TempDb, sqlite, SqlitePool, as_written);

/// The checksum of migration `version`, as hex.
fn checksum(version: i64) -> String {
    let migration = migrations()
        .iter()
        .find(|m| m.version == version)
        .expect("migration");
    migration.checksum.iter().map(|b| format!("{b:02x}")).collect()
}

/// The released migrations as released: editing one would break every database it was
/// applied to (`migrate` refuses a changed checksum). Schema changes go in new
/// migrations.
#[test]
fn released_migrations_are_unchanged() {
    assert_eq!(
        checksum(20260301000000),
        "d569320d01771c24b0efc671da5ceb8337ce3146ad367b36d005149c094522853b27344a98ed1f4dca5c82a42e4f3a8e"
    );
    assert_eq!(
        checksum(20260302000000),
        "60f80fe183035e497bf512bc09d1716ea5721cba61182030b361e5b12d2ce4504fa5a6cd466e5b145832b636d80bde53"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_creates_a_missing_file_and_migrates_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenauth.db");
    assert!(!path.exists());

    let first = connect(&url(&dir)).await.unwrap();
    assert!(path.exists());
    let alice = SqliteUserDirectory::new(first.clone())
        .create_user("alice", "hash", true)
        .await
        .unwrap()
        .unwrap();
    first.close().await;

    let second = connect(&url(&dir)).await.unwrap();
    tokenauth_sqlx::sqlite::migrate(&second).await.unwrap();
    assert_eq!(applied(&second).await, ALL);
    let users = SqliteUserDirectory::new(second);
    assert_eq!(users.find_by_username("alice").await.unwrap(), Some(alice));
}

/// `open_migrated` changes nothing: a missing file stays missing, a database behind
/// (here one an earlier tokenauth migrated, recorded in `_sqlx_migrations`) keeps its
/// record; both are `NotMigrated`, counting what `migrate` would apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_migrated_refuses_a_database_behind_and_changes_nothing() {
    let timeout = tokenauth_sqlx::DEFAULT_TIMEOUT;
    let dir = tempfile::tempdir().unwrap();
    let newest = ALL[ALL.len() - 1];
    let all = ALL.len();
    let refusal = tokenauth_sqlx::sqlite::open_migrated(&url(&dir), timeout)
        .await
        .unwrap_err();
    assert!(
        matches!(refusal, tokenauth_sqlx::Error::NotMigrated { pending, newest: n } if pending == all && n == newest),
        "{refusal:?}"
    );
    assert_eq!(
        refusal.to_string(),
        format!("the database lacks {all} of tokenauth's migrations (up to {newest})")
    );
    assert!(!dir.path().join("tokenauth.db").exists());

    let old = database_of_the_first(3, &dir).await;
    let refusal = tokenauth_sqlx::sqlite::open_migrated(&url(&dir), timeout)
        .await
        .unwrap_err();
    assert!(
        matches!(refusal, tokenauth_sqlx::Error::NotMigrated { pending, .. } if pending == all),
        "{refusal:?}"
    );
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE name = 'tokenauth_migrations'")
            .fetch_optional(&old)
            .await
            .unwrap();
    assert_eq!(recorded, None);

    connect(&url(&dir)).await.unwrap();
    let pool = tokenauth_sqlx::sqlite::open_migrated(&url(&dir), timeout)
        .await
        .unwrap();
    assert_eq!(applied(&pool).await, ALL);
}

/// A database created by the first release, with rows written the way that release
/// wrote them (and its migration recorded in `_sqlx_migrations`, as it did), is brought
/// up to date by `connect`: the record moves to `tokenauth_migrations`, every row
/// survives, and reads back with no scopes, no last use and credential version 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_upgrade_a_database_of_the_first_schema() {
    let dir = tempfile::tempdir().unwrap();
    let old = database_of_the_first(1, &dir).await;
    sqlx::query(
        "INSERT INTO tokenauth_users (username, password_hash, is_active, created) \
         VALUES ('alice', 'hash', 1, ?)",
    )
    .bind(micros(NOW))
    .execute(&old)
    .await
    .unwrap();
    let mut rec = record("1", 0);
    rec.expires = Some(rec.created + Duration::days(7));
    rec.scopes = Scopes::none();
    sqlx::query("INSERT INTO tokenauth_tokens (id, digest, user_id, name, created, expires) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(rec.id.as_str())
        .bind(rec.digest.as_bytes().as_slice())
        .bind(rec.user_id.as_str())
        .bind(rec.name.as_deref())
        .bind(micros(rec.created))
        .bind(rec.expires.map(micros))
        .execute(&old)
        .await
        .unwrap();
    old.close().await;

    let pool = connect(&url(&dir)).await.unwrap();
    assert_eq!(applied(&pool).await, ALL);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let raw: (String, Option<i64>, Option<String>, i64) =
        sqlx::query_as("SELECT scopes, last_used, last_ip, credential_version FROM tokenauth_tokens")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(raw, (String::new(), None, None, 0));

    let store = SqliteStore::new(pool.clone());
    assert_eq!(
        store.find_by_digest(&rec.digest).await.unwrap(),
        Some(rec.clone())
    );
    let users = SqliteUserDirectory::new(pool);
    let alice = User {
        id: UserId::from(1),
        username: "alice".to_owned(),
        is_active: true,
        credential_version: 0,
    };
    let login = users.find_login("alice").await.unwrap().unwrap();
    assert_eq!((login.user, login.password_hash.as_str()), (alice, "hash"));

    // The new columns work on the old rows.
    let used = NOW + Duration::hours(1);
    let ip = "192.0.2.7".parse().unwrap();
    store
        .record_usage(&[Usage {
            id: rec.id.clone(),
            digest: rec.digest,
            at: used,
            ip: Some(ip),
        }])
        .await
        .unwrap();
    let expected = TokenRecord {
        last_used: Some(used),
        last_ip: Some(ip),
        ..rec.clone()
    };
    assert_eq!(store.find_by_id(&rec.id).await.unwrap(), Some(expected));
    let changed = users
        .set_password_hash(&UserId::from(1), "new")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.credential_version, 1);
    let set = store.token_set(&rec.user_id).await.unwrap();
    assert_eq!(set.version, 0);
}

/// A token as the second release stored it: created at `created`, for `user_id`.
async fn old_token(pool: &SqlitePool, user_id: &str, created: OffsetDateTime) -> PlainToken {
    let token = TokenFormat::default().generate();
    sqlx::query(
        "INSERT INTO tokenauth_tokens (id, digest, user_id, name, created, scopes) \
         VALUES (?, ?, ?, 'laptop', ?, 'read')",
    )
    .bind(TokenId::generate().as_str())
    .bind(token.digest().as_bytes().as_slice())
    .bind(user_id)
    .bind(micros(created))
    .execute(pool)
    .await
    .unwrap();
    token
}

/// Credential versions replace password change times, and every token refused before
/// the upgrade is still refused after it (and only those): a token created before its
/// user's password change is `Invalid token`; one created at or after it, and the
/// tokens of a user who never changed password, still authenticate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_versions_keep_refusing_tokens_older_than_a_password_change() {
    let dir = tempfile::tempdir().unwrap();
    let old = database_of_the_first(2, &dir).await;
    let changed = NOW + Duration::hours(1);
    let hash = fast_hasher().hash("pw").await.unwrap();
    for (username, password_changed) in [("alice", Some(changed)), ("bob", None)] {
        sqlx::query(
            "INSERT INTO tokenauth_users (username, password_hash, is_active, created, password_changed) \
             VALUES (?, ?, 1, ?, ?)",
        )
        .bind(username)
        .bind(&hash)
        .bind(micros(NOW))
        .bind(password_changed.map(micros))
        .execute(&old)
        .await
        .unwrap();
    }
    let before = old_token(&old, "1", changed - Duration::microseconds(1)).await;
    let at = old_token(&old, "1", changed).await;
    let after = old_token(&old, "1", changed + Duration::minutes(1)).await;
    let bobs = old_token(&old, "2", NOW).await;
    // Not user 1's id ("01" never named user 1): it keeps version 0, whatever its time.
    old_token(&old, "01", changed + Duration::minutes(1)).await;
    old.close().await;

    let pool = connect(&url(&dir)).await.unwrap();
    assert_eq!(applied(&pool).await, ALL);
    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('tokenauth_users')")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(!columns.iter().any(|c| c == "password_changed"), "{columns:?}");
    let versions: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT user_id, created, credential_version FROM tokenauth_tokens ORDER BY created, user_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let versions: Vec<(&str, i64)> = versions.iter().map(|(u, _, v)| (u.as_str(), *v)).collect();
    assert_eq!(versions, [("2", 0), ("1", 0), ("1", 1), ("01", 0), ("1", 1)]);

    let clock = ManualClock::new(changed + Duration::hours(1));
    let auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool))
        .with_password_hasher(fast_hasher())
        .with_clock(clock);
    let alice = auth.find_by_username("alice").await.unwrap().unwrap();
    assert_eq!(alice.credential_version, 1);
    assert_eq!(
        auth.find_by_username("bob")
            .await
            .unwrap()
            .unwrap()
            .credential_version,
        0
    );

    let err = auth.authenticate(before.expose_secret(), None).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
    assert_eq!(err.to_string(), "Invalid token");
    for (token, user) in [(&at, "alice"), (&after, "alice"), (&bobs, "bob")] {
        let verified = auth.authenticate(token.expose_secret(), None).await.unwrap();
        assert_eq!(verified.user.username, user);
    }

    // The password survived the upgrade, and the next change ends alice's tokens.
    auth.obtain("alice", "pw", Default::default()).await.unwrap();
    auth.change_password("alice", "new").await.unwrap().unwrap();
    for token in [&at, &after] {
        let err = auth.authenticate(token.expose_secret(), None).await.unwrap_err();
        assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
    }
    auth.authenticate(bobs.expose_secret(), None).await.unwrap();
}
