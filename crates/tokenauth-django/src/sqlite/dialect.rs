//! Django's tables in SQLite's spelling: `?` placeholders, times as Django's text, and
//! no row locks, since a write transaction (`BEGIN IMMEDIATE`) holds the database's
//! one write lock from its start.

use sqlx::Sqlite;
use sqlx::sqlite::SqliteQueryResult;
use time::OffsetDateTime;

use super::timestamp::{from_django_text, to_django_text};
use crate::Error;
use crate::dialect::{Dialect, Statements, sealed};

/// A token row with its user's password.
const TOKEN_ROWS: &str = r#"SELECT t."key", t."created", t."user_id", u."password"
    FROM "authtoken_token" t LEFT JOIN "auth_user" u ON u."id" = t."user_id""#;

const TOKENS_OF_USER: &str = r#"SELECT t."key", t."created", t."user_id", u."password"
    FROM "authtoken_token" t LEFT JOIN "auth_user" u ON u."id" = t."user_id"
    WHERE t."user_id" = ?"#;

const PASSWORD: &str = r#"SELECT "password" FROM "auth_user" WHERE "id" = ?"#;

impl sealed::Sealed for Sqlite {}

impl Dialect for Sqlite {
    const PREFIX: &'static str = "Sqlite";
    type Time = String;

    const SQL: Statements = Statements {
        begin_write: "BEGIN IMMEDIATE",
        begin_snapshot: "BEGIN",
        columns: r#"SELECT 'auth_user', "name" FROM pragma_table_info('auth_user')
            UNION ALL SELECT 'authtoken_token', "name" FROM pragma_table_info('authtoken_token')"#,

        tokens_of_user: TOKENS_OF_USER,
        // The write transaction already keeps every other writer out.
        locked_tokens_of_user: TOKENS_OF_USER,
        token_by_key: r#"SELECT t."key", t."created", t."user_id", u."password"
            FROM "authtoken_token" t LEFT JOIN "auth_user" u ON u."id" = t."user_id"
            WHERE t."key" = ?"#,
        all_tokens: TOKEN_ROWS,
        export_tokens: r#"SELECT "key", "created", "user_id", NULL FROM "authtoken_token"
            ORDER BY "user_id""#,
        delete_token: r#"DELETE FROM "authtoken_token" WHERE "key" = ?"#,
        password_for_commit: PASSWORD,
        insert_token: r#"INSERT INTO "authtoken_token" ("key", "created", "user_id") VALUES (?, ?, ?)
            ON CONFLICT ("user_id") DO NOTHING"#,
        purge_tokens: r#"DELETE FROM "authtoken_token" WHERE "key" IN
                (SELECT "key" FROM "authtoken_token" WHERE "created" < ? LIMIT ?)
            RETURNING "key", "created", "user_id", NULL"#,

        user_by_id: r#"SELECT "id", "username", "is_active", "password" FROM "auth_user" WHERE "id" = ?"#,
        user_by_username: r#"SELECT "id", "username", "is_active", "password" FROM "auth_user"
            WHERE "username" = ?"#,
        users_by_username: r#"SELECT "id", "username", "is_active", "password" FROM "auth_user"
            ORDER BY "username""#,
        users_by_id: r#"SELECT "id", "username", "is_active", "password" FROM "auth_user" ORDER BY "id""#,
        lock_user: PASSWORD,
        create_user: r#"INSERT INTO "auth_user" ("password", "last_login", "is_superuser", "username",
                "first_name", "last_name", "email", "is_staff", "is_active", "date_joined")
            VALUES (?, NULL, 0, ?, '', '', '', 0, ?, ?)
            ON CONFLICT ("username") DO NOTHING
            RETURNING "id", "username", "is_active", "password""#,
        set_password: r#"UPDATE "auth_user" SET "password" = ? WHERE "id" = ?"#,
        rehash_password: r#"UPDATE "auth_user" SET "password" = ? WHERE "id" = ? AND "password" = ?"#,
        set_active: r#"UPDATE "auth_user" SET "is_active" = ? WHERE "id" = ?
            RETURNING "id", "username", "is_active", "password""#,
        delete_tokens_of_user: r#"DELETE FROM "authtoken_token" WHERE "user_id" = ?"#,
        delete_user_links: [
            r#"DELETE FROM "auth_user_groups" WHERE "user_id" = ?"#,
            r#"DELETE FROM "auth_user_user_permissions" WHERE "user_id" = ?"#,
        ],
        delete_user: r#"DELETE FROM "auth_user" WHERE "id" = ?"#,
    };

    fn to_stored(at: OffsetDateTime) -> String {
        to_django_text(at)
    }

    fn from_stored(stored: String) -> Result<OffsetDateTime, Error> {
        from_django_text(&stored)
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}
