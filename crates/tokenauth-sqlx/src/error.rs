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
    /// Running the migrations failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
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
