//! Managing users: the storage verbs an administrator (the CLI, an admin API) needs.

use std::future::Future;

use crate::user::{User, UserDirectory, UserId};

/// What a directory's users can hold, declared by
/// [`UserAdmin::directory_capabilities`].
///
/// tokenauth's own directories hold everything ([`DirectoryCapabilities::ALL`]). A
/// directory over another program's table may hold less (Django's `auth_user` has no
/// credential-version column), and says so here, so that what depends on it (the
/// conformance suite's cases) can tell what to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryCapabilities {
    /// A credential version of the directory's own, kept beside the password hash: a
    /// new user starts at 0, [`UserAdmin::bump_credential_version`] changes it without
    /// a new password, and a re-hash ([`UserDirectory::rehash_password`]) keeps it.
    ///
    /// Without one, a user's version is derived from its stored hash (Django's is a
    /// digest of `auth_user.password`, as Django has no column to keep one in): the
    /// same hash gives the same version, any new hash gives a new one (a re-hash
    /// included, which core allows for by reading the login again), and a bump cannot
    /// change it (it can only end the user's tokens).
    pub credential_versions: bool,
}

impl DirectoryCapabilities {
    /// Everything a [`User`] says: what tokenauth's own directories hold.
    pub const ALL: Self = Self {
        credential_versions: true,
    };

    /// Whether this directory holds everything `needed` holds.
    pub fn covers(&self, needed: &DirectoryCapabilities) -> bool {
        self.credential_versions || !needed.credential_versions
    }
}

/// A directory whose users tokenauth may create and change.
///
/// Like [`UserDirectory`], it only stores: the decisions (hashing, whether a password
/// is new, which tokens a change ends) are made by
/// [`TokenAuth`](crate::TokenAuth)'s admin verbs
/// ([`upsert_user`](crate::TokenAuth::upsert_user),
/// [`change_password`](crate::TokenAuth::change_password),
/// [`set_active`](crate::TokenAuth::set_active),
/// [`revoke_everything`](crate::TokenAuth::revoke_everything),
/// [`delete_user`](crate::TokenAuth::delete_user)), which also end the tokens and
/// signal caches. Use those rather than calling this trait directly.
///
/// Every verb is one atomic write. A directory is done when it passes the
/// conformance suite (`tokenauth_conformance::user_directory_conformance!`, a
/// dev-dependency).
///
/// # Example
///
/// A directory over a `Vec` behind a lock (the shipped
/// [`MemoryUserDirectory`](crate::MemoryUserDirectory) indexes by username):
///
#[doc = concat!("```\n", include_str!("../doc/vec_users.rs"), "```")]
pub trait UserAdmin: UserDirectory<User = User> {
    /// Creates a user with this password hash, credential version 0; `None` (and
    /// nothing written) if the username is taken.
    fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_active: bool,
    ) -> impl Future<Output = Result<Option<User>, Self::Error>> + Send;

    /// Sets the password hash of user `id` and changes its credential version (to a
    /// value it never had), in one write; the user as stored now, or `None` if there is
    /// no such user.
    fn set_password_hash(
        &self,
        id: &UserId,
        password_hash: &str,
    ) -> impl Future<Output = Result<Option<User>, Self::Error>> + Send;

    /// Changes the credential version of user `id` (to a value it never had), ending
    /// every token issued before; the user, or `None`.
    fn bump_credential_version(
        &self,
        id: &UserId,
    ) -> impl Future<Output = Result<Option<User>, Self::Error>> + Send;

    /// Sets whether user `id` may authenticate; the user, or `None`.
    fn set_active(
        &self,
        id: &UserId,
        is_active: bool,
    ) -> impl Future<Output = Result<Option<User>, Self::Error>> + Send;

    /// The user named exactly `username`, active or not.
    fn find_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<User>, Self::Error>> + Send;

    /// Every user, ordered by username.
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, Self::Error>> + Send;

    /// Deletes user `id`; the user deleted, or `None`. Its id is never given to
    /// another user, so tokens left behind can never authenticate as someone else.
    fn delete_user(&self, id: &UserId) -> impl Future<Output = Result<Option<User>, Self::Error>> + Send;

    /// What the directory's users can hold. Default: [`DirectoryCapabilities::ALL`]; a
    /// directory that holds less says so (a wrapper forwards its inner directory's
    /// declaration).
    fn directory_capabilities(&self) -> DirectoryCapabilities {
        DirectoryCapabilities::ALL
    }
}
