//! Reading Django's users and DRF's tokens whole, for the move to tokenauth's own
//! schema (`tokenauth import-django`).

use std::fmt;

use time::OffsetDateTime;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::{Error, dialect::Execute};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use sqlx::Pool;

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

/// Every user and every token of the Django database behind `pool` (see the dialect's
/// `connect`), read in one snapshot, users by id and tokens by user.
///
/// ```no_run
/// # async fn run() -> Result<(), tokenauth_django::Error> {
/// let pool = tokenauth_django::sqlite::connect("sqlite:///srv/app/db.sqlite3").await?;
/// let (users, tokens) = tokenauth_django::export(&pool).await?;
/// println!("{} users, {} tokens", users.len(), tokens.len());
/// # Ok(()) }
/// ```
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn export<DB: Execute>(pool: &Pool<DB>) -> Result<(Vec<DjangoUser>, Vec<DjangoToken>), Error> {
    let mut tx = pool.begin_with(DB::BEGIN_SNAPSHOT).await?;
    let users = DB::users(&mut tx, DB::USERS_BY_ID, &[]).await?;
    let tokens = DB::tokens(&mut tx, DB::EXPORT_TOKENS, &[]).await?;
    tx.commit().await?;
    let tokens = tokens
        .into_iter()
        .map(|row| DjangoToken {
            key: row.key,
            user_id: row.user_id,
            created: row.created,
        })
        .collect();
    Ok((users, tokens))
}
