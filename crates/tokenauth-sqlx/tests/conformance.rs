//! The `tokenauth-core` contracts, run against `SqliteStore` and `SqliteUserDirectory`.
//!
//! Every case gets a fresh database file in its own temporary directory, opened with
//! `connect` (WAL, several connections), so the `concurrent_*` cases really commit on
//! concurrent connections, and the compare-and-swap is checked under real contention
//! for SQLite's write lock.

#![cfg(feature = "sqlite")]

use tempfile::TempDir;
use tokenauth_core::store::{Change, Committed, Ended, PurgeBounds, TokenSet};
use tokenauth_core::{
    LoginRecord, TokenDigest, TokenId, TokenRecord, TokenStore, Usage, User, UserAdmin, UserDirectory, UserId,
};
use tokenauth_sqlx::{Error, SqlitePool, SqliteStore, SqliteUserDirectory, connect};

/// A store or directory that owns the temporary directory of its database, so the
/// directory lives exactly as long as the test's value, and is removed afterwards.
struct Temp<T> {
    inner: T,
    _dir: TempDir,
}

/// `make` on a fresh, migrated database file in a new temporary directory.
async fn fresh<T>(make: fn(SqlitePool) -> T) -> Temp<T> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    let pool = connect(&url).await.expect("connect");
    Temp {
        inner: make(pool),
        _dir: dir,
    }
}

impl TokenStore for Temp<SqliteStore> {
    type Error = Error;

    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Error> {
        self.inner.token_set(user).await
    }

    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        self.inner.commit(user, expected, change).await
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        self.inner.find_by_digest(digest).await
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        self.inner.find_by_id(id).await
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Error> {
        self.inner.list(user).await
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Error> {
        self.inner.delete(id).await
    }

    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Error> {
        self.inner.delete_for_user(user, keep).await
    }

    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Error> {
        self.inner.record_usage(uses).await
    }

    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Error> {
        self.inner.purge(bounds, limit).await
    }
}

impl UserDirectory for Temp<SqliteUserDirectory> {
    type User = User;
    type Error = Error;

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        self.inner.find_user(id).await
    }

    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<User>>, Error> {
        self.inner.find_login(username).await
    }

    async fn rehash_password(&self, id: &UserId, old_hash: &str, new_hash: &str) -> Result<bool, Error> {
        self.inner.rehash_password(id, old_hash, new_hash).await
    }
}

impl UserAdmin for Temp<SqliteUserDirectory> {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_active: bool,
    ) -> Result<Option<User>, Error> {
        self.inner.create_user(username, password_hash, is_active).await
    }

    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<Option<User>, Error> {
        self.inner.set_password_hash(id, password_hash).await
    }

    async fn bump_credential_version(&self, id: &UserId) -> Result<Option<User>, Error> {
        self.inner.bump_credential_version(id).await
    }

    async fn set_active(&self, id: &UserId, is_active: bool) -> Result<Option<User>, Error> {
        self.inner.set_active(id, is_active).await
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, Error> {
        self.inner.find_by_username(username).await
    }

    async fn list_users(&self) -> Result<Vec<User>, Error> {
        self.inner.list_users().await
    }

    async fn delete_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        self.inner.delete_user(id).await
    }
}

mod tokens {
    tokenauth_core::token_store_conformance!(super::fresh(tokenauth_sqlx::SqliteStore::new));
}

mod users {
    tokenauth_core::user_directory_conformance!(super::fresh(tokenauth_sqlx::SqliteUserDirectory::new));
}
