//! Reading Django's users and DRF's tokens whole, for the move to tokenauth's own
//! schema (`tokenauth import-django`).

use std::fmt;

use time::OffsetDateTime;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::Error;
#[cfg(feature = "sqlite")]
use crate::timestamp::from_django_text;

/// A row of `auth_user` as the move needs it. `Debug` does not show the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct DjangoUser {
    /// `auth_user.id`, which `authtoken_token.user_id` refers to.
    pub id: i64,
    /// The login name, exactly as stored.
    pub username: String,
    /// Django's password hash as stored (`pbkdf2_sha256$...`, `!...` when unusable).
    pub password: String,
    /// Whether the user may authenticate.
    pub is_active: bool,
}

impl fmt::Debug for DjangoUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DjangoUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("is_active", &self.is_active)
            .finish()
    }
}

/// A row of `authtoken_token`. `Debug` does not show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct DjangoToken {
    /// The 40-hex key, in plaintext as DRF stores it.
    pub key: String,
    /// `auth_user.id` of its user.
    pub user_id: i64,
    /// When it was created (UTC).
    pub created: OffsetDateTime,
}

impl fmt::Debug for DjangoToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DjangoToken")
            .field("key", &"[redacted]")
            .field("user_id", &self.user_id)
            .field("created", &self.created)
            .finish()
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn user((id, username, password, is_active): (i64, String, String, bool)) -> DjangoUser {
    DjangoUser {
        id,
        username,
        password,
        is_active,
    }
}

/// Every user and every token of the Django SQLite database behind `pool` (see
/// [`connect_sqlite`](crate::connect_sqlite)), read in one transaction.
#[cfg(feature = "sqlite")]
pub async fn export_sqlite(pool: &sqlx::SqlitePool) -> Result<(Vec<DjangoUser>, Vec<DjangoToken>), Error> {
    let mut tx = pool.begin().await?;
    let users: Vec<(i64, String, String, bool)> =
        sqlx::query_as(r#"SELECT "id", "username", "password", "is_active" FROM "auth_user" ORDER BY "id""#)
            .fetch_all(&mut *tx)
            .await?;
    let tokens: Vec<(String, String, i64)> =
        sqlx::query_as(r#"SELECT "key", "created", "user_id" FROM "authtoken_token" ORDER BY "user_id""#)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    let tokens = tokens
        .into_iter()
        .map(|(key, created, user_id)| {
            Ok(DjangoToken {
                key,
                user_id,
                created: from_django_text(&created)?,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok((users.into_iter().map(user).collect(), tokens))
}

/// Every user and every token of the Django PostgreSQL database behind `pool` (see
/// [`connect_postgres`](crate::connect_postgres)), read in one snapshot.
#[cfg(feature = "postgres")]
pub async fn export_postgres(pool: &sqlx::PgPool) -> Result<(Vec<DjangoUser>, Vec<DjangoToken>), Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let users: Vec<(i64, String, String, bool)> = sqlx::query_as(
        r#"SELECT "id"::int8, "username", "password", "is_active" FROM "auth_user" ORDER BY "id""#,
    )
    .fetch_all(&mut *tx)
    .await?;
    let tokens: Vec<(String, OffsetDateTime, i64)> = sqlx::query_as(
        r#"SELECT "key", "created", "user_id"::int8 FROM "authtoken_token" ORDER BY "user_id""#,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let tokens = tokens
        .into_iter()
        .map(|(key, created, user_id)| DjangoToken {
            key,
            user_id,
            created,
        })
        .collect();
    Ok((users.into_iter().map(user).collect(), tokens))
}
