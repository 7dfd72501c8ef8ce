//! Django's tables in PostgreSQL's spelling: `$N` placeholders, `timestamptz` times,
//! Django's `integer` ids widened to `int8`, and row locks: a writer locks the user's
//! `auth_user` row before its token's row, so that writers cannot deadlock.

use sqlx::Postgres;
use sqlx::postgres::PgQueryResult;
use time::OffsetDateTime;

use crate::Error;
use crate::dialect::{Dialect, Statements, sealed};

const TOKEN_ROWS: &str = r#"SELECT t."key", t."created", t."user_id"::int8, u."password"
    FROM "authtoken_token" t LEFT JOIN "auth_user" u ON u."id" = t."user_id""#;

impl sealed::Sealed for Postgres {}

impl Dialect for Postgres {
    const PREFIX: &'static str = "Postgres";
    type Time = OffsetDateTime;

    const SQL: Statements = Statements {
        begin_write: "BEGIN",
        begin_snapshot: "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        // The tables the connection's search path finds, as unqualified queries do.
        columns: r#"SELECT c.relname::text, a.attname::text
              FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             WHERE c.oid IN (to_regclass('auth_user'), to_regclass('authtoken_token'))
               AND a.attnum > 0 AND NOT a.attisdropped"#,

        tokens_of_user: r#"SELECT t."key", t."created", t."user_id"::int8, u."password"
            FROM "authtoken_token" t LEFT JOIN "auth_user" u ON u."id" = t."user_id"
            WHERE t."user_id" = $1"#,
        locked_tokens_of_user: r#"SELECT t."key", t."created", t."user_id"::int8, u."password"
            FROM "authtoken_token" t LEFT JOIN "auth_user" u ON u."id" = t."user_id"
            WHERE t."user_id" = $1 FOR UPDATE OF t"#,
        token_by_key: r#"SELECT t."key", t."created", t."user_id"::int8, u."password"
            FROM "authtoken_token" t LEFT JOIN "auth_user" u ON u."id" = t."user_id"
            WHERE t."key" = $1"#,
        all_tokens: TOKEN_ROWS,
        export_tokens: r#"SELECT "key", "created", "user_id"::int8, NULL::text FROM "authtoken_token"
            ORDER BY "user_id""#,
        delete_token: r#"DELETE FROM "authtoken_token" WHERE "key" = $1"#,
        password_for_commit: r#"SELECT "password" FROM "auth_user" WHERE "id" = $1 FOR SHARE"#,
        insert_token: r#"INSERT INTO "authtoken_token" ("key", "created", "user_id") VALUES ($1, $2, $3)
            ON CONFLICT ("user_id") DO NOTHING"#,
        purge_tokens: r#"DELETE FROM "authtoken_token" WHERE "key" IN
                (SELECT "key" FROM "authtoken_token" WHERE "created" < $1 LIMIT $2)
            RETURNING "key", "created", "user_id"::int8, NULL::text"#,

        user_by_id: r#"SELECT "id"::int8, "username", "is_active", "password" FROM "auth_user"
            WHERE "id" = $1"#,
        user_by_username: r#"SELECT "id"::int8, "username", "is_active", "password" FROM "auth_user"
            WHERE "username" = $1"#,
        users_by_username: r#"SELECT "id"::int8, "username", "is_active", "password" FROM "auth_user"
            ORDER BY "username""#,
        users_by_id: r#"SELECT "id"::int8, "username", "is_active", "password" FROM "auth_user"
            ORDER BY "id""#,
        lock_user: r#"SELECT "password" FROM "auth_user" WHERE "id" = $1 FOR UPDATE"#,
        create_user: r#"INSERT INTO "auth_user" ("password", "last_login", "is_superuser", "username",
                "first_name", "last_name", "email", "is_staff", "is_active", "date_joined")
            VALUES ($1, NULL, false, $2, '', '', '', false, $3, $4)
            ON CONFLICT ("username") DO NOTHING
            RETURNING "id"::int8, "username", "is_active", "password""#,
        set_password: r#"UPDATE "auth_user" SET "password" = $1 WHERE "id" = $2"#,
        rehash_password: r#"UPDATE "auth_user" SET "password" = $1 WHERE "id" = $2 AND "password" = $3"#,
        set_active: r#"UPDATE "auth_user" SET "is_active" = $1 WHERE "id" = $2
            RETURNING "id"::int8, "username", "is_active", "password""#,
        delete_tokens_of_user: r#"DELETE FROM "authtoken_token" WHERE "user_id" = $1"#,
        delete_user_links: [
            r#"DELETE FROM "auth_user_groups" WHERE "user_id" = $1"#,
            r#"DELETE FROM "auth_user_user_permissions" WHERE "user_id" = $1"#,
        ],
        delete_user: r#"DELETE FROM "auth_user" WHERE "id" = $1"#,
    };

    fn to_stored(at: OffsetDateTime) -> OffsetDateTime {
        at
    }

    fn from_stored(stored: OffsetDateTime) -> Result<OffsetDateTime, Error> {
        Ok(stored)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}
