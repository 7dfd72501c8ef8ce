//! django-rest-knox's tables as knox 5.0.2 made them (`tests/fixtures/knox`, described
//! by its `manifest.json`): the export reads every row as knox wrote it, the schema
//! checks tell a knox database from a DRF one, and the knox store serves knox's table
//! live (`common/knox.rs`, also run on PostgreSQL by `tests/postgres.rs`). On
//! PostgreSQL, the server's `import_knox` tests read the dump through the same export.
#![cfg(feature = "sqlite")]

mod common;

use common::knox::{KnoxRaw, KnoxRow, LIFESPAN, knox_manifest};
use common::parse_django;
use serde_json::Value;
use sqlx::{Sqlite, SqlitePool};
use tempfile::TempDir;
use time::OffsetDateTime;
use tokenauth_conformance::{Guarded, StoreSubject};
use tokenauth_core::TokenFormat;
use tokenauth_core::store::TokenDigest;
use tokenauth_core::{Lifespan, ManualClock, TokenAuth};
use tokenauth_django::Error;
use tokenauth_django::knox::KnoxStore;
use tokenauth_django::sqlite::{SqliteUserDirectory, connect, connect_knox, connect_knox_model};
use tokenauth_django::{DjangoTables, UserModel, knox_auth};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn manifest() -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/knox/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A copy of `file` in `dir` (connecting never writes, but the fixture stays
/// untouched even so); its URL.
fn copy(dir: &tempfile::TempDir, file: &str) -> String {
    let path = dir.path().join("db.sqlite3");
    std::fs::copy(format!("{FIXTURES}/{file}"), &path).unwrap();
    format!("sqlite://{}", path.display())
}

fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap()
}

#[tokio::test]
async fn every_knox_row_is_read_as_knox_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let pool = connect_knox(&copy(&dir, "knox/knox.sqlite3")).await.unwrap();
    let (users, tokens) = tokenauth_django::knox::export(&pool).await.unwrap();
    let manifest = manifest();

    let expected_users = manifest["users"].as_array().unwrap();
    assert_eq!(users.len(), expected_users.len());
    for (user, expected) in users.iter().zip(expected_users) {
        assert_eq!(user.id.as_str(), expected["id"].as_i64().unwrap().to_string());
        assert_eq!(user.username, expected["username"].as_str().unwrap());
        assert_eq!(user.is_active, expected["is_active"].as_bool().unwrap());
        assert!(user.password.starts_with("pbkdf2_sha256$"));
    }

    let expected_tokens = manifest["tokens"]["sqlite"].as_array().unwrap();
    assert_eq!(tokens.len(), expected_tokens.len());
    let format = TokenFormat::default().with_imported_knox_tokens(true);
    for expected in expected_tokens {
        let row = tokens
            .iter()
            .find(|t| t.digest == expected["digest"].as_str().unwrap())
            .expect("every manifest token has its row");
        let owner = users.iter().find(|u| u.id == row.user_id).unwrap();
        assert_eq!(owner.username, expected["user"].as_str().unwrap());
        assert_eq!(
            micros(row.created),
            expected["created_unix_micros"].as_i64().unwrap()
        );
        assert_eq!(row.expiry.map(micros), expected["expiry_unix_micros"].as_i64());
        // The token the client holds meets the digest its row is imported with.
        let token = expected["token"].as_str().unwrap();
        assert_eq!(
            format.digest_if_well_formed(token),
            TokenDigest::from_knox_digest(&row.digest),
            "{}",
            expected["label"]
        );
        assert!(format.digest_if_well_formed(token).is_some());
    }
}

#[tokio::test]
async fn the_schema_checks_tell_knox_from_drf() {
    let dir = tempfile::tempdir().unwrap();
    let knox = copy(&dir, "knox/knox.sqlite3");
    match connect(&knox).await {
        Err(Error::Schema { missing }) => assert_eq!(missing, ["table authtoken_token"]),
        other => panic!("DRF's check passed a knox database: {other:?}"),
    }
    let other = tempfile::tempdir().unwrap();
    let drf = copy(&other, "django.sqlite3");
    let refused = connect_knox(&drf).await.unwrap_err();
    assert!(matches!(
        refused,
        Error::KnoxSchema {
            table: "knox_authtoken",
            ..
        }
    ));
    assert!(
        refused
            .to_string()
            .starts_with("not a Django database with django-rest-knox: knox_authtoken"),
        "{refused}"
    );
}

/// The knox fixture opened for serving: its tables, and the directory under them.
struct Served {
    tables: DjangoTables<Sqlite>,
    clock: ManualClock,
    _dir: TempDir,
}

async fn served() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let url = copy(&dir, "knox/knox.sqlite3");
    let tables = connect_knox_model(&url, &UserModel::default()).await.unwrap();
    let clock = ManualClock::new(knox_manifest().generated_at());
    Served {
        tables,
        clock,
        _dir: dir,
    }
}

impl Served {
    /// The service as `serve --schema django --django-tokens knox --django-knox-prefix
    /// PREFIX --lifespan 30d` configures it, on the fixture's clock.
    fn auth(&self, prefix: &str) -> TokenAuth<KnoxStore<Sqlite>, SqliteUserDirectory> {
        self.auth_for(prefix, LIFESPAN)
    }

    /// The same with `--lifespan LIFESPAN`.
    fn auth_for(&self, prefix: &str, lifespan: &str) -> TokenAuth<KnoxStore<Sqlite>, SqliteUserDirectory> {
        let lifespan: Lifespan = lifespan.parse().unwrap();
        let store = self.tables.knox_store(prefix, Some(lifespan.as_duration()));
        knox_auth(store, self.tables.users(), lifespan)
            .unwrap()
            .with_clock(self.clock.clone())
    }

    fn pool(&self) -> &SqlitePool {
        self.tables.pool()
    }
}

impl KnoxRaw for Served {
    async fn row(&self, digest: &str) -> Option<KnoxRow> {
        let row: Option<(String, i64, String, Option<String>)> = sqlx::query_as(
            r#"SELECT "token_key", "user_id", "created", "expiry" FROM "knox_authtoken" WHERE "digest" = $1"#,
        )
        .bind(digest)
        .fetch_optional(self.pool())
        .await
        .unwrap();
        row.map(|(token_key, user_id, created, expiry)| KnoxRow {
            token_key,
            user_id,
            created: parse_django(&created),
            expiry: expiry.as_deref().map(parse_django),
        })
    }

    async fn count(&self, user_id: i64) -> i64 {
        sqlx::query_scalar(r#"SELECT COUNT(*) FROM "knox_authtoken" WHERE "user_id" = $1"#)
            .bind(user_id)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn every_knox_token_authenticates_as_knox_said() {
    let served = served().await;
    let tokens = &knox_manifest().tokens.sqlite;
    common::knox::every_token_as_knox_said(&served.auth(""), &served.auth("knx_"), tokens).await;
}

#[tokio::test]
async fn knoxs_expiry_is_kept_to_the_microsecond() {
    let served = served().await;
    let tokens = &knox_manifest().tokens.sqlite;
    let long = served.auth_for("", common::knox::LONG_LIFESPAN);
    common::knox::the_expiry_is_knoxs(&long, &served.auth(""), &served.clock, tokens).await;
}

#[tokio::test]
async fn logins_write_rows_knox_accepts_and_logouts_delete_them() {
    let served = served().await;
    let manifest = knox_manifest();
    common::knox::logins_write_rows_knox_accepts(&served.auth(""), &served, &manifest, "").await;
    let served = self::served().await;
    common::knox::logins_write_rows_knox_accepts(&served.auth("knx_"), &served, &manifest, "knx_").await;
}

#[tokio::test]
async fn a_database_without_knoxs_table_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let drf = copy(&dir, "django.sqlite3");
    let refused = connect_knox_model(&drf, &UserModel::default()).await.unwrap_err();
    assert!(
        matches!(&refused, Error::KnoxTables { missing } if missing == &["table knox_authtoken"]),
        "{refused:?}"
    );
    let other = tempfile::tempdir().unwrap();
    let knox = copy(&other, "knox/knox.sqlite3");
    let model = UserModel::new("accounts_user").unwrap();
    let refused = connect_knox_model(&knox, &model).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "not a Django database with django-rest-knox: table accounts_user is missing (run \
         Django's `migrate` with `knox` installed; for a custom user model, name its table and \
         fields)"
    );
}

/// knox's table of a database without users, for the token-store suite: its users in
/// `auth_user`, its tokens knox's.
async fn store_subject() -> StoreSubject<Guarded<KnoxStore<Sqlite>, TempDir>, SqliteUserDirectory> {
    let served = served().await;
    sqlx::raw_sql(
        r#"DELETE FROM "knox_authtoken"; DELETE FROM "auth_user_groups";
           DELETE FROM "auth_user_user_permissions"; DELETE FROM "auth_user";"#,
    )
    .execute(served.pool())
    .await
    .unwrap();
    let store = served.tables.knox_store("", None);
    StoreSubject::new(Guarded::new(store, served._dir))
        .with_users(served.tables.users())
        .with_format(TokenFormat::knox("").unwrap())
}

/// The token-store suite's cases that apply to knox's table. knox keeps no token, only
/// its SHA-512, so a record read back without its token (a listing, a find by id, an
/// ended token) cannot carry the digest it was inserted with: the cases comparing
/// such records whole (insert_then_find, optional_fields_round_trip,
/// duplicate_*_are_refused, lists_*, delete_*, commit_*, concurrent_commits_all_land,
/// token_sets_start_at_version_zero, declared_given_ids, declared_own_lifespans,
/// declared_several_tokens_per_user) do not apply as written. What they check here is
/// checked through the service by `common/knox.rs`.
mod tokens {
    tokenauth_conformance::conformance_cases!([] super::store_subject();
        unknown_finds_nothing,
        expired_records_are_returned,
        record_usage_keeps_the_latest,
        purge_deletes_only_matching_records_in_batches,
        purge_by_creation_deletes_in_batches,
        concurrent_logins_respect_the_limit,
        concurrent_logins_under_replace_leave_one_token,
        short_lived_logins_stay_under_the_row_cap,
        a_password_change_ends_older_tokens,
        declared_names,
        declared_scopes,
        declared_usage,
        declared_credential_versions,
    );
}

#[tokio::test]
async fn knoxs_auto_refresh_moves_the_expiry_on_use() {
    let served = served().await;
    common::knox::auto_refresh_moves_the_expiry(&served.tables, &served.clock, &served, &knox_manifest())
        .await;
}
