//! Django's tables in SQLite: times as Django's text, and no row locks, since a write
//! transaction (`BEGIN IMMEDIATE`) holds the database's one write lock from its start,
//! which Django's own writes queue on too.

use sqlx::Sqlite;
use sqlx::sqlite::SqliteQueryResult;
use time::OffsetDateTime;

use super::timestamp::{from_django_text, to_django_text};
use crate::Error;
use crate::dialect::{Dialect, sealed};
use crate::statements::Statements;

impl sealed::Sealed for Sqlite {}

impl Statements for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const COLUMNS: &'static str = r#"SELECT 'auth_user', "name" FROM pragma_table_info('auth_user')
        UNION ALL SELECT 'authtoken_token', "name" FROM pragma_table_info('authtoken_token')"#;
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
