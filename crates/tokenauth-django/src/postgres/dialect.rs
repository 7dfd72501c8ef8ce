//! Django's tables in PostgreSQL: `timestamptz` times, a snapshot for the export, and
//! row locks, a writer locking the user's `auth_user` row before its token's row, so
//! that writers (Django's included) cannot deadlock.

use sqlx::Postgres;
use sqlx::postgres::PgQueryResult;
use time::OffsetDateTime;

use crate::Error;
use crate::dialect::{Dialect, sealed};
use crate::statements::{Statements, select_tokens};

impl sealed::Sealed for Postgres {}

impl Statements for Postgres {
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    // The tables the connection's search path finds, as unqualified queries do.
    const COLUMNS: &'static str = r#"SELECT c.relname::text, a.attname::text
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.oid IN (to_regclass('auth_user'), to_regclass('authtoken_token'))
           AND a.attnum > 0 AND NOT a.attisdropped"#;

    const LOCKED_TOKENS_OF_USER: &'static str = select_tokens!(r#"WHERE t."user_id" = $1 FOR UPDATE OF t"#);
    const PASSWORD_FOR_COMMIT: &'static str =
        r#"SELECT "password" FROM "auth_user" WHERE "id" = $1 FOR SHARE"#;
    const LOCK_USER: &'static str = r#"SELECT "password" FROM "auth_user" WHERE "id" = $1 FOR UPDATE"#;
}

impl Dialect for Postgres {
    const STORE: &'static str = "PostgresStore";
    const DIRECTORY: &'static str = "PostgresUserDirectory";
    type Time = OffsetDateTime;

    fn to_time(at: OffsetDateTime) -> OffsetDateTime {
        at
    }

    fn from_time(stored: OffsetDateTime) -> Result<OffsetDateTime, Error> {
        Ok(stored)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}
