//! What the conformance suites of every backend share.

// Each test crate that includes this module uses what it needs of it.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use tokenauth_core::store::{
    Change, Committed, Ended, ImportedUsers, LoginRecord, NewUser, PurgeBounds, Settings, TokenDigest,
    TokenImport, TokenRecord, TokenSet, TokenStore, Usage, UserAdmin, UserDirectory, UserImport,
};
use tokenauth_core::{TokenId, UserId};

/// A store or directory together with what its database needs to stay alive and be
/// cleaned up afterwards (`G`: a temporary directory, a schema): the guard lives
/// exactly as long as the test's value. It delegates every verb to the store.
pub struct Temp<T, G> {
    pub inner: T,
    pub guard: G,
}

impl<T: TokenStore, G: Send + Sync + 'static> TokenStore for Temp<T, G> {
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
}

impl<T: Settings, G: Send + Sync + 'static> Settings for Temp<T, G> {
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

impl<T: UserDirectory, G: Send + Sync + 'static> UserDirectory for Temp<T, G> {
    type User = T::User;
    type Error = T::Error;

    async fn find_user(&self, id: &UserId) -> Result<Option<T::User>, T::Error> {
        self.inner.find_user(id).await
    }

    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<T::User>>, T::Error> {
        self.inner.find_login(username).await
    }

    async fn rehash_password(&self, id: &UserId, old_hash: &str, new_hash: &str) -> Result<bool, T::Error> {
        self.inner.rehash_password(id, old_hash, new_hash).await
    }
}

impl<T: UserAdmin, G: Send + Sync + 'static> UserAdmin for Temp<T, G> {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_active: bool,
    ) -> Result<Option<T::User>, T::Error> {
        self.inner.create_user(username, password_hash, is_active).await
    }

    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<Option<T::User>, T::Error> {
        self.inner.set_password_hash(id, password_hash).await
    }

    async fn bump_credential_version(&self, id: &UserId) -> Result<Option<T::User>, T::Error> {
        self.inner.bump_credential_version(id).await
    }

    async fn set_active(&self, id: &UserId, is_active: bool) -> Result<Option<T::User>, T::Error> {
        self.inner.set_active(id, is_active).await
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<T::User>, T::Error> {
        self.inner.find_by_username(username).await
    }

    async fn list_users(&self) -> Result<Vec<T::User>, T::Error> {
        self.inner.list_users().await
    }

    async fn delete_user(&self, id: &UserId) -> Result<Option<T::User>, T::Error> {
        self.inner.delete_user(id).await
    }
}

impl<T: TokenImport, G: Send + Sync + 'static> TokenImport for Temp<T, G> {
    async fn import_tokens(&self, batch: &[TokenRecord]) -> Result<usize, T::Error> {
        self.inner.import_tokens(batch).await
    }
}

impl<T: UserImport, G: Send + Sync + 'static> UserImport for Temp<T, G> {
    async fn import_users(&self, batch: &[NewUser]) -> Result<ImportedUsers, T::Error> {
        self.inner.import_users(batch).await
    }
}
