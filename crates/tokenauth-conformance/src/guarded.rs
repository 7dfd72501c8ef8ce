//! A store or directory with what its database needs to stay alive until a case ends.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;

use tokenauth_core::store::{
    Capabilities, Change, Committed, DirectoryCapabilities, Ended, ImportedUsers, LoginRecord, NewUser,
    PurgeBounds, Settings, TokenDigest, TokenImport, TokenRecord, TokenSet, TokenStore, Usage, UserAdmin,
    UserDirectory, UserImport,
};
use tokenauth_core::{TokenId, User, UserId};

/// A store or directory (`inner`) together with what its database needs to stay alive
/// and be cleaned up afterwards (`guard`: a temporary directory, a database dropped on
/// drop), so that a suite's `make` can give one value that lives exactly as long as
/// the case. It delegates every verb, and the declarations of what it holds, to
/// `inner`.
#[derive(Debug)]
pub struct Guarded<T, G> {
    /// The store or directory.
    pub inner: T,
    /// Kept until the value is dropped, after `inner`.
    pub guard: G,
}

impl<T, G> Guarded<T, G> {
    /// `inner`, keeping `guard` alive as long as it.
    pub fn new(inner: T, guard: G) -> Self {
        Self { inner, guard }
    }
}

impl<T: TokenStore, G: Send + Sync + 'static> TokenStore for Guarded<T, G> {
    type Error = T::Error;

    async fn token_set(&self, user: &UserId) -> Result<TokenSet, T::Error> {
        self.inner.token_set(user).await
    }

    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, T::Error> {
        self.inner.commit(user, expected, change).await
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, T::Error> {
        self.inner.find_by_digest(digest).await
    }

    async fn find_to_authenticate(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Option<Arc<TokenRecord>>, T::Error> {
        self.inner.find_to_authenticate(digest, now).await
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, T::Error> {
        self.inner.find_by_id(id).await
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, T::Error> {
        self.inner.list(user).await
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, T::Error> {
        self.inner.delete(id).await
    }

    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, T::Error> {
        self.inner.delete_for_user(user, keep).await
    }

    async fn record_usage(&self, uses: &[Usage]) -> Result<(), T::Error> {
        self.inner.record_usage(uses).await
    }

    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, T::Error> {
        self.inner.purge(bounds, limit).await
    }

    fn is_unavailable(error: &T::Error) -> bool {
        T::is_unavailable(error)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn retain(&self, retention: std::time::Duration, refresh: bool) -> Result<(), T::Error> {
        self.inner.retain(retention, refresh).await
    }

    async fn ping(&self) -> Result<(), T::Error> {
        self.inner.ping().await
    }
}

impl<T: Settings, G: Send + Sync + 'static> Settings for Guarded<T, G> {
    type Error = T::Error;

    async fn settings(&self, prefix: &str) -> Result<BTreeMap<String, String>, T::Error> {
        self.inner.settings(prefix).await
    }

    async fn replace_settings(
        &self,
        prefix: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<(), T::Error> {
        self.inner.replace_settings(prefix, values).await
    }
}

impl<T: UserDirectory, G: Send + Sync + 'static> UserDirectory for Guarded<T, G> {
    type User = T::User;
    type Error = T::Error;

    async fn find_user(&self, id: &UserId) -> Result<Option<T::User>, T::Error> {
        self.inner.find_user(id).await
    }

    async fn find_user_to_authenticate(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<T::User>, T::Error> {
        self.inner.find_user_to_authenticate(id, now).await
    }

    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<T::User>>, T::Error> {
        self.inner.find_login(username).await
    }

    async fn rehash_password(&self, id: &UserId, old_hash: &str, new_hash: &str) -> Result<bool, T::Error> {
        self.inner.rehash_password(id, old_hash, new_hash).await
    }

    fn is_unavailable(error: &T::Error) -> bool {
        T::is_unavailable(error)
    }

    async fn ping(&self) -> Result<(), T::Error> {
        self.inner.ping().await
    }
}

impl<T: UserAdmin, G: Send + Sync + 'static> UserAdmin for Guarded<T, G> {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_active: bool,
    ) -> Result<Option<User>, T::Error> {
        self.inner.create_user(username, password_hash, is_active).await
    }

    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<Option<User>, T::Error> {
        self.inner.set_password_hash(id, password_hash).await
    }

    async fn bump_credential_version(&self, id: &UserId) -> Result<Option<User>, T::Error> {
        self.inner.bump_credential_version(id).await
    }

    async fn set_active(&self, id: &UserId, is_active: bool) -> Result<Option<User>, T::Error> {
        self.inner.set_active(id, is_active).await
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, T::Error> {
        self.inner.find_by_username(username).await
    }

    async fn list_users(&self) -> Result<Vec<User>, T::Error> {
        self.inner.list_users().await
    }

    async fn delete_user(&self, id: &UserId) -> Result<Option<User>, T::Error> {
        self.inner.delete_user(id).await
    }

    fn directory_capabilities(&self) -> DirectoryCapabilities {
        self.inner.directory_capabilities()
    }
}

impl<T: TokenImport, G: Send + Sync + 'static> TokenImport for Guarded<T, G> {
    async fn import_tokens(&self, batch: &[TokenRecord]) -> Result<usize, T::Error> {
        self.inner.import_tokens(batch).await
    }
}

impl<T: UserImport, G: Send + Sync + 'static> UserImport for Guarded<T, G> {
    async fn import_users(&self, batch: &[NewUser]) -> Result<ImportedUsers, T::Error> {
        self.inner.import_users(batch).await
    }
}
