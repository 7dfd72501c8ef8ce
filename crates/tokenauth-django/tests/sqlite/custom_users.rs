//! The custom user models' fixtures (`fixtures/custom-users`), each on a copy: as
//! Django answered, users created here, the start-up check, and the conformance
//! suites on a UUID key.

use sqlx::{Sqlite, SqlitePool};
use tempfile::TempDir;
use tokenauth_conformance::{Guarded, StoreSubject};
use tokenauth_core::store::UserAdmin as _;
use tokenauth_core::{ManualClock, TokenAuth};
use tokenauth_django::sqlite::{SqliteStore, SqliteUserDirectory, connect, connect_model};
use tokenauth_django::{DjangoTables, LoginMatch, UserModel, django_auth};

use super::common::custom::{self, CustomModel, custom_manifest};

struct Custom {
    _dir: TempDir,
    tables: DjangoTables<Sqlite>,
    auth: TokenAuth<SqliteStore, SqliteUserDirectory>,
}

/// A copy of `file`, opened for `model` at the manifest's clock.
async fn open(file: &str, model: &UserModel) -> Result<Custom, tokenauth_django::Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    std::fs::copy(custom::fixture(file), &path).unwrap();
    let tables = connect_model(&format!("sqlite://{}", path.display()), model).await?;
    let clock: ManualClock = custom_manifest().clock();
    let users = tables.users().with_clock(clock.clone());
    let auth = django_auth(tables.store(), users).with_clock(clock);
    Ok(Custom {
        _dir: dir,
        tables,
        auth,
    })
}

async fn every_user_and_token(file: &str, model: &CustomModel) {
    let custom = open(file, &model.user_model()).await.unwrap();
    custom::every_user_and_token_as_django_says(
        &custom.auth,
        model,
        &model.tokens.sqlite,
        &model.other_spellings,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_big_integer_user_and_token_as_django_says() {
    every_user_and_token("bigint.sqlite3", &custom_manifest().models.bigint).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_uuid_user_and_token_as_django_says() {
    every_user_and_token("uuid.sqlite3", &custom_manifest().models.uuid).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_match_case_insensitively_when_configured() {
    let manifest = custom_manifest();
    for (file, model) in [
        ("bigint.sqlite3", &manifest.models.bigint),
        ("uuid.sqlite3", &manifest.models.uuid),
    ] {
        let iexact = model.user_model().with_login_match(LoginMatch::CaseInsensitive);
        let custom = open(file, &iexact).await.unwrap();
        let folding = custom::Folding {
            unicode: false,
            collation: false,
        };
        custom::logins_match_case_insensitively(&custom.auth, model, folding).await;
    }
}

/// The key of `login` as the file holds it.
async fn stored_key(pool: &SqlitePool, model: &CustomModel, login: &str) -> String {
    let sql = format!(
        r#"SELECT CAST("id" AS TEXT) FROM "{}" WHERE "{}" = ?"#,
        model.table, model.login_field
    );
    sqlx::query_scalar(&sql)
        .bind(login)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn users_created_here_are_rows_django_reads() {
    let manifest = custom_manifest();
    for (file, model, login) in [
        ("bigint.sqlite3", &manifest.models.bigint, "newbie"),
        ("uuid.sqlite3", &manifest.models.uuid, "new@example.com"),
    ] {
        let custom = open(file, &model.user_model()).await.unwrap();
        let id = custom::users_created_here_work(&custom.auth, model, login).await;
        // Django's UUIDField on SQLite: char(32), hex without dashes.
        let stored = stored_key(custom.tables.pool(), model, login).await;
        assert_eq!(stored, id.as_str().replace('-', ""));
        let (user, _) = custom.auth.delete_user(login).await.unwrap().unwrap();
        assert_eq!(user.id, id);
    }
}

#[tokio::test]
async fn a_database_that_is_not_the_configured_model_is_refused_naming_what_is_missing() {
    let manifest = custom_manifest();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("uuid.sqlite3");
    std::fs::copy(custom::fixture("uuid.sqlite3"), &path).unwrap();
    let url = format!("sqlite://{}", path.display());
    let stock = connect(&url).await.unwrap_err();
    assert!(
        stock.to_string().contains(": table auth_user is missing ("),
        "{stock}"
    );
    // The table, with Django's default fields, which this model does not have.
    let defaults = UserModel::new(&manifest.models.uuid.table).unwrap();
    let error = connect_model(&url, &defaults).await.unwrap_err();
    assert!(
        error.to_string().contains(
            ": column members_member.username is missing; column members_member.is_active is missing ("
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_table_with_columns_tokenauth_cannot_fill_refuses_new_users_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("people.sqlite3");
    let pool = SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(
        r#"CREATE TABLE "people" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
               "password" varchar(128) NOT NULL, "email" varchar(254) NOT NULL UNIQUE,
               "nickname" varchar(20) NOT NULL, "shoe_size" integer NOT NULL);
           CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY,
               "created" datetime NOT NULL, "user_id" integer NOT NULL UNIQUE
               REFERENCES "people" ("id") DEFERRABLE INITIALLY DEFERRED);"#,
    )
    .execute(&pool)
    .await
    .unwrap();
    let model = UserModel::new("people")
        .unwrap()
        .with_login_field("email")
        .unwrap()
        .without_active_field();
    let tables = connect_model(&format!("sqlite://{}", path.display()), &model)
        .await
        .unwrap();
    let error = tables
        .users()
        .create_user("a@example.com", "!unusable", true)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot create a user in people: columns nickname and shoe_size are NOT NULL \
         without a default, and tokenauth does not know what to write there (create \
         users through Django)"
    );
}

/// Deletes every member of the UUID model with their tokens and links (for
/// `sqlx::raw_sql`).
const DELETE_EVERY_MEMBER: &str = r#"DELETE FROM "authtoken_token";
    DELETE FROM "members_member_groups";
    DELETE FROM "members_member_user_permissions";
    DELETE FROM "members_member";"#;

/// Deletes every user of the big-integer model with their tokens and links.
const DELETE_EVERY_ACCOUNT: &str = r#"DELETE FROM "authtoken_token";
    DELETE FROM "accounts_user_groups";
    DELETE FROM "accounts_user_user_permissions";
    DELETE FROM "accounts_user";"#;

/// The tables of `file`'s model, emptied by `delete`, on a copy living as long as
/// the returned directory.
async fn emptied(file: &str, model: &CustomModel, delete: &str) -> (DjangoTables<Sqlite>, TempDir) {
    let custom = open(file, &model.user_model()).await.unwrap();
    sqlx::raw_sql(delete).execute(custom.tables.pool()).await.unwrap();
    (custom.tables, custom._dir)
}

/// The big-integer model's users, for the user-directory suite (which deactivates
/// users: the UUID model has no active column).
async fn accounts() -> Guarded<SqliteUserDirectory, TempDir> {
    let model = &custom_manifest().models.bigint;
    let (tables, dir) = emptied("bigint.sqlite3", model, DELETE_EVERY_ACCOUNT).await;
    Guarded::new(tables.users(), dir)
}

/// DRF's table of the UUID model, for the token-store suite: ids and lookups by
/// range on UUID keys.
async fn member_tokens() -> StoreSubject<Guarded<SqliteStore, TempDir>, SqliteUserDirectory> {
    let model = &custom_manifest().models.uuid;
    let (tables, dir) = emptied("uuid.sqlite3", model, DELETE_EVERY_MEMBER).await;
    let subject = Guarded::new(tables.store(), dir);
    super::common::conformance::store_subject(subject, tables.users())
}

mod account_users {
    tokenauth_conformance::user_directory_conformance!(super::accounts());
}

mod member_tokens {
    tokenauth_conformance::token_store_conformance!(subject: super::member_tokens());
}
