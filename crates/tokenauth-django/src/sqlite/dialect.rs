//! Django's tables in SQLite: times as Django's text, and no row locks, since a write
//! transaction (`BEGIN IMMEDIATE`) holds the database's one write lock from its start,
//! which Django's own writes queue on too.

use sqlx::Sqlite;
use sqlx::sqlite::SqliteQueryResult;
use time::OffsetDateTime;

use super::timestamp::{from_django_text, to_django_text};
use crate::Error;
use crate::dialect::{Dialect, sealed};
use crate::statements::Spelling;

impl sealed::Sealed for Sqlite {}

impl Spelling for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const COLUMNS: &'static str = r#"
        SELECT $1, "name", "type", "notnull" <> 0, "dflt_value" IS NOT NULL, "pk" > 0
          FROM pragma_table_info($1)
        UNION ALL SELECT $2, "name", "type", "notnull" <> 0, "dflt_value" IS NOT NULL, "pk" > 0
          FROM pragma_table_info($2)
        UNION ALL SELECT $3, "name", "type", "notnull" <> 0, "dflt_value" IS NOT NULL, "pk" > 0
          FROM pragma_table_info($3)
        UNION ALL SELECT $4, "name", "type", "notnull" <> 0, "dflt_value" IS NOT NULL, "pk" > 0
          FROM pragma_table_info($4)"#;
}

impl Dialect for Sqlite {
    const STORE: &'static str = "SqliteStore";
    const DIRECTORY: &'static str = "SqliteUserDirectory";
    type Time = String;

    fn to_time(at: OffsetDateTime) -> String {
        to_django_text(at)
    }

    fn from_time(stored: String) -> Result<OffsetDateTime, Error> {
        from_django_text(&stored)
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}
