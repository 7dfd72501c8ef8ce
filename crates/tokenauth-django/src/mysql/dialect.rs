//! Django's tables in MySQL and MariaDB: `datetime(6)` times in UTC, `?` parameters,
//! backquoted names, `READ COMMITTED` write transactions with row locks, and a plain
//! `INSERT` whose duplicate key means "taken".
//!
//! Names are backquoted, as Django's MySQL backend quotes them, rather than
//! double-quoted under `ANSI_QUOTES`: Django never sets that mode, and a statement
//! that needs no session setting runs on any connection to the database (one opened
//! by the application, or through a proxy), and under `ANSI_QUOTES` too.

use sqlx::MySql;
use sqlx::mysql::{MySqlDatabaseError, MySqlQueryResult};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::Error;
use crate::dialect::{Dialect, sealed};
use crate::keys::KeyKind;
use crate::statements::Spelling;

/// MySQL's error number for a duplicate key.
const DUPLICATE_KEY: u16 = 1062;
/// MySQL's error number for a deadlock: InnoDB rolled the transaction back whole.
const DEADLOCK: u16 = 1213;

impl sealed::Sealed for MySql {}

impl Spelling for MySql {
    // `READ COMMITTED`: InnoDB's default, `REPEATABLE READ`, takes gap locks on the
    // ranges a locking read searches, so two first logins of one user (no token row
    // yet) would each lock the gap and deadlock on their inserts. At `READ COMMITTED` a
    // locking read locks the rows it finds, the unique `user_id` makes the second
    // insert wait for the first and find its key taken, and every compare is a locking
    // read, which reads the newest committed row. (`SET TRANSACTION` applies to the
    // next transaction only.)
    const BEGIN_WRITE: &'static str = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION";
    // InnoDB's default isolation, `REPEATABLE READ`, reads one snapshot.
    const BEGIN_SNAPSHOT: &'static str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";
    // The tables of the connection's database. `DATA_TYPE` spells integers without
    // a display width (`int`, `bigint`); a `char`'s length tells a UUID's 32 digits.
    const COLUMNS: &'static str = "SELECT TABLE_NAME, COLUMN_NAME,
               CASE WHEN DATA_TYPE = 'char' THEN COLUMN_TYPE ELSE DATA_TYPE END,
               IS_NULLABLE = 'NO',
               COLUMN_DEFAULT IS NOT NULL OR EXTRA LIKE '%auto_increment%',
               COLUMN_KEY = 'PRI'
          FROM information_schema.COLUMNS
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?, ?, ?)";
    // MariaDB has no `FOR UPDATE OF`; the locked reads name one table.
    const LOCK_TOKENS: &'static str = " FOR UPDATE";
    // Both MySQL and MariaDB read this spelling (MySQL 8 also `FOR SHARE`).
    const SHARE_USER: &'static str = " LOCK IN SHARE MODE";
    const LOCK_USER: &'static str = " FOR UPDATE";
    const TEXT: &'static str = "CHAR";
    const NULL_TIME: &'static str = "CAST(NULL AS DATETIME(6))";
    // MariaDB's `uuid` compares an RFC 4122 UUID (every one Python's `uuid` makes,
    // variant digit 8 to b) in another byte order than others: bounds of that variant
    // compare with the users' keys in one order.
    const UUID_VARIANTS: (char, char) = ('8', 'b');

    fn key_text(kind: KeyKind, column: &str) -> String {
        match kind {
            KeyKind::Integer | KeyKind::Uuid => format!("CAST({column} AS CHAR)"),
            KeyKind::HexUuid => format!(
                "lower(CAST(CONCAT(SUBSTRING({column}, 1, 8), '-', SUBSTRING({column}, 9, 4), '-', \
                 SUBSTRING({column}, 13, 4), '-', SUBSTRING({column}, 17, 4), '-', \
                 SUBSTRING({column}, 21, 12)) AS CHAR))"
            ),
        }
    }

    /// A plain `INSERT`: its duplicate key is read as "nothing inserted"
    /// ([`Dialect::is_duplicate`]), where `INSERT IGNORE` would also turn other errors
    /// (a value too long, truncated) into warnings and write the row.
    fn insert_or_nothing(into: &str, _conflict: &str) -> String {
        format!("INSERT INTO {into}")
    }

    /// The columns of text read as the connection's text: a column of a binary
    /// collation (`utf8mb4_bin`, which Django's documentation suggests for exact
    /// matching) comes back flagged binary, which sqlx does not read as a `String`.
    fn as_text(column: &str) -> String {
        format!("CAST({column} AS CHAR)")
    }

    fn spell(sql: String) -> String {
        placeholders(&sql).replace('"', "`")
    }
}

/// `sql` with its `$1`, `$2`... as MySQL's `?`, which bind in order: the shared text
/// uses each parameter once, in order (checked here, as the statements are built).
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut next = 1;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits: String = rest[at + 1..].chars().take_while(char::is_ascii_digit).collect();
        assert_eq!(
            digits.parse::<usize>().ok(),
            Some(next),
            "parameters in order, each once: {sql}"
        );
        next += 1;
        out.push('?');
        rest = &rest[at + 1 + digits.len()..];
    }
    out.push_str(rest);
    out
}

/// MySQL's error number of `error`, if it is MySQL's.
fn number(error: &sqlx::Error) -> Option<u16> {
    let error = error.as_database_error()?;
    Some(error.try_downcast_ref::<MySqlDatabaseError>()?.number())
}

impl Dialect for MySql {
    const STORE: &'static str = "MySqlStore";
    const DIRECTORY: &'static str = "MySqlUserDirectory";
    /// Django's `datetime(6)` with `USE_TZ`: naive UTC, to the microsecond.
    type Time = PrimitiveDateTime;

    fn to_time(at: OffsetDateTime) -> PrimitiveDateTime {
        let at = at.to_offset(UtcOffset::UTC);
        PrimitiveDateTime::new(at.date(), at.time())
    }

    fn from_time(stored: PrimitiveDateTime) -> Result<OffsetDateTime, Error> {
        Ok(stored.assume_utc())
    }

    fn rows_affected(done: &MySqlQueryResult) -> u64 {
        done.rows_affected()
    }

    /// A duplicate of the unique index Django names after its column (`UNIQUE KEY
    /// user_id (user_id)`): MariaDB says `for key 'user_id'`, MySQL 8 `for key
    /// 'authtoken_token.user_id'`. A duplicate of another key (the primary key, a
    /// token's `key`) stays an error, as under `ON CONFLICT (column)`.
    fn is_duplicate(error: &sqlx::Error, conflict: &str) -> bool {
        number(error) == Some(DUPLICATE_KEY)
            && error.as_database_error().is_some_and(|error| {
                let message = error.message();
                message.ends_with(&format!(" '{conflict}'")) || message.ends_with(&format!(".{conflict}'"))
            })
    }

    fn rolled_back(error: &sqlx::Error) -> bool {
        number(error) == Some(DEADLOCK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_question_marks_in_order() {
        assert_eq!(
            MySql::spell(r#"UPDATE "t" SET "a" = $1 WHERE "id" = $2 AND "b" = $3"#.to_owned()),
            "UPDATE `t` SET `a` = ? WHERE `id` = ? AND `b` = ?"
        );
        assert_eq!(placeholders("SELECT 1"), "SELECT 1");
    }

    #[test]
    #[should_panic(expected = "parameters in order")]
    fn parameters_out_of_order_are_refused() {
        placeholders("SELECT $2, $1");
    }

    #[test]
    fn times_are_naive_utc() {
        let at = time::macros::datetime!(2026-11-28 16:44:48.029931 +02:00);
        let stored = MySql::to_time(at);
        assert_eq!(stored, time::macros::datetime!(2026-11-28 14:44:48.029931));
        assert_eq!(MySql::from_time(stored).unwrap(), at);
    }
}
