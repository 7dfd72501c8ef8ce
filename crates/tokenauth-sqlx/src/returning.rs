//! [`Dialect::delete_tokens`] and [`Dialect::write_user`] on the dialects with
//! `RETURNING` on every write (SQLite, PostgreSQL): each one statement of
//! [`Returning`], run as is.

use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

use crate::Error;
use crate::dialect::{Deletion, Dialect, UserWrite};
use crate::rows::{EndedRow, UserRow};
use crate::statements::Returning;

/// [`Dialect::delete_tokens`] as one `DELETE ... RETURNING`.
pub(crate) async fn delete_tokens<D: Dialect + Returning>(
    conn: &mut D::Connection,
    deletion: Deletion<'_, D::Time>,
) -> Result<Vec<EndedRow<D::Time>>, Error>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    usize: ColumnIndex<D::Row>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> Option<&'q str>: Encode<'q, D>,
    for<'q> Option<D::Time>: Encode<'q, D>,
    for<'q> String: Decode<'q, D> + Type<D>,
    for<'q> Vec<u8>: Decode<'q, D> + Type<D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
{
    let query = match deletion {
        Deletion::Token(id) => sqlx::query_as(D::DELETE_TOKEN).bind(id),
        Deletion::User { user, keep } => sqlx::query_as(D::DELETE_FOR_USER).bind(user).bind(keep),
        Deletion::Purge {
            created_before,
            expires_before,
            active_before,
            limit,
        } => sqlx::query_as(D::PURGE)
            .bind(created_before)
            .bind(expires_before)
            .bind(active_before)
            .bind(limit),
    };
    Ok(query.fetch_all(conn).await?)
}

/// [`Dialect::write_user`] as one statement with `RETURNING`.
pub(crate) async fn write_user<D: Dialect + Returning>(
    conn: &mut D::Connection,
    write: UserWrite<'_>,
) -> Result<Option<UserRow>, Error>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    usize: ColumnIndex<D::Row>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> String: Decode<'q, D> + Type<D>,
    for<'q> i64: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> bool: Encode<'q, D> + Decode<'q, D> + Type<D>,
{
    let query = match write {
        UserWrite::Create {
            username,
            password_hash,
            is_active,
        } => sqlx::query_as(D::CREATE_USER)
            .bind(username)
            .bind(password_hash)
            .bind(is_active),
        UserWrite::SetPasswordHash { id, password_hash } => {
            sqlx::query_as(D::SET_PASSWORD_HASH).bind(password_hash).bind(id)
        }
        UserWrite::BumpCredentialVersion { id } => sqlx::query_as(D::BUMP_CREDENTIAL_VERSION).bind(id),
        UserWrite::SetActive { id, is_active } => sqlx::query_as(D::SET_ACTIVE).bind(is_active).bind(id),
        UserWrite::Delete { id } => sqlx::query_as(D::DELETE_USER).bind(id),
    };
    Ok(query.fetch_optional(conn).await?)
}
