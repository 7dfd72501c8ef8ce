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
    /// Something DRF's (or knox's) table has no column for: a token of another format
    /// than DRF's (`TokenFormat::drf`), a lifespan or scopes of its own, or a
    /// credential version.
    #[error("Django's token table cannot store {0}")]
    Unsupported(&'static str),
    /// The database lacks tables or columns tokenauth needs
    /// ([`check_schema`](crate::check_schema), [`DjangoTables::open`](crate::DjangoTables::open)).
    #[error(
        "not a Django database with DRF's authtoken app: {} (run Django's `migrate` with `rest_framework.authtoken` installed; for a custom user model, name its table and fields)",
        missing_list(.missing)
    )]
    Schema {
        /// Each table (`table auth_user`) or column (`column auth_user.password`)
        /// missing.
        missing: Vec<String>,
    },
    /// The database lacks tables or columns a store on knox's `knox_authtoken` needs
    /// ([`DjangoTables::open_knox`](crate::DjangoTables::open_knox)).
    #[error(
        "not a Django database with django-rest-knox: {} (run Django's `migrate` with `knox` installed; for a custom user model, name its table and fields)",
        missing_list(.missing)
    )]
    KnoxTables {
        /// Each table (`table knox_authtoken`) or column missing.
        missing: Vec<String>,
    },
    /// The user table's primary key has a type tokenauth does not read, or DRF's
    /// `user_id` has another type than the key.
    #[error(
        "{what}: tokenauth reads Django's integer, big integer and UUID primary keys (uuid, or char(32) on SQLite), which authtoken_token.user_id must follow"
    )]
    KeyType {
        /// The columns and their types.
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
    /// A table or column name of the user model that is not a plain SQL identifier.
    #[error(
        "`{name}` is not a table or column name tokenauth accepts: ASCII letters, digits and `_`, not starting with a digit, at most 63 characters"
    )]
    Identifier {
        /// The name as given.
        name: String,
    },
    /// The user table has NOT NULL columns without a default that tokenauth does not
    /// know how to fill: create users through Django.
    #[error(
        "cannot create a user in {table}: {} NOT NULL without a default, and tokenauth does not know what to write there (create users through Django)",
        listed_columns(.columns)
    )]
    CannotCreate {
        /// The user table.
        table: String,
        /// The columns.
        columns: Vec<String>,
    },
    /// The user model has no active column: every user is active, none can be
    /// deactivated here.
    #[error("the user model has no active flag: every user is active, and none can be deactivated")]
    NoActiveField,
    /// Other rows (of another Django app) still refer to the user: delete it through
    /// Django, which knows them.
    #[error("other tables still refer to this user; delete it through Django")]
    Referenced(#[source] sqlx::Error),
}

/// `a is missing; b is missing`.
fn missing_list(missing: &[String]) -> String {
    let each: Vec<String> = missing.iter().map(|what| format!("{what} is missing")).collect();
    each.join("; ")
}

/// `column a is`, `columns a and b are`, `columns a, b and c are`.
fn listed_columns(columns: &[String]) -> String {
    match columns {
        [] => "no column is".to_owned(),
        [one] => format!("column {one} is"),
        [init @ .., last] => format!("columns {} and {last} are", init.join(", ")),
    }
}
