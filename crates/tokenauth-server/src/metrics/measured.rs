//! Timing each call of a token store or user directory.

use super::*;

/// A token store or user directory whose calls are timed and whose errors are counted
/// ([`Metrics::measure`]). A call abandoned before it answers (the backend timeout) is
/// counted as an `unavailable` error, with the time it ran.
pub struct Measured<B> {
    pub(super) inner: Arc<B>,
    pub(super) name: &'static str,
    pub(super) metrics: Option<Metrics>,
}

impl<B> fmt::Debug for Measured<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Measured")
            .field("backend", &self.name)
            .finish_non_exhaustive()
    }
}

/// Records a call when it ends, or when it is dropped unfinished.
struct CallTimer<'a> {
    metrics: &'a Metrics,
    backend: &'static str,
    verb: &'static str,
    started: Instant,
    done: bool,
}

impl Drop for CallTimer<'_> {
    fn drop(&mut self) {
        if !self.done {
            let took = self.started.elapsed();
            self.metrics
                .call_ended(self.backend, self.verb, took, Some("unavailable"));
        }
    }
}

impl<B> Measured<B> {
    pub(super) async fn timed<T, E>(
        &self,
        verb: &'static str,
        is_unavailable: fn(&E) -> bool,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let Some(metrics) = &self.metrics else {
            return call.await;
        };
        let mut timer = CallTimer {
            metrics,
            backend: self.name,
            verb,
            started: Instant::now(),
            done: false,
        };
        let result = call.await;
        timer.done = true;
        let error = result.as_ref().err().map(|error| {
            if is_unavailable(error) {
                "unavailable"
            } else {
                "failed"
            }
        });
        metrics.call_ended(self.name, verb, timer.started.elapsed(), error);
        result
    }
}

impl<S: TokenStore> TokenStore for Measured<S> {
    type Error = S::Error;

    async fn token_set(&self, user: &UserId) -> Result<TokenSet, S::Error> {
        self.timed("token_set", S::is_unavailable, self.inner.token_set(user))
            .await
    }

    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, S::Error> {
        let call = self.inner.commit(user, expected, change);
        self.timed("commit", S::is_unavailable, call).await
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, S::Error> {
        let call = self.inner.find_by_digest(digest);
        self.timed("find_by_digest", S::is_unavailable, call).await
    }

    async fn find_to_authenticate(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Option<Arc<TokenRecord>>, S::Error> {
        let call = self.inner.find_to_authenticate(digest, now);
        self.timed("find_to_authenticate", S::is_unavailable, call).await
    }

    /// The same lookup as `find_to_authenticate`, counted as one.
    async fn find_with_user_to_authenticate(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Option<(Arc<TokenRecord>, PrefetchedUser)>, S::Error> {
        let call = self.inner.find_with_user_to_authenticate(digest, now);
        self.timed("find_to_authenticate", S::is_unavailable, call).await
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, S::Error> {
        self.timed("find_by_id", S::is_unavailable, self.inner.find_by_id(id))
            .await
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, S::Error> {
        self.timed("list", S::is_unavailable, self.inner.list(user)).await
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, S::Error> {
        self.timed("delete", S::is_unavailable, self.inner.delete(id))
            .await
    }

    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, S::Error> {
        let call = self.inner.delete_for_user(user, keep);
        self.timed("delete_for_user", S::is_unavailable, call).await
    }

    async fn record_usage(&self, uses: &[Usage]) -> Result<(), S::Error> {
        self.timed("record_usage", S::is_unavailable, self.inner.record_usage(uses))
            .await
    }

    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, S::Error> {
        self.timed("purge", S::is_unavailable, self.inner.purge(bounds, limit))
            .await
    }

    fn is_unavailable(error: &S::Error) -> bool {
        S::is_unavailable(error)
    }

    fn capabilities(&self) -> tokenauth_core::store::Capabilities {
        self.inner.capabilities()
    }

    async fn retain(&self, retention: Duration, refresh: bool) -> Result<(), S::Error> {
        let call = self.inner.retain(retention, refresh);
        self.timed("retain", S::is_unavailable, call).await
    }

    async fn ping(&self) -> Result<(), S::Error> {
        self.timed("ping", S::is_unavailable, self.inner.ping()).await
    }
}

impl<D: UserDirectory> UserDirectory for Measured<D> {
    type User = D::User;
    type Error = D::Error;

    async fn find_user(&self, id: &UserId) -> Result<Option<D::User>, D::Error> {
        self.timed("find_user", D::is_unavailable, self.inner.find_user(id))
            .await
    }

    async fn find_user_to_authenticate(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<D::User>, D::Error> {
        let call = self.inner.find_user_to_authenticate(id, now);
        self.timed("find_user_to_authenticate", D::is_unavailable, call)
            .await
    }

    /// Counted as `find_user_to_authenticate`, also when the directory answers from
    /// the row read with the token, without a query.
    async fn find_prefetched_user_to_authenticate(
        &self,
        id: &UserId,
        now: OffsetDateTime,
        prefetched: PrefetchedUser,
    ) -> Result<Option<D::User>, D::Error> {
        let call = self
            .inner
            .find_prefetched_user_to_authenticate(id, now, prefetched);
        self.timed("find_user_to_authenticate", D::is_unavailable, call)
            .await
    }

    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<D::User>>, D::Error> {
        self.timed("find_login", D::is_unavailable, self.inner.find_login(username))
            .await
    }

    async fn rehash_password(&self, id: &UserId, old_hash: &str, new_hash: &str) -> Result<bool, D::Error> {
        let call = self.inner.rehash_password(id, old_hash, new_hash);
        self.timed("rehash_password", D::is_unavailable, call).await
    }

    fn is_unavailable(error: &D::Error) -> bool {
        D::is_unavailable(error)
    }

    async fn ping(&self) -> Result<(), D::Error> {
        self.timed("ping", D::is_unavailable, self.inner.ping()).await
    }
}

/// The short name of a backend type, for the `backend` label: its type's name without
/// module paths, such as `SqlStore<Sqlite>` or `RedisStore`. Made once per backend.
pub fn backend_name<B>() -> &'static str {
    let mut name = String::new();
    let mut segment = String::new();
    for c in std::any::type_name::<B>().chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            name.push_str(segment.rsplit("::").next().unwrap_or_default());
            segment.clear();
            name.push(c);
        }
    }
    name.push_str(segment.rsplit("::").next().unwrap_or_default());
    // Two per server (the store and the directory), for the process's life.
    Box::leak(name.into_boxed_str())
}
