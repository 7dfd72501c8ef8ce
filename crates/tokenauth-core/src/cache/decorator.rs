//! The cache as a decorator: [`Cached`] stands in front of a store or a directory,
//! answers authentication's lookups from the cache, and applies every write that goes
//! through it; [`TokenAuth::with_cache`] puts it in front of both.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use super::AuthCache;
use super::entries::Lookup;
use crate::admin::UserAdmin;
use crate::record::TokenRecord;
use crate::service::TokenAuth;
use crate::store::{
    Capabilities, Change, Committed, DirectoryCapabilities, Ended, PrefetchedUser, PurgeBounds, TokenSet,
    TokenStore,
};
use crate::token::{TokenDigest, TokenId};
use crate::usage::Usage;
use crate::user::{LoginRecord, User, UserDirectory, UserId};

/// A store or a directory with an [`AuthCache`] in front: the backends of a service
/// made by [`TokenAuth::with_cache`], `TokenAuth<Cached<S>, Cached<D>>`.
///
/// It answers authentication's lookups
/// ([`find_to_authenticate`](TokenStore::find_to_authenticate),
/// [`find_user_to_authenticate`](UserDirectory::find_user_to_authenticate), and their
/// forms with a user read alongside the token) from the cache while fresh, and keeps
/// what the backend answers on a miss (but a user read alongside its token, which
/// answers that request only). Every other call
/// goes to the backend; a write, once it returns, has dropped what it ended or changed
/// (or, for written last-used times and new tokens, updated it). Reach the backend
/// itself with [`inner`](Self::inner).
pub struct Cached<T> {
    inner: Arc<T>,
    cache: AuthCache,
}

impl<T> Cached<T> {
    fn new(inner: Arc<T>, cache: &AuthCache) -> Self {
        Self {
            inner,
            cache: cache.clone(),
        }
    }

    /// The store or directory behind the cache.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The cache in front.
    pub fn cache(&self) -> &AuthCache {
        &self.cache
    }
}

impl<T: fmt::Debug> fmt::Debug for Cached<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("inner", &self.inner)
            .field("cache", &self.cache)
            .finish()
    }
}

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// Puts `cache` in front of the store and the directory, for authentication
    /// (default: none, every request looks the token and its user up). The service's
    /// store and directory become [`Cached`] ones; [`Cached::inner`] reaches them.
    ///
    /// Every change this service makes is seen by the very next request: its writes
    /// go through the cache, and the cache hears its revocations (it is one of its
    /// [listeners](Self::with_revocation_listener)). Changes made by other processes
    /// reach it only through a bus it [follows](AuthCache::follow), or after its TTL.
    /// Whether a token works is still decided on every request, with this service's
    /// clock, which also times the entries. See [`AuthCache`].
    ///
    /// ```
    /// # use tokenauth_core::{AuthCache, LocalBus, MemoryStore, MemoryUserDirectory, Publisher, TokenAuth};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Several processes: publish what this one ends, follow what all of them end.
    /// let bus = LocalBus::default(); // a PostgreSQL or Redis bus in production
    /// let cache = AuthCache::default();
    /// let following = cache.follow(&bus);
    /// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new())
    ///     .with_cache(cache)
    ///     .with_revocation_listener(Publisher::start(bus));
    /// # drop((auth, following));
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// If clones of this service are alive (handed to a layer, the routes, a
    /// maintenance task): they would go on without the cache, and their logouts would
    /// not reach it, so a revoked token would keep working here. Put the cache on
    /// first, then clone.
    pub fn with_cache(self, cache: AuthCache) -> TokenAuth<Cached<S>, Cached<D>> {
        let clones = Arc::strong_count(&self.store) - 1;
        assert!(
            clones == 0,
            "TokenAuth::with_cache: {clones} clone(s) of this TokenAuth are alive and would serve \
             without the cache (their logouts would not reach it): call with_cache before \
             cloning the TokenAuth for the layer, the routes or maintenance"
        );
        self.map_backends(
            |store| Cached::new(store, &cache),
            |users| Cached::new(users, &cache),
        )
        .with_revocation_listener(cache)
    }
}

impl<S: TokenStore> TokenStore for Cached<S> {
    type Error = S::Error;

    async fn find_to_authenticate(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Option<Arc<TokenRecord>>, S::Error> {
        let ticket = match self.cache.token(digest, now) {
            Lookup::Found(record) => return Ok(Some(record)),
            Lookup::Unknown => return Ok(None),
            Lookup::Miss(ticket) => ticket,
        };
        let record = self.inner.find_to_authenticate(digest, now).await?;
        self.cache.fill_token(digest, record.as_ref(), ticket, now);
        Ok(record)
    }

    /// A hit has no user with it; a miss passes on what the store read.
    async fn find_with_user_to_authenticate(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Option<(Arc<TokenRecord>, PrefetchedUser)>, S::Error> {
        let ticket = match self.cache.token(digest, now) {
            Lookup::Found(record) => return Ok(Some((record, PrefetchedUser::none()))),
            Lookup::Unknown => return Ok(None),
            Lookup::Miss(ticket) => ticket,
        };
        let found = self.inner.find_with_user_to_authenticate(digest, now).await?;
        self.cache
            .fill_token(digest, found.as_ref().map(|(record, _)| record), ticket, now);
        Ok(found)
    }

    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, S::Error> {
        let inserted = change.insert.as_ref().map(|record| record.digest);
        let committed = self.inner.commit(user, expected, change).await;
        // Whatever the answer (a failed reply may hide a landed write), a token with
        // this digest may exist now.
        if let Some(digest) = inserted {
            self.cache.created(&digest);
        }
        if let Ok(Committed::Applied { ended }) = &committed {
            self.cache.forget_ended(ended);
        }
        committed
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, S::Error> {
        // A delete that reports nothing (resent after a lost reply) names no digest:
        // the service's revocation, which this cache hears, does.
        let ended = self.inner.delete(id).await?;
        self.cache.forget_ended(ended.as_slice());
        Ok(ended)
    }

    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, S::Error> {
        let ended = self.inner.delete_for_user(user, keep).await?;
        self.cache.forget_ended(&ended);
        Ok(ended)
    }

    async fn record_usage(&self, uses: &[Usage]) -> Result<(), S::Error> {
        self.inner.record_usage(uses).await?;
        // Cached records must show the uses before the service's buffer forgets them.
        for usage in uses {
            self.cache.written(&usage.digest, usage.at, usage.ip);
        }
        Ok(())
    }

    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, S::Error> {
        let ended = self.inner.purge(bounds, limit).await?;
        self.cache.forget_ended(&ended);
        Ok(ended)
    }

    async fn token_set(&self, user: &UserId) -> Result<TokenSet, S::Error> {
        self.inner.token_set(user).await
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, S::Error> {
        self.inner.find_by_digest(digest).await
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, S::Error> {
        self.inner.find_by_id(id).await
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, S::Error> {
        self.inner.list(user).await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn retain(&self, retention: std::time::Duration, refresh: bool) -> Result<(), S::Error> {
        self.inner.retain(retention, refresh).await
    }

    fn is_unavailable(error: &S::Error) -> bool {
        S::is_unavailable(error)
    }

    async fn ping(&self) -> Result<(), S::Error> {
        self.inner.ping().await
    }
}

impl<D: UserDirectory> UserDirectory for Cached<D> {
    type User = D::User;
    type Error = D::Error;

    async fn find_user_to_authenticate(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<D::User>, D::Error> {
        if let Some(user) = self.cache.user::<D::User>(id, now) {
            return Ok(user);
        }
        let ticket = self.cache.ticket();
        let user = self.inner.find_user_to_authenticate(id, now).await?;
        self.cache.fill_user(id, &user, ticket, now);
        Ok(user)
    }

    /// A miss answers from what the store read with the token, without keeping it:
    /// that row was read before this miss's ticket was taken, so a change heard in
    /// between could be overwritten by it. The next request, served by the token's
    /// cached record, reads and keeps the user.
    async fn find_prefetched_user_to_authenticate(
        &self,
        id: &UserId,
        now: OffsetDateTime,
        prefetched: PrefetchedUser,
    ) -> Result<Option<D::User>, D::Error> {
        if !prefetched.is_some() {
            return self.find_user_to_authenticate(id, now).await;
        }
        if let Some(user) = self.cache.user::<D::User>(id, now) {
            return Ok(user);
        }
        self.inner
            .find_prefetched_user_to_authenticate(id, now, prefetched)
            .await
    }

    async fn rehash_password(&self, id: &UserId, old_hash: &str, new_hash: &str) -> Result<bool, D::Error> {
        // A directory may derive the credential version from the hash (Django's).
        let rehashed = self.inner.rehash_password(id, old_hash, new_hash).await;
        self.cache.forget_user(id);
        rehashed
    }

    async fn find_user(&self, id: &UserId) -> Result<Option<D::User>, D::Error> {
        self.inner.find_user(id).await
    }

    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<D::User>>, D::Error> {
        self.inner.find_login(username).await
    }

    fn is_unavailable(error: &D::Error) -> bool {
        D::is_unavailable(error)
    }

    async fn ping(&self) -> Result<(), D::Error> {
        self.inner.ping().await
    }
}

/// Every change to a user drops it, and its cached tokens, once the directory answers
/// (whatever it answers: a failed reply may hide a landed write). Reactivation too: a
/// cached inactive user would refuse its tokens until the entry's TTL.
impl<D: UserAdmin> UserAdmin for Cached<D> {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_active: bool,
    ) -> Result<Option<User>, D::Error> {
        // A new user's id was never cached: ids are not reused.
        self.inner.create_user(username, password_hash, is_active).await
    }

    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<Option<User>, D::Error> {
        let changed = self.inner.set_password_hash(id, password_hash).await;
        self.cache.forget_user(id);
        changed
    }

    async fn bump_credential_version(&self, id: &UserId) -> Result<Option<User>, D::Error> {
        let bumped = self.inner.bump_credential_version(id).await;
        self.cache.forget_user(id);
        bumped
    }

    async fn set_active(&self, id: &UserId, is_active: bool) -> Result<Option<User>, D::Error> {
        let changed = self.inner.set_active(id, is_active).await;
        self.cache.forget_user(id);
        changed
    }

    async fn delete_user(&self, id: &UserId) -> Result<Option<User>, D::Error> {
        let deleted = self.inner.delete_user(id).await;
        self.cache.forget_user(id);
        deleted
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, D::Error> {
        self.inner.find_by_username(username).await
    }

    async fn list_users(&self) -> Result<Vec<User>, D::Error> {
        self.inner.list_users().await
    }

    fn directory_capabilities(&self) -> DirectoryCapabilities {
        self.inner.directory_capabilities()
    }
}
