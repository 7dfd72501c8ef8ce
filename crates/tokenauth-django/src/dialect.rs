//! What differs between the SQL databases Django runs on, and the one way of running
//! a statement on any of them.
//!
//! A dialect ([`Dialect`]) is its statements ([`Statements`]: most are shared) and
//! how its timestamp columns are stored; everything else (the verbs of the store and
//! the directory, the schema check, the export) is written once, over [`Execute`].

use std::future::Future;

use sqlx::{Arguments as _, ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use time::OffsetDateTime;
use tokenauth_core::UserId;

use crate::Error;
use crate::common::KeyRow;
use crate::export::DjangoUser;
use crate::keys::KeyKind;
use crate::schema::Column;
use crate::statements::Spelling;

/// A SQL database that [`DjangoStore`](crate::DjangoStore) and
/// [`DjangoUserDirectory`](crate::DjangoUserDirectory) run on: SQLite, PostgreSQL, or
/// MySQL and MariaDB.
///
/// Sealed: a dialect is added in this crate (see the crate docs, "Adding a
/// dialect"), in its folder (`sqlite/dialect.rs`, `postgres/dialect.rs`,
/// `mysql/dialect.rs`): the
/// SQL it spells its own way, and how it stores a time.
pub trait Dialect: sqlx::Database + Spelling + sealed::Sealed {
    /// What `Debug` calls the store and the directory (`SqliteStore { .. }`).
    const STORE: &'static str;
    /// See [`STORE`](Self::STORE).
    const DIRECTORY: &'static str;
    /// How `created` and `date_joined` are stored.
    type Time: Send + Unpin + 'static;

    /// A time as Django stores it.
    fn to_time(at: OffsetDateTime) -> Self::Time;
    /// A stored time; [`Error::Corrupt`] for one Django could not have written.
    fn from_time(stored: Self::Time) -> Result<OffsetDateTime, Error>;
    /// How many rows the statement that gave `done` changed (sqlx has no trait for it).
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Whether `error` is the refusal of the unique column `conflict` that
    /// `Spelling::insert_or_nothing` leaves to the driver (MySQL's plain `INSERT`):
    /// the statement then affected no row, and the transaction goes on. None by
    /// default: `ON CONFLICT DO NOTHING`.
    fn is_duplicate(_error: &sqlx::Error, _conflict: &str) -> bool {
        false
    }

    /// Whether `error` means the database rolled the whole transaction back (MySQL's
    /// deadlock victim), so that nothing of it was applied.
    fn rolled_back(_error: &sqlx::Error) -> bool {
        false
    }
}

pub(crate) mod sealed {
    /// Only the dialects of this crate.
    pub trait Sealed {}
}

/// A value bound to a statement.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// An id or a count.
    Int(i64),
    /// A key, a username or a password hash.
    Text(&'a str),
    /// A flag (`is_active`).
    Flag(bool),
    /// A time, stored as the dialect stores it ([`Dialect::to_time`]).
    Time(OffsetDateTime),
    /// No time: NULL in a time column (knox's `expiry`, never).
    NullTime,
}

/// Runs a statement of a [`Dialect`] on one of its connections and decodes its rows:
/// the only place that knows sqlx's generic types, implemented once for every dialect
/// whose types bind and decode 64-bit integers, flags, text and its time.
pub trait Execute: Dialect {
    /// The token rows the statement returns, their ids made for keys of `kind`.
    fn tokens(
        conn: &mut Self::Connection,
        sql: &str,
        args: &[Arg<'_>],
        kind: KeyKind,
    ) -> impl Future<Output = Result<Vec<KeyRow>, Error>> + Send;

    /// The token rows the statement returns (as [`tokens`](Self::tokens)), each with
    /// the user row it reads after them (key, login, active flag), if it found one.
    fn tokens_with_users(
        conn: &mut Self::Connection,
        sql: &str,
        args: &[Arg<'_>],
        kind: KeyKind,
    ) -> impl Future<Output = Result<Vec<(KeyRow, Option<DjangoUser>)>, Error>> + Send;

    /// The user rows the statement returns.
    fn users(
        conn: &mut Self::Connection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<DjangoUser>, Error>> + Send;

    /// The text of the first row's one column, if there is a row.
    fn text(
        conn: &mut Self::Connection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// The catalogue's columns the statement returns (table, column, type, NOT NULL,
    /// has a default, in the primary key).
    fn columns(
        conn: &mut Self::Connection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<Column>, Error>> + Send;

    /// Runs the statement; how many rows it changed.
    fn execute(
        conn: &mut Self::Connection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Runs an insert of [`Spelling::insert_or_nothing`]: how many rows it inserted,
    /// none when the unique column `conflict` holds its value already.
    fn insert(
        conn: &mut Self::Connection,
        sql: &str,
        args: &[Arg<'_>],
        conflict: &str,
    ) -> impl Future<Output = Result<u64, Error>> + Send;
}

/// A token row as the statements read it: key (knox: digest), `created`, `user_id` as
/// text, the user's `password` (NULL where not joined), knox's `expiry` (NULL on DRF's
/// table).
type TokenRow<DB> = (
    String,
    <DB as Dialect>::Time,
    String,
    Option<String>,
    Option<<DB as Dialect>::Time>,
);

/// [`TokenRow`], then its user's key, login and active flag (NULL without a user).
type TokenUserRow<DB> = (
    String,
    <DB as Dialect>::Time,
    String,
    Option<String>,
    Option<<DB as Dialect>::Time>,
    Option<String>,
    Option<String>,
    Option<bool>,
);

/// The token row of these columns, its user a key of `kind`.
fn key_row<DB: Dialect>(
    (key, created, user_id, password, expires): TokenRow<DB>,
    kind: KeyKind,
) -> Result<KeyRow, Error> {
    let user_id = UserId::new(user_id);
    if kind.stored(&user_id).is_none() {
        return Err(Error::Corrupt {
            what: "a user_id that is not a key of the user table's type",
        });
    }
    let mut row = KeyRow::new(key, user_id, DB::from_time(created)?, password.as_deref(), kind);
    row.expires = expires.map(DB::from_time).transpose()?;
    Ok(row)
}

/// `args` as the dialect binds them.
fn arguments<'q, DB>(args: &[Arg<'q>]) -> Result<DB::Arguments<'q>, Error>
where
    DB: Dialect,
    i64: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    DB::Time: Encode<'q, DB> + Type<DB>,
    Option<DB::Time>: Encode<'q, DB>,
{
    let mut arguments = DB::Arguments::default();
    for arg in args {
        match *arg {
            Arg::Int(value) => arguments.add(value),
            Arg::Text(value) => arguments.add(value),
            Arg::Flag(value) => arguments.add(value),
            Arg::Time(at) => arguments.add(DB::to_time(at)),
            Arg::NullTime => arguments.add(None::<DB::Time>),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(arguments)
}

impl<DB> Execute for DB
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> DB::Time: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<DB::Time>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn tokens(
        conn: &mut DB::Connection,
        sql: &str,
        args: &[Arg<'_>],
        kind: KeyKind,
    ) -> Result<Vec<KeyRow>, Error> {
        let rows: Vec<TokenRow<DB>> = sqlx::query_as_with(sql, arguments::<DB>(args)?)
            .fetch_all(conn)
            .await?;
        rows.into_iter().map(|row| key_row::<DB>(row, kind)).collect()
    }

    async fn tokens_with_users(
        conn: &mut DB::Connection,
        sql: &str,
        args: &[Arg<'_>],
        kind: KeyKind,
    ) -> Result<Vec<(KeyRow, Option<DjangoUser>)>, Error> {
        let rows: Vec<TokenUserRow<DB>> = sqlx::query_as_with(sql, arguments::<DB>(args)?)
            .fetch_all(conn)
            .await?;
        rows.into_iter()
            .map(
                |(key, created, user_id, password, expires, id, username, is_active)| {
                    let user = match (id, username, is_active, password.clone()) {
                        (None, ..) => None,
                        (Some(id), Some(username), Some(is_active), Some(password)) => Some(DjangoUser {
                            id: UserId::new(id),
                            username,
                            password,
                            is_active,
                        }),
                        (Some(_), ..) => {
                            return Err(Error::Corrupt {
                                what: "a user row with a NULL login, active flag or password",
                            });
                        }
                    };
                    let row = key_row::<DB>((key, created, user_id, password, expires), kind)?;
                    Ok((row, user))
                },
            )
            .collect()
    }

    async fn users(conn: &mut DB::Connection, sql: &str, args: &[Arg<'_>]) -> Result<Vec<DjangoUser>, Error> {
        let rows: Vec<(String, String, bool, String)> = sqlx::query_as_with(sql, arguments::<DB>(args)?)
            .fetch_all(conn)
            .await?;
        let user = |(id, username, is_active, password)| DjangoUser {
            id: UserId::new(id),
            username,
            password,
            is_active,
        };
        Ok(rows.into_iter().map(user).collect())
    }

    async fn text(conn: &mut DB::Connection, sql: &str, args: &[Arg<'_>]) -> Result<Option<String>, Error> {
        let row: Option<(String,)> = sqlx::query_as_with(sql, arguments::<DB>(args)?)
            .fetch_optional(conn)
            .await?;
        Ok(row.map(|(text,)| text))
    }

    async fn columns(conn: &mut DB::Connection, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Column>, Error> {
        let rows: Vec<(String, String, String, bool, bool, bool)> =
            sqlx::query_as_with(sql, arguments::<DB>(args)?)
                .fetch_all(conn)
                .await?;
        let column = |(table, name, type_name, not_null, has_default, primary)| Column {
            table,
            name,
            type_name,
            not_null,
            has_default,
            primary,
        };
        Ok(rows.into_iter().map(column).collect())
    }

    async fn execute(conn: &mut DB::Connection, sql: &str, args: &[Arg<'_>]) -> Result<u64, Error> {
        let done = sqlx::query_with(sql, arguments::<DB>(args)?)
            .execute(conn)
            .await?;
        Ok(DB::rows_affected(&done))
    }

    async fn insert(
        conn: &mut DB::Connection,
        sql: &str,
        args: &[Arg<'_>],
        conflict: &str,
    ) -> Result<u64, Error> {
        match sqlx::query_with(sql, arguments::<DB>(args)?).execute(conn).await {
            Ok(done) => Ok(DB::rows_affected(&done)),
            Err(error) if DB::is_duplicate(&error, conflict) => Ok(0),
            Err(error) => Err(error.into()),
        }
    }
}
