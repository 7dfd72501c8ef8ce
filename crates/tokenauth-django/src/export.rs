//! Reading Django's users and DRF's tokens whole, for the move to tokenauth's own
//! schema (`tokenauth import-django`).

use std::fmt;

use time::OffsetDateTime;
use tokenauth_core::UserId;

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
use crate::{DjangoTables, Error, dialect::Execute};

/// A row of the user table as the move needs it. `Debug` does not show the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct DjangoUser {
    /// The primary key, which `authtoken_token.user_id` refers to: an integer in
    /// decimal, a UUID in lowercase `8-4-4-4-12` form.
    pub id: UserId,
    /// The login field's value (`USERNAME_FIELD`), exactly as stored.
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
    /// Its user's primary key, as [`DjangoUser::id`].
    pub user_id: UserId,
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

/// Every user and every token of the Django tables (see the dialect's
/// `connect_model`), read in one snapshot, users by id and tokens by user.
///
/// ```no_run
/// # async fn run() -> Result<(), tokenauth_django::Error> {
/// let model = tokenauth_django::UserModel::default();
/// let tables = tokenauth_django::sqlite::connect_model("sqlite:///srv/app/db.sqlite3", &model).await?;
/// let (users, tokens) = tokenauth_django::export(&tables).await?;
/// println!("{} users, {} tokens", users.len(), tokens.len());
/// # Ok(()) }
/// ```
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub async fn export<DB: Execute>(
    tables: &DjangoTables<DB>,
) -> Result<(Vec<DjangoUser>, Vec<DjangoToken>), Error> {
    let sql = tables.statements();
    let mut tx = tables.pool().begin_with(sql.begin_snapshot).await?;
    let users = DB::users(&mut tx, &sql.users_by_id, &[]).await?;
    let tokens = DB::tokens(&mut tx, &sql.export_tokens, &[], sql.key()).await?;
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
