//! A store wrapper for tests: it counts what reaches the store.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokenauth_core::store::{
    Capabilities, Change, Committed, Ended, PurgeBounds, TokenDigest, TokenRecord, TokenSet, TokenStore,
    Usage,
};
use tokenauth_core::{TokenId, UserId};

/// A store wrapper that counts what reaches the store: digest and id lookups (to show
/// that garbage never does) and the last-used times written (to show there is no write
/// per request). Usage writes can also be held back, and other work slipped in after a
/// lookup or before a commit, to look at what readers see while a write is in flight
/// and what a commit finds after a race. Deletes can be resent, as a driver does after
/// a lost reply.
#[derive(Debug, Clone, Default)]
pub struct CountingStore<S> {
    inner: S,
    lookups: Arc<AtomicUsize>,
    usage_writes: Arc<Mutex<Vec<TokenId>>>,
    usage_gate: Arc<tokio::sync::RwLock<()>>,
    after_lookup: Arc<Mutex<Option<Interlude>>>,
    before_commit: Arc<Mutex<Option<Interlude>>>,
    resend_deletes: Arc<AtomicBool>,
}

/// Work run inside the next digest lookup or commit.
struct Interlude(Pin<Box<dyn Future<Output = ()> + Send>>);

impl fmt::Debug for Interlude {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Interlude")
    }
}

impl<S> CountingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            lookups: Arc::default(),
            usage_writes: Arc::default(),
            usage_gate: Arc::default(),
            after_lookup: Arc::default(),
            before_commit: Arc::default(),
            resend_deletes: Arc::default(),
        }
    }

    /// From now on, runs every delete twice and answers what the second run found
    /// (nothing): what a caller sees when its driver resent a delete whose reply was
    /// lost, as redis-rs does on a cluster's response timeout.
    pub fn resend_deletes(&self) {
        self.resend_deletes.store(true, Ordering::SeqCst);
    }

    fn resending(&self) -> bool {
        self.resend_deletes.load(Ordering::SeqCst)
    }

    /// Runs `then` to completion inside the next digest lookup, after it has read the
    /// store and before it returns: the caller gets the record as it was before `then`.
    pub fn after_next_lookup(&self, then: impl Future<Output = ()> + Send + 'static) {
        *self.after_lookup.lock().unwrap_or_else(|e| e.into_inner()) = Some(Interlude(Box::pin(then)));
    }

    /// Runs `then` to completion inside the next commit, before it reaches the store:
    /// the caller decided the change on what it read before `then`.
    pub fn before_next_commit(&self, then: impl Future<Output = ()> + Send + 'static) {
        *self.before_commit.lock().unwrap_or_else(|e| e.into_inner()) = Some(Interlude(Box::pin(then)));
    }

    /// Holds every [`TokenStore::record_usage`] call until the guard is dropped.
    pub async fn hold_usage_writes(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        Arc::clone(&self.usage_gate).write_owned().await
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Digest and id lookups so far.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    /// The ids in every [`TokenStore::record_usage`] batch so far (held back or not), in
    /// order.
    pub fn usage_writes(&self) -> Vec<TokenId> {
        self.usage_writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl<S: TokenStore> TokenStore for CountingStore<S> {
    type Error = S::Error;

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn retain(&self, retention: std::time::Duration, refresh: bool) -> Result<(), Self::Error> {
        self.inner.retain(retention, refresh).await
    }

    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Self::Error> {
        self.inner.token_set(user).await
    }

    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Self::Error> {
        let interlude = self
            .before_commit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(Interlude(then)) = interlude {
            then.await;
        }
        self.inner.commit(user, expected, change).await
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Self::Error> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let record = self.inner.find_by_digest(digest).await;
        let interlude = self.after_lookup.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(Interlude(then)) = interlude {
            then.await;
        }
        record
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Self::Error> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.find_by_id(id).await
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Self::Error> {
        self.inner.list(user).await
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Self::Error> {
        if self.resending() {
            self.inner.delete(id).await?;
        }
        self.inner.delete(id).await
    }

    async fn delete_for_user(
        &self,
        user: &UserId,
        keep: Option<&TokenId>,
    ) -> Result<Vec<Ended>, Self::Error> {
        if self.resending() {
            self.inner.delete_for_user(user, keep).await?;
        }
        self.inner.delete_for_user(user, keep).await
    }

    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Self::Error> {
        // Counted on arrival, so a test can see a write that is being held back.
        self.usage_writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(uses.iter().map(|u| u.id.clone()));
        let _open = self.usage_gate.read().await;
        self.inner.record_usage(uses).await
    }

    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Self::Error> {
        self.inner.purge(bounds, limit).await
    }
}
