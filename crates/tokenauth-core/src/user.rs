//! Users: who tokens belong to, and where they come from.

use std::fmt;
use std::future::Future;

use time::OffsetDateTime;

/// A user's id, as the [`UserDirectory`] knows it.
///
/// It is text so that any key fits: an integer primary key is stored as its decimal
/// form (`UserId::from(42)`), a UUID as its usual spelling.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    /// A user id from its text form.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<i64> for UserId {
    fn from(id: i64) -> Self {
        Self(id.to_string())
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// What tokenauth needs to know about a user.
///
/// Implement it for your own user type to receive that type in handlers.
pub trait AuthUser: Clone + Send + Sync + 'static {
    /// The user's id.
    fn id(&self) -> UserId;
    /// The name the user logs in with.
    fn username(&self) -> &str;
    /// Whether the user may authenticate. Tokens of inactive users are refused with
    /// `User inactive or deleted`.
    fn is_active(&self) -> bool;
    /// When the user's password last changed. Tokens issued before it are refused as
    /// `Invalid token`. Store it in the same write as the new password hash, and no old
    /// token works from the moment the change commits. Default: never.
    fn password_changed(&self) -> Option<OffsetDateTime> {
        None
    }
}

/// A plain user record, for directories that have nothing more to offer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Id.
    #[serde(skip)]
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Whether the user may authenticate.
    #[serde(skip)]
    pub is_active: bool,
    /// When the password last changed, if known.
    #[serde(skip)]
    pub password_changed: Option<OffsetDateTime>,
}

impl AuthUser for User {
    fn id(&self) -> UserId {
        self.id.clone()
    }

    fn username(&self) -> &str {
        &self.username
    }

    fn is_active(&self) -> bool {
        self.is_active
    }

    fn password_changed(&self) -> Option<OffsetDateTime> {
        self.password_changed
    }
}

/// Where users and their passwords live.
///
/// tokenauth ships an argon2id SQL directory (`tokenauth-sqlx`) and an in-memory one
/// ([`MemoryUserDirectory`](crate::MemoryUserDirectory)); implement this trait to use
/// your application's own users.
pub trait UserDirectory: Send + Sync + 'static {
    /// The user type handed to handlers.
    type User: AuthUser;
    /// What can go wrong in the backend.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The user with this id, active or not; `None` if there is none (deleted).
    fn find_user(&self, id: &UserId) -> impl Future<Output = Result<Option<Self::User>, Self::Error>> + Send;

    /// The user whose username is exactly `username` (case-sensitive, not trimmed) and
    /// whose password is `password`, active or not; `None` otherwise.
    ///
    /// Implementations must spend the same time on an unknown username as on a wrong
    /// password (verify against a dummy hash), so that response times do not reveal
    /// which usernames exist.
    fn verify_credentials(
        &self,
        username: &str,
        password: &str,
    ) -> impl Future<Output = Result<Option<Self::User>, Self::Error>> + Send;
}
