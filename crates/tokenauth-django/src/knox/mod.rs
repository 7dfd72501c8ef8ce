//! django-rest-knox's tokens (`knox_authtoken`): served live on the Django database
//! ([`KnoxStore`], [`knox_auth`](crate::knox_auth): `tokenauth serve --schema django
//! --django-tokens knox`), or read whole, with Django's users, for the move to
//! tokenauth's own schema (`tokenauth import-django --django-tokens knox`).
//!
//! Knox keeps no token, only its hex SHA-512 (`digest`, the primary key), the token's
//! first 15 characters (`token_key`, which knox looks rows up by), `created`, an
//! optional `expiry` (NULL when `TOKEN_TTL` is `None`) and `user_id`. The digest
//! covers the whole token, `token_key` included, so it is what an import keeps
//! ([`TokenDigest::from_knox_digest`](tokenauth_core::store::TokenDigest::from_knox_digest)).

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod store;

use std::fmt;

use time::OffsetDateTime;
use tokenauth_core::UserId;

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
use sqlx::{ColumnIndex, Decode, Executor, IntoArguments, Pool, Type};

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
use crate::{DjangoUser, Error, dialect::Execute};

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use store::{KnoxStore, MIN_REFRESH_INTERVAL};

/// A row of `knox_authtoken`. `Debug` does not show the digest.
#[derive(Clone, PartialEq, Eq)]
pub struct KnoxToken {
    /// Knox's hex digest of the token (SHA-512 by default: 128 lowercase hex
    /// characters).
    pub digest: String,
    /// Its user: `auth_user.id` in decimal, as [`DjangoUser::id`] holds it.
    pub user_id: UserId,
    /// When it was created (UTC).
    pub created: OffsetDateTime,
    /// When knox stops accepting it (it accepts it while `expiry >= now`); `None`:
    /// never.
    pub expiry: Option<OffsetDateTime>,
}

impl fmt::Debug for KnoxToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnoxToken")
            .field("digest", &"[redacted]")
            .field("user_id", &self.user_id)
            .field("created", &self.created)
            .field("expiry", &self.expiry)
            .finish()
    }
}

/// A row of [`select_tokens`]: `digest`, `created`, `user_id`, `expiry`.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
type KnoxRow<DB> = (
    String,
    <DB as crate::Dialect>::Time,
    String,
    Option<<DB as crate::Dialect>::Time>,
);

/// The users of Django's stock `auth_user`, as [`Execute::users`] reads them (id as
/// text, username, active flag, hash), in dialect `DB`'s spelling.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn select_users<DB: Execute>() -> String {
    let text = DB::TEXT;
    DB::spell(format!(
        r#"SELECT CAST("id" AS {text}), "username", "is_active", "password" FROM "auth_user" ORDER BY "id""#
    ))
}

/// The columns of `knox_authtoken` read, and `created`'s and `expiry`'s order.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn select_tokens<DB: Execute>() -> String {
    let text = DB::TEXT;
    DB::spell(format!(
        r#"SELECT "digest", "created", CAST("user_id" AS {text}), "expiry"
    FROM "knox_authtoken" ORDER BY "user_id", "created""#
    ))
}

/// Fails, on any database, unless `knox_authtoken` has every column knox 5 creates.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
const CHECK_TOKENS: &str = r#"SELECT "digest", "token_key", "created", "expiry", "user_id"
    FROM "knox_authtoken" WHERE 1 = 0"#;

/// Fails unless `auth_user` has the columns the export reads.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
const CHECK_USERS: &str = r#"SELECT "id", "username", "is_active", "password" FROM "auth_user" WHERE 1 = 0"#;

/// Checks that the database behind `pool` has Django's `auth_user` and knox's
/// `knox_authtoken` with the columns read; [`Error::KnoxSchema`] names the table.
/// DRF's `authtoken_token` is not needed. The dialects' `connect_knox` run it.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub async fn check_knox_schema<DB>(pool: &Pool<DB>) -> Result<(), Error>
where
    DB: Execute,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let mut conn = pool.acquire().await?;
    for (sql, table) in [(CHECK_USERS, "auth_user"), (CHECK_TOKENS, "knox_authtoken")] {
        match sqlx::query(&DB::spell(sql.to_owned())).execute(&mut *conn).await {
            Ok(_) => {}
            // The database's own words (no such table or column) stay the source.
            Err(sqlx::Error::Database(source)) => {
                return Err(Error::KnoxSchema {
                    table,
                    source: sqlx::Error::Database(source),
                });
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

/// Every user and every knox token of the Django database behind `pool` (see the
/// dialects' `connect_knox`), read in one snapshot, users by id and tokens by user.
///
/// ```no_run
/// # async fn run() -> Result<(), tokenauth_django::Error> {
/// let pool = tokenauth_django::sqlite::connect_knox("sqlite:///srv/app/db.sqlite3").await?;
/// let (users, tokens) = tokenauth_django::knox::export(&pool).await?;
/// println!("{} users, {} knox tokens", users.len(), tokens.len());
/// # Ok(()) }
/// ```
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub async fn export<DB>(pool: &Pool<DB>) -> Result<(Vec<DjangoUser>, Vec<KnoxToken>), Error>
where
    DB: Execute,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> DB::Time: Decode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let mut tx = pool.begin_with(DB::BEGIN_SNAPSHOT).await?;
    let users = DB::users(&mut tx, &select_users::<DB>(), &[]).await?;
    let rows: Vec<KnoxRow<DB>> = sqlx::query_as(&select_tokens::<DB>()).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let tokens = rows
        .into_iter()
        .map(|(digest, created, user_id, expiry)| {
            Ok(KnoxToken {
                digest,
                user_id: UserId::new(user_id),
                created: DB::from_time(created)?,
                expiry: expiry.map(DB::from_time).transpose()?,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok((users, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_digest() {
        let token = KnoxToken {
            digest: "ab".repeat(64),
            user_id: UserId::new("1"),
            created: OffsetDateTime::UNIX_EPOCH,
            expiry: None,
        };
        assert!(!format!("{token:?}").contains("abab"));
    }
}
