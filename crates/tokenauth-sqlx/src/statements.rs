//! The SQL of the verbs written once ([`SqlStore`](crate::store::SqlStore),
//! [`SqlUserDirectory`](crate::users::SqlUserDirectory)): one table, each statement
//! with its default text.
//!
//! The defaults are the SQL that SQLite and PostgreSQL both read: `$1`, `$2`...
//! parameters (SQLite takes `$N` as the N-th argument too), `RETURNING`,
//! `ON CONFLICT`, `IS DISTINCT FROM`. A dialect overrides what it spells otherwise.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::rows::returning_ended;
use crate::rows::{token_columns, user_columns};

/// A query reading token rows ([`Row`](crate::rows::Row)), with `$rest` (a `WHERE` or
/// `ORDER BY` clause) appended.
macro_rules! select_tokens {
    ($rest:literal) => {
        concat!("SELECT ", token_columns!(), " FROM tokenauth_tokens ", $rest)
    };
}

/// A query reading user rows ([`UserRow`](crate::rows::UserRow)), with `$rest`
/// appended.
macro_rules! select_users {
    ($rest:literal) => {
        concat!("SELECT ", user_columns!(), " FROM tokenauth_users ", $rest)
    };
}

/// Each statement of the verbs written once, as a dialect spells it. Overriding a
/// default must keep its parameters (in order) and the columns it reads.
pub trait Statements {
    /// A user's token-set version, by user id (`$1`).
    const SET_VERSION: &'static str = "SELECT version FROM tokenauth_token_sets WHERE user_id = $1";
    /// A user's records (`$1`), oldest first: what `token_set` and `list` read.
    const USER_RECORDS: &'static str = select_tokens!("WHERE user_id = $1 ORDER BY created, id");
    /// Every record, oldest first.
    const ALL_RECORDS: &'static str = select_tokens!("ORDER BY created, id");
    /// The record with digest `$1`.
    const FIND_BY_DIGEST: &'static str = select_tokens!("WHERE digest = $1");
    /// The record with id `$1`.
    const FIND_BY_ID: &'static str = select_tokens!("WHERE id = $1");
    /// Inserts a record, its columns as `$1` to `$10` in `token_columns!` order; a
    /// duplicate id or digest fails the UNIQUE constraints.
    const INSERT_TOKEN: &'static str = concat!(
        "INSERT INTO tokenauth_tokens (",
        token_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    /// Up to `$2` records with ids above `$1`, by id: a page of a copy.
    const EXPORT_TOKENS: &'static str = select_tokens!("WHERE id > $1 ORDER BY id LIMIT $2");
    /// Every token-set version, by user.
    const EXPORT_TOKEN_SETS: &'static str =
        "SELECT user_id, version FROM tokenauth_token_sets ORDER BY user_id";

    /// The user with id `$1`.
    const FIND_USER: &'static str = select_users!("WHERE id = $1");
    /// The user named `$1`, with its password hash.
    const FIND_LOGIN: &'static str = concat!(
        "SELECT ",
        user_columns!(),
        ", password_hash FROM tokenauth_users WHERE username = $1"
    );
    /// Every user, by username.
    const LIST_USERS: &'static str = select_users!("ORDER BY username");
    /// Up to `$2` users with ids above `$1`, by id, with their password hashes.
    const EXPORT_USERS: &'static str = concat!(
        "SELECT ",
        user_columns!(),
        ", password_hash FROM tokenauth_users WHERE id > $1 ORDER BY id LIMIT $2"
    );
    /// Replaces user `$2`'s hash `$3` by `$1`.
    const REHASH_PASSWORD: &'static str =
        "UPDATE tokenauth_users SET password_hash = $1 WHERE id = $2 AND password_hash = $3";
    /// The settings whose key starts with `$1`: exactly (`LIKE` would ignore ASCII case
    /// and need escaping).
    const SETTINGS: &'static str =
        "SELECT key, value FROM tokenauth_settings WHERE substr(key, 1, length($1)) = $1";
}

/// The statements with `RETURNING` that the verbs ending tokens and changing users run
/// as one statement, on the dialects that have it on `INSERT`, `UPDATE` and `DELETE`
/// (SQLite, PostgreSQL). A dialect without it (MySQL) does not implement this: its
/// [`Dialect::delete_tokens`](crate::dialect::Dialect::delete_tokens) and
/// [`Dialect::write_user`](crate::dialect::Dialect::write_user) read the rows and write
/// them in one transaction instead.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) trait Returning: Statements {
    /// Deletes the record with id `$1`, returning it.
    const DELETE_TOKEN: &'static str =
        concat!("DELETE FROM tokenauth_tokens WHERE id = $1", returning_ended!());
    /// Deletes user `$1`'s records but `$2` (NULL: all of them), returning them.
    const DELETE_FOR_USER: &'static str = concat!(
        "DELETE FROM tokenauth_tokens WHERE user_id = $1 AND id IS DISTINCT FROM $2",
        returning_ended!()
    );
    /// Deletes at most `$4` records matching `PurgeBounds`: `$1` (`created_before`),
    /// `$2` (`expires_before`), `$3` (`active_before`, or NULL), returning them.
    ///
    /// Every term of the `OR` is answered by an index (`tokenauth_tokens_created`,
    /// `_expires`, `_last_active`), so no call scans the table. A NULL bound or column
    /// makes its term NULL, which selects nothing, as in `PurgeBounds::matches`.
    const PURGE: &'static str = concat!(
        "DELETE FROM tokenauth_tokens WHERE id IN (\
         SELECT id FROM tokenauth_tokens \
         WHERE created < $1 OR expires < $2 OR COALESCE(last_used, created) < $3 \
         LIMIT $4)",
        returning_ended!()
    );

    /// Creates user `$1` with hash `$2` and active flag `$3`, returning it; no row if
    /// the name is taken.
    const CREATE_USER: &'static str = concat!(
        "INSERT INTO tokenauth_users (username, password_hash, is_active) VALUES ($1, $2, $3) \
         ON CONFLICT (username) DO NOTHING RETURNING ",
        user_columns!()
    );
    /// Sets user `$2`'s hash to `$1` and adds 1 to its credential version, returning it.
    const SET_PASSWORD_HASH: &'static str = concat!(
        "UPDATE tokenauth_users SET password_hash = $1, credential_version = credential_version + 1 \
         WHERE id = $2 RETURNING ",
        user_columns!()
    );
    /// Adds 1 to user `$1`'s credential version, returning it.
    const BUMP_CREDENTIAL_VERSION: &'static str = concat!(
        "UPDATE tokenauth_users SET credential_version = credential_version + 1 WHERE id = $1 RETURNING ",
        user_columns!()
    );
    /// Sets user `$2`'s active flag to `$1`, returning it.
    const SET_ACTIVE: &'static str = concat!(
        "UPDATE tokenauth_users SET is_active = $1 WHERE id = $2 RETURNING ",
        user_columns!()
    );
    /// Deletes user `$1`, returning it.
    const DELETE_USER: &'static str = concat!(
        "DELETE FROM tokenauth_users WHERE id = $1 RETURNING ",
        user_columns!()
    );
}
