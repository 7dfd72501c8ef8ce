//! Django's tables in PostgreSQL: `timestamptz` times, a snapshot for the export, and
//! row locks, a writer locking the user's `auth_user` row before its token's row, so
//! that writers (Django's included) cannot deadlock.

use sqlx::Postgres;
use sqlx::postgres::PgQueryResult;
use time::OffsetDateTime;

use crate::Error;
use crate::dialect::{Dialect, sealed};
use crate::statements::Spelling;

impl sealed::Sealed for Postgres {}

impl Spelling for Postgres {
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    // The tables the connection's search path finds, as the statements' quoted names
    // do.
    const COLUMNS: &'static str = r#"SELECT c.relname::text, a.attname::text,
               format_type(a.atttypid, a.atttypmod), a.attnotnull,
               a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
               COALESCE(a.attnum = ANY (i.indkey::int2[]), false)
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
         WHERE c.oid IN (to_regclass(quote_ident($1)), to_regclass(quote_ident($2)),
                         to_regclass(quote_ident($3)), to_regclass(quote_ident($4)))
           AND a.attnum > 0 AND NOT a.attisdropped"#;

    const NULL_TIME: &'static str = "CAST(NULL AS timestamptz)";
    const LOCK_TOKENS: &'static str = " FOR UPDATE OF t";
    const SHARE_USER: &'static str = " FOR SHARE";
    const LOCK_USER: &'static str = " FOR UPDATE";
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
