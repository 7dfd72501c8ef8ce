//! Managing users: the storage verbs an administrator (the CLI, an admin API) needs.

use std::future::Future;

use crate::user::{User, UserDirectory, UserId};

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
}
