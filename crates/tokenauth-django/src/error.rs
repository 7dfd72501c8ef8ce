//! What can go wrong on Django's tables.

/// An error of the Django store or directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed: connection, query, constraint (such as a key that is
    /// already taken) or decoding error.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// A row read back does not hold a valid value (a `created` that is not a date, a
    /// key that is not 40 lowercase hex characters).
    #[error("malformed row in Django's tables: {what}")]
    Corrupt {
        /// What is wrong with the row.
        what: &'static str,
    },
    /// Something DRF's table has no column for: a token of another format than DRF's
    /// (`TokenFormat::drf`), a lifespan or scopes of its own, or a credential version.
    #[error("Django's authtoken_token table cannot store {0}")]
    Unsupported(&'static str),
    /// The database lacks a table or column tokenauth needs ([`check_schema`](crate::check_schema)).
    #[error(
        "not a Django database with DRF's authtoken app: {what} is missing (run Django's `migrate` with `rest_framework.authtoken` installed)"
    )]
    Schema {
        /// The table or `table.column` missing.
        what: String,
    },
    /// The database lacks Django's `auth_user` or knox's `knox_authtoken`, or a column
    /// of theirs that is read ([`knox::check_knox_schema`](crate::knox::check_knox_schema)).
    #[error(
        "not a Django database with django-rest-knox: {table} or one of its columns is missing (run Django's `migrate` with `knox` installed)"
    )]
    KnoxSchema {
        /// The table whose check failed.
        table: &'static str,
        /// The database's answer.
        #[source]
        source: sqlx::Error,
    },
    /// Other rows (of another Django app) still refer to the user: delete it through
    /// Django, which knows them.
    #[error("other tables still refer to this user; delete it through Django")]
    Referenced(#[source] sqlx::Error),
}
