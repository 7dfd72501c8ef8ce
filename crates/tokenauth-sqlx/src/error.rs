//! What can go wrong in a SQL store or user directory.

/// An error from a SQL token store or user directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed: connection, query, constraint (such as a duplicate token id
    /// or digest) or decoding error.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// The database file could not be created.
    #[error("cannot create the database file")]
    CreateFile {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A tokenauth migration failed; its transaction was rolled back.
    #[error("tokenauth migration {version} failed")]
    MigrationFailed {
        /// The migration's version.
        version: i64,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// A tokenauth migration the database records as applied has other contents
    /// (another checksum) than this build's: released migrations never change, so the
    /// record or the migration was edited.
    #[error(
        "tokenauth migration {version} was applied with other contents than this build's (its checksum differs)"
    )]
    MigrationChanged {
        /// The migration's version.
        version: i64,
    },
    /// The database records a tokenauth migration this build does not have: a newer
    /// tokenauth migrated it. Run that version or a later one.
    #[error(
        "the database has tokenauth migration {version}, which this build does not know: a newer tokenauth migrated it"
    )]
    MigrationUnknown {
        /// The migration's version.
        version: i64,
    },
    /// Another process held the lock migrating processes take (MySQL's named lock)
    /// for longer than tokenauth waits: it is still migrating, or hangs.
    #[error("timed out after {waited:?} waiting for another process migrating the database")]
    MigrationLockTimedOut {
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// The database lacks migrations of this build (or all of them: it is new), and
    /// it was opened without migrating (`sqlite::open_migrated`,
    /// `postgres::open_migrated`).
    #[error("the database lacks {pending} of tokenauth's migrations (up to {newest})")]
    NotMigrated {
        /// How many migrations are pending.
        pending: usize,
        /// The newest one's version.
        newest: i64,
    },
    /// The database server could not be reached when the pool was opened: its address
    /// and why (refused, timed out, name not resolved...).
    #[error("cannot reach the database at {address}: {cause}")]
    Unreachable {
        /// `host:port` (or the socket's path), never the user or password.
        address: String,
        /// Why.
        cause: Unreachable,
    },
    /// A row read back from the database does not hold a valid value, for example a
    /// digest that is not 32 bytes or a timestamp out of range.
    #[error("malformed row in the database: {what}")]
    Corrupt {
        /// What is wrong with the row.
        what: &'static str,
    },
    /// A copy would overwrite data of the target that is not the source's: a user id
    /// or username the target holds for another user.
    #[error("the target database holds other data: {0}")]
    Conflict(String),
    /// A timestamp to store lies outside what the database column can hold.
    #[error("timestamp out of range for the database")]
    TimestampOutOfRange,
}

/// Why a database server could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unreachable {
    /// Nothing listens there (or a firewall says so).
    Refused,
    /// Nothing answered within the pool's timeout.
    TimedOut(std::time::Duration),
    /// The host name could not be resolved.
    NameNotResolved,
    /// Another network error, as the system put it.
    Other(String),
}

impl Unreachable {
    /// The cause of an error opening a connection.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))] // Only servers are reached.
    pub(crate) fn of(error: &std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::ConnectionRefused => Self::Refused,
            std::io::ErrorKind::TimedOut => Self::Other("timed out".to_owned()),
            // std's (and so tokio's) resolver errors carry no kind of their own.
            _ if error
                .to_string()
                .starts_with("failed to lookup address information") =>
            {
                Self::NameNotResolved
            }
            _ => Self::Other(error.to_string()),
        }
    }
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused => f.write_str("connection refused"),
            Self::TimedOut(after) => write!(f, "timed out (no answer within {after:?})"),
            Self::NameNotResolved => f.write_str("name not resolved"),
            Self::Other(error) => f.write_str(error),
        }
    }
}

impl Error {
    /// Whether this error means the database is unavailable for now rather than that
    /// something is wrong: the pool found no connection before its acquire timeout
    /// (the server is down, unreachable or out of connections) or was closed, the
    /// connection failed underneath (I/O, TLS), SQLite stayed locked past its busy
    /// timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`) or MySQL past its lock wait timeout
    /// (error 1205), or PostgreSQL or MySQL refused for a reason that passes
    /// (SQLSTATE class `08` connection exceptions, class `53` insufficient resources
    /// such as too many connections, `57P01`..`57P03` shutting down or starting up). The stores and directories report these as
    /// unavailable ([`TokenStore::is_unavailable`]), so that the web layer answers 503
    /// and `Retry-After` instead of 500.
    ///
    /// Everything else (a constraint violation, a corrupt row, a missing table, a
    /// failed migration) is a failure that waiting does not fix.
    ///
    /// [`TokenStore::is_unavailable`]: tokenauth_core::store::TokenStore::is_unavailable
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Sqlx(error) | Self::MigrationFailed { source: error, .. } => sqlx_unavailable(error),
            Self::Unreachable { .. } => true,
            _ => false,
        }
    }

    /// Whether PostgreSQL aborted the transaction as a serialization failure (40001)
    /// or a deadlock (40P01), or MySQL as a deadlock (error 1213, SQLSTATE 40001): it
    /// was rolled back whole and may run again as is. The PostgreSQL and MySQL stores
    /// retry these themselves, then report them as unavailable.
    pub fn is_transient_conflict(&self) -> bool {
        matches!(self, Self::Sqlx(sqlx::Error::Database(error))
            if error.code().is_some_and(|code| code_transient_conflict(&code)))
    }
}

fn sqlx_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            true
        }
        sqlx::Error::Database(error) => {
            error.code().is_some_and(|code| code_unavailable(&code)) || mysql_lock_wait(error.as_ref())
        }
        _ => false,
    }
}

/// Whether MySQL gave up waiting for a row lock (error 1205, past
/// `innodb_lock_wait_timeout`; its SQLSTATE, HY000, says nothing): busy, as SQLite's
/// `SQLITE_BUSY`.
#[cfg(feature = "mysql")]
fn mysql_lock_wait(error: &dyn sqlx::error::DatabaseError) -> bool {
    error
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some_and(|error| error.number() == 1205)
}

#[cfg(not(feature = "mysql"))]
fn mysql_lock_wait(_: &dyn sqlx::error::DatabaseError) -> bool {
    false
}

/// Whether a database error code (SQLite's extended result code as a number,
/// PostgreSQL's SQLSTATE) says "unavailable for now".
fn code_unavailable(code: &str) -> bool {
    // A SQLSTATE is always five characters, often all digits ("08006"); SQLite's
    // extended codes are numbers below 10,000, so never five digits long.
    let sqlstate = code.len() == 5;
    if !sqlstate && let Ok(sqlite) = code.parse::<i32>() {
        // The primary result code is the low byte of the extended one.
        const SQLITE_BUSY: i32 = 5;
        const SQLITE_LOCKED: i32 = 6;
        return matches!(sqlite & 0xff, SQLITE_BUSY | SQLITE_LOCKED);
    }
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03")
        || code_transient_conflict(code)
}

/// Whether a PostgreSQL SQLSTATE says the transaction was aborted for another one's
/// sake and may simply run again: a serialization failure or a deadlock.
fn code_transient_conflict(code: &str) -> bool {
    matches!(code, "40001" | "40P01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_connection_failures_are_unavailable() {
        assert!(Error::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(Error::from(sqlx::Error::PoolClosed).is_unavailable());
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(Error::from(sqlx::Error::Io(reset)).is_unavailable());
    }

    #[test]
    fn why_a_server_is_unreachable() {
        use std::io::{Error as Io, ErrorKind};
        let refused = Io::from(ErrorKind::ConnectionRefused);
        assert_eq!(Unreachable::of(&refused), Unreachable::Refused);
        // As std's resolver words it (its kind cannot be built outside std).
        let unresolved = Io::other("failed to lookup address information: Name or service not known");
        assert_eq!(Unreachable::of(&unresolved), Unreachable::NameNotResolved);
        let unreachable = Io::other("No route to host (os error 113)");
        assert_eq!(
            Unreachable::of(&unreachable).to_string(),
            "No route to host (os error 113)"
        );
        let error = Error::Unreachable {
            address: "db.internal:5432".to_owned(),
            cause: Unreachable::NameNotResolved,
        };
        assert_eq!(
            error.to_string(),
            "cannot reach the database at db.internal:5432: name not resolved"
        );
        assert!(error.is_unavailable());
        let timed_out = Unreachable::TimedOut(std::time::Duration::from_secs(1));
        assert_eq!(timed_out.to_string(), "timed out (no answer within 1s)");
    }

    #[test]
    fn bugs_and_corruption_are_not() {
        assert!(!Error::from(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!Error::Corrupt { what: "digest" }.is_unavailable());
        assert!(!Error::TimestampOutOfRange.is_unavailable());
        assert!(!Error::from(sqlx::Error::Protocol("unexpected message".into())).is_unavailable());
    }

    #[test]
    fn codes() {
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED, SQLITE_LOCKED_SHAREDCACHE.
        for busy in ["5", "517", "6", "262"] {
            assert!(code_unavailable(busy), "{busy}");
        }
        // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CORRUPT, SQLITE_ERROR.
        for failure in ["2067", "11", "1"] {
            assert!(!code_unavailable(failure), "{failure}");
        }
        // Connection failure, too many connections, admin shutdown, starting up.
        for pg in ["08006", "53300", "57P01", "57P03"] {
            assert!(code_unavailable(pg), "{pg}");
        }
        // Serialization failure and deadlock: retried, then unavailable (503).
        for pg in ["40001", "40P01"] {
            assert!(code_unavailable(pg) && code_transient_conflict(pg), "{pg}");
        }
        assert!(!code_transient_conflict("23505"));
        // Unique violation, undefined table, query cancelled.
        for pg in ["23505", "42P01", "57014"] {
            assert!(!code_unavailable(pg), "{pg}");
        }
    }
}
