//! MySQL's and MariaDB's statements: every shared one, spelled with `?` parameters,
//! with the names stored as bytes (`VARBINARY`) read back as text, and the times of
//! the purge compared through the `last_active` column the database keeps.
//!
//! The verbs with `RETURNING` elsewhere ([`Returning`](crate::statements::Returning))
//! are `dialect.rs`'s: MySQL has no `RETURNING`.

use sqlx::MySql;

use crate::statements::Statements;

/// What a [`Row`](crate::rows::Row) reads, in its order: the columns of
/// `token_columns!`, the names converted to text (a `VARBINARY` column comes back as
/// bytes). Not aliased, so that `ORDER BY id` still orders by the stored bytes.
macro_rules! token_columns {
    () => {
        "CONVERT(id USING utf8mb4), digest, CONVERT(user_id USING utf8mb4), credential_version, \
         name, scopes, created, expires, last_used, last_ip"
    };
}

/// What a [`UserRow`](crate::rows::UserRow) reads, in its order.
macro_rules! user_columns {
    () => {
        "id, CONVERT(username USING utf8mb4), is_active, credential_version"
    };
}
pub(super) use user_columns;

/// What an [`EndedRow`](crate::rows::EndedRow) reads, in its order.
macro_rules! ended_columns {
    () => {
        "CONVERT(id USING utf8mb4), digest, CONVERT(user_id USING utf8mb4), created"
    };
}
pub(super) use ended_columns;

/// A query reading token rows, with `$rest` appended.
macro_rules! select_tokens {
    ($rest:literal) => {
        concat!("SELECT ", token_columns!(), " FROM tokenauth_tokens ", $rest)
    };
}

/// A query reading user rows, with `$rest` appended.
macro_rules! select_users {
    ($rest:literal) => {
        concat!("SELECT ", user_columns!(), " FROM tokenauth_users ", $rest)
    };
}

impl Statements for MySql {
    const SET_VERSION: &'static str = "SELECT version FROM tokenauth_token_sets WHERE user_id = ?";
    const USER_RECORDS: &'static str = select_tokens!("WHERE user_id = ? ORDER BY created, id");
    const ALL_RECORDS: &'static str = select_tokens!("ORDER BY created, id");
    const FIND_BY_DIGEST: &'static str = select_tokens!("WHERE digest = ?");
    const FIND_BY_ID: &'static str = select_tokens!("WHERE id = ?");
    const INSERT_TOKEN: &'static str = concat!(
        "INSERT INTO tokenauth_tokens (",
        crate::rows::token_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    const EXPORT_TOKENS: &'static str = select_tokens!("WHERE id > ? ORDER BY id LIMIT ?");
    const EXPORT_TOKEN_SETS: &'static str =
        "SELECT CONVERT(user_id USING utf8mb4), version FROM tokenauth_token_sets ORDER BY user_id";

    const FIND_USER: &'static str = select_users!("WHERE id = ?");
    const FIND_LOGIN: &'static str = concat!(
        "SELECT ",
        user_columns!(),
        ", CONVERT(password_hash USING utf8mb4) FROM tokenauth_users WHERE username = ?"
    );
    const LIST_USERS: &'static str = select_users!("ORDER BY username");
    const EXPORT_USERS: &'static str = concat!(
        "SELECT ",
        user_columns!(),
        ", CONVERT(password_hash USING utf8mb4) FROM tokenauth_users WHERE id > ? ORDER BY id LIMIT ?"
    );
    /// The stored hash is bytes: compared exactly.
    const REHASH_PASSWORD: &'static str =
        "UPDATE tokenauth_users SET password_hash = ? WHERE id = ? AND password_hash = ?";
    /// `key` is a reserved word; a binary `key` makes `LOCATE` compare bytes.
    const SETTINGS: &'static str = "SELECT CONVERT(`key` USING utf8mb4), value FROM tokenauth_settings \
         WHERE LOCATE(?, `key`) = 1";
}
