//! What differs between the SQL databases Django runs on, and the one way of running
//! a statement on any of them.
//!
//! A dialect ([`Dialect`]) is a table of statements ([`Statements`]) and how its
//! timestamp columns are stored; everything else (the verbs of the store and the
//! directory, the schema check, the export) is written once, over [`Execute`].

use std::future::Future;

use sqlx::{Arguments as _, ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use time::OffsetDateTime;

use crate::Error;
use crate::common::KeyRow;
use crate::export::DjangoUser;

/// The statements the store, the directory, the schema check and the export run, in
/// a dialect's spelling. Every statement names its columns. The arguments are listed
/// in the order they are bound; token rows are (`key`, `created`, `user_id` as a
/// 64-bit integer, the user's `password` or NULL) and user rows are (`id` as a 64-bit
/// integer, `username`, `is_active`, `password`).
#[derive(Debug)]
pub struct Statements {
    /// Begins a transaction that writes, and that no other writer may interleave
    /// with between its reads and its writes (with the row locks below).
    pub begin_write: &'static str,
    /// Begins a transaction that reads one consistent snapshot, for the export.
    pub begin_snapshot: &'static str,
    /// The (table, column) pairs of `auth_user` and `authtoken_token` as the
    /// connection finds them; no arguments.
    pub columns: &'static str,

    /// The token rows of a user (`user_id`).
    pub tokens_of_user: &'static str,
    /// The same, in a write transaction: locks the rows for update where the
    /// database locks rows.
    pub locked_tokens_of_user: &'static str,
    /// The token row with this key (`key`).
    pub token_by_key: &'static str,
    /// Every token row.
    pub all_tokens: &'static str,
    /// Every token row, without the password, by `user_id`: for the export.
    pub export_tokens: &'static str,
    /// Deletes the token with this key (`key`).
    pub delete_token: &'static str,
    /// The `password` of the user (`id`), in a commit: locks the user's row shared
    /// where the database locks rows, so that the password cannot change before the
    /// commit ends.
    pub password_for_commit: &'static str,
    /// Inserts a token (`key`, `created`, `user_id`), or nothing, affecting no row,
    /// when the user has a token already.
    pub insert_token: &'static str,
    /// Deletes at most `limit` tokens created before a time (`created`, `limit`) and
    /// returns their rows, the password NULL.
    pub purge_tokens: &'static str,

    /// The user row with this id (`id`).
    pub user_by_id: &'static str,
    /// The user row with this username, compared exactly (`username`).
    pub user_by_username: &'static str,
    /// Every user row, by `username`.
    pub users_by_username: &'static str,
    /// Every user row, by `id`: for the export.
    pub users_by_id: &'static str,
    /// The `password` of the user (`id`), its row locked for update where the database
    /// locks rows; none without such a user.
    pub lock_user: &'static str,
    /// Inserts a user as Django's `create_user` does (`password`, `username`,
    /// `is_active`, `date_joined`) and returns its row; nothing, and no row, when the
    /// username is taken.
    pub create_user: &'static str,
    /// Sets a user's password (`password`, `id`).
    pub set_password: &'static str,
    /// Sets a user's password only if it is still the old one (`new`, `id`, `old`).
    pub rehash_password: &'static str,
    /// Sets whether a user may authenticate (`is_active`, `id`) and returns its row.
    pub set_active: &'static str,
    /// Deletes the user's token (`user_id`).
    pub delete_tokens_of_user: &'static str,
    /// Deletes the user's rows in Django's own link tables, groups and permissions
    /// (`user_id`).
    pub delete_user_links: [&'static str; 2],
    /// Deletes the user (`id`).
    pub delete_user: &'static str,
}

/// A SQL database holding Django's tables: its statements and how it stores a time.
/// Implemented in the dialect's folder (`sqlite/dialect.rs`, `postgres/dialect.rs`);
/// sealed.
pub trait Dialect: sqlx::Database + sealed::Sealed {
    /// `Sqlite`, `Postgres`: how the dialect's public names begin (`SqliteStore`).
    const PREFIX: &'static str;
    /// The statements in this dialect's spelling.
    const SQL: Statements;
    /// How `created` and `date_joined` are stored.
    type Time: Send + Unpin + 'static;

    /// A time as Django stores it.
    fn to_stored(at: OffsetDateTime) -> Self::Time;
    /// A stored time; [`Error::Corrupt`] for one Django could not have written.
    fn from_stored(stored: Self::Time) -> Result<OffsetDateTime, Error>;
    /// How many rows a statement changed (sqlx has no trait for it).
    fn rows_affected(done: &Self::QueryResult) -> u64;
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
    /// A time, stored as the dialect stores it ([`Dialect::to_stored`]).
    Time(OffsetDateTime),
}

/// Runs a statement of a [`Dialect`] on one of its connections and decodes its rows:
/// the only place that knows sqlx's generic types, implemented once for every dialect
/// whose types bind and decode 64-bit integers, flags, text and its time.
pub trait Execute: Dialect {
    /// The token rows the statement returns.
    fn tokens(
        conn: &mut Self::Connection,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<KeyRow>, Error>> + Send;

    /// The user rows the statement returns.
    fn users(
        conn: &mut Self::Connection,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<DjangoUser>, Error>> + Send;

    /// The text of the first row's one column, if there is a row.
    fn text(
        conn: &mut Self::Connection,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// The pairs of text the statement returns.
    fn pairs(
        conn: &mut Self::Connection,
        sql: &'static str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, Error>> + Send;

    /// Runs the statement; how many rows it changed.
    fn execute(
        conn: &mut Self::Connection,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<u64, Error>> + Send;
}

/// `args` as the dialect binds them.
fn arguments<'q, DB>(args: &[Arg<'q>]) -> Result<DB::Arguments<'q>, Error>
where
    DB: Dialect,
    i64: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    DB::Time: Encode<'q, DB> + Type<DB>,
{
    let mut arguments = DB::Arguments::default();
    for arg in args {
        match *arg {
            Arg::Int(value) => arguments.add(value),
            Arg::Text(value) => arguments.add(value),
            Arg::Flag(value) => arguments.add(value),
            Arg::Time(at) => arguments.add(DB::to_stored(at)),
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
    usize: ColumnIndex<DB::Row>,
{
    async fn tokens(
        conn: &mut DB::Connection,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<KeyRow>, Error> {
        let rows: Vec<(String, DB::Time, i64, Option<String>)> =
            sqlx::query_as_with(sql, arguments::<DB>(args)?)
                .fetch_all(conn)
                .await?;
        rows.into_iter()
            .map(|(key, created, user_id, password)| {
                Ok(KeyRow::new(
                    key,
                    user_id,
                    DB::from_stored(created)?,
                    password.as_deref(),
                ))
            })
            .collect()
    }

    async fn users(
        conn: &mut DB::Connection,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<DjangoUser>, Error> {
        let rows: Vec<(i64, String, bool, String)> = sqlx::query_as_with(sql, arguments::<DB>(args)?)
            .fetch_all(conn)
            .await?;
        let user = |(id, username, is_active, password)| DjangoUser {
            id,
            username,
            password,
            is_active,
        };
        Ok(rows.into_iter().map(user).collect())
    }

    async fn text(
        conn: &mut DB::Connection,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<String>, Error> {
        let row: Option<(String,)> = sqlx::query_as_with(sql, arguments::<DB>(args)?)
            .fetch_optional(conn)
            .await?;
        Ok(row.map(|(text,)| text))
    }

    async fn pairs(conn: &mut DB::Connection, sql: &'static str) -> Result<Vec<(String, String)>, Error> {
        Ok(sqlx::query_as_with(sql, arguments::<DB>(&[])?)
            .fetch_all(conn)
            .await?)
    }

    async fn execute(conn: &mut DB::Connection, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, Error> {
        let done = sqlx::query_with(sql, arguments::<DB>(args)?)
            .execute(conn)
            .await?;
        Ok(DB::rows_affected(&done))
    }
}
