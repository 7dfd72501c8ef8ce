//! The app's own users table, as tokenauth sees it: a `UserDirectory`.

use sqlx::PgPool;
use tokenauth::core::store::{LoginRecord, UserDirectory};
use tokenauth::{AuthUser, UserId};

/// A member, with fields tokenauth knows nothing about.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Member {
    pub(crate) id: i64,
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) disabled: bool,
    pub(crate) password_generation: i64,
}

impl AuthUser for Member {
    fn id(&self) -> UserId {
        UserId::from(self.id)
    }
    /// Members log in with their email.
    fn username(&self) -> &str {
        &self.email
    }
    fn is_active(&self) -> bool {
        !self.disabled
    }
    fn credential_version(&self) -> u64 {
        self.password_generation.unsigned_abs()
    }
}

/// The `members` table.
#[derive(Debug, Clone)]
pub(crate) struct Members(pub(crate) PgPool);

const MEMBER: &str = "SELECT id, email, display_name, disabled, password_generation FROM members";

impl UserDirectory for Members {
    type User = Member;
    type Error = sqlx::Error;

    async fn find_user(&self, id: &UserId) -> Result<Option<Member>, sqlx::Error> {
        let Ok(id) = id.as_str().parse::<i64>() else {
            return Ok(None);
        };
        sqlx::query_as(&format!("{MEMBER} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.0)
            .await
    }

    async fn find_login(&self, email: &str) -> Result<Option<LoginRecord<Member>>, sqlx::Error> {
        let row: Option<(i64, String, String, bool, i64, String)> = sqlx::query_as(
            "SELECT id, email, display_name, disabled, password_generation, password_hash \
             FROM members WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.0)
        .await?;
        Ok(row.map(
            |(id, email, display_name, disabled, password_generation, password_hash)| LoginRecord {
                user: Member {
                    id,
                    email,
                    display_name,
                    disabled,
                    password_generation,
                },
                password_hash,
            },
        ))
    }
}
