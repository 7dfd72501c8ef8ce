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
    /// The user's credential version: it changes whenever the password changes (and
    /// when everything of the user is revoked). Each token keeps the version it was
    /// issued under, and a token whose version differs from its user's is refused as
    /// `Invalid token`: no clock decides it. Default: always 0, for directories whose
    /// passwords never change under tokenauth.
    fn credential_version(&self) -> u64 {
        0
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
    /// The credential version ([`AuthUser::credential_version`]).
    #[serde(skip)]
    pub credential_version: u64,
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

    fn credential_version(&self) -> u64 {
        self.credential_version
    }
}

/// A user as found for a login: the user and its stored password hash, which core
/// verifies ([`TokenAuth::obtain`](crate::TokenAuth::obtain)).
///
/// `Debug` does not show the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRecord<U> {
    /// The user, active or not.
    pub user: U,
    /// The stored hash, as a PHC string (`$argon2id$v=19$...`).
    pub password_hash: String,
}

impl<U: fmt::Debug> fmt::Debug for LoginRecord<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRecord")
            .field("user", &self.user)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

/// Where users and their password hashes live: what authentication and login read.
///
/// Directories only store and find; password policy (verification, at least the dummy's
/// work for unknown users and failed checks, re-hashing outdated hashes) is in core,
/// written once.
/// tokenauth ships an argon2id SQL directory (`tokenauth-sqlx`) and an in-memory one
/// ([`MemoryUserDirectory`](crate::MemoryUserDirectory)); implement this trait (and
/// [`UserAdmin`](crate::store::UserAdmin) if tokenauth should manage users) to use your
/// application's own users.
///
/// # Example
///
/// A directory over an application's existing users table, with its own user type:
///
/// ```
/// use std::collections::HashMap;
///
/// use tokenauth_core::{AuthUser, UserId};
/// use tokenauth_core::store::{LoginRecord, UserDirectory};
///
/// #[derive(Debug, Clone)]
/// struct Member {
///     id: i64,
///     email: String,
///     display_name: String,
///     disabled: bool,
///     /// Bumped by the app whenever the password changes.
///     password_generation: u64,
/// }
///
/// impl AuthUser for Member {
///     fn id(&self) -> UserId { UserId::from(self.id) }
///     fn username(&self) -> &str { &self.email }
///     fn is_active(&self) -> bool { !self.disabled }
///     fn credential_version(&self) -> u64 { self.password_generation }
/// }
///
/// /// Stands in for a table: id -> (member, argon2id hash).
/// struct Members(HashMap<i64, (Member, String)>);
///
/// impl UserDirectory for Members {
///     type User = Member;
///     type Error = std::convert::Infallible;
///
///     async fn find_user(&self, id: &UserId) -> Result<Option<Member>, Self::Error> {
///         let id: Option<i64> = id.as_str().parse().ok();
///         Ok(id.and_then(|id| self.0.get(&id)).map(|(m, _)| m.clone()))
///     }
///
///     async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<Member>>, Self::Error> {
///         let found = self.0.values().find(|(m, _)| m.email == username);
///         Ok(found.map(|(m, hash)| LoginRecord { user: m.clone(), password_hash: hash.clone() }))
///     }
/// }
/// ```
pub trait UserDirectory: Send + Sync + 'static {
    /// The user type handed to handlers.
    type User: AuthUser;
    /// What can go wrong in the backend.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The user with this id, active or not; `None` if there is none (deleted).
    fn find_user(&self, id: &UserId) -> impl Future<Output = Result<Option<Self::User>, Self::Error>> + Send;

    /// The user `id` as authentication reads it, on every request, at `now` by the
    /// service's clock. Directories keep the default, [`find_user`](Self::find_user); a
    /// decorator that keeps lookups in memory
    /// ([`TokenAuth::with_cache`](crate::TokenAuth::with_cache)) answers from there
    /// while its entry is fresh at `now`. Every other read by id (the credential
    /// version a token is issued under) goes to the directory itself.
    fn find_user_to_authenticate(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Self::User>, Self::Error>> + Send {
        let _ = now;
        self.find_user(id)
    }

    /// [`find_user_to_authenticate`](Self::find_user_to_authenticate), given what the
    /// store read of the user with the token
    /// ([`TokenStore::find_with_user_to_authenticate`](crate::store::TokenStore::find_with_user_to_authenticate)):
    /// a directory that recognizes it as its own row answers from it without reading.
    /// Directories keep the default, which ignores it.
    fn find_prefetched_user_to_authenticate(
        &self,
        id: &UserId,
        now: OffsetDateTime,
        prefetched: crate::store::PrefetchedUser,
    ) -> impl Future<Output = Result<Option<Self::User>, Self::Error>> + Send {
        drop(prefetched);
        self.find_user_to_authenticate(id, now)
    }

    /// The user whose username is exactly `username` (case-sensitive, not trimmed),
    /// active or not, with its stored password hash; `None` if there is none.
    fn find_login(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<LoginRecord<Self::User>>, Self::Error>> + Send;

    /// Replaces the password hash of user `id` with `new_hash` (the same password,
    /// hashed with current parameters), if it is still `old_hash`; whether it did.
    /// Tokens must stay valid. A directory whose credential version is derived from
    /// the stored hash (Django's) sees it change here: after a rehash, core reads the
    /// login again ([`find_login`](Self::find_login)) and, if the hash stored then is
    /// of the password verified, goes on under the version read then.
    ///
    /// Core calls it after a successful login whose hash used outdated parameters.
    /// The default does nothing, for directories tokenauth may only read.
    fn rehash_password(
        &self,
        id: &UserId,
        old_hash: &str,
        new_hash: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        let _ = (id, old_hash, new_hash);
        async { Ok(false) }
    }

    /// Whether `error` means the directory is unavailable for now (down, unreachable,
    /// out of connections, locked past its busy timeout) rather than failing; see
    /// [`TokenStore::is_unavailable`](crate::store::TokenStore::is_unavailable). Default:
    /// never.
    fn is_unavailable(error: &Self::Error) -> bool {
        let _ = error;
        false
    }

    /// Checks that the directory answers, for readiness probes
    /// ([`TokenAuth::ready`](crate::TokenAuth::ready)). The default looks up the
    /// username `""`, which no login can use, with [`find_login`](Self::find_login):
    /// one round trip through the contract. Override it only with something cheaper
    /// that still reaches the backend.
    fn ping(&self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async {
            self.find_login("").await?;
            Ok(())
        }
    }
}
