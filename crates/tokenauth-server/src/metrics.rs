//! Prometheus metrics (`/metrics`): what the service did (authentications, logins,
//! tokens issued and revoked), how its backends answered (latency and errors by
//! backend and verb, timed by [`Measured`] in front of each), and how it holds up (the
//! hashing queue, the cache, the revocation bus, connections).
//!
//! prometheus-client keeps each metric as atomics behind typed handles: an increment on
//! the request path is one atomic add, with no global recorder and no lookup by name.
//! Labels are closed sets (outcomes, reasons, verbs, backend types): never a user, a
//! token or an address.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use time::OffsetDateTime;
use tokenauth_core::store::{
    Change, Committed, Ended, LoginRecord, PurgeBounds, TokenDigest, TokenRecord, TokenSet, TokenStore,
    Usage, UserDirectory,
};
use tokenauth_core::{
    AuthCache, AuthEvent, AuthOutcome, EventHook, LoginOutcome, PasswordHasher, TokenId, UserId,
};
use tokio::sync::watch;

/// The service's metrics: one registry, rendered by [`Metrics::router`]. Cheap to
/// clone: clones share the metrics.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    authentications: [Counter; AuthOutcome::ALL.len()],
    logins: [Counter; LoginOutcome::ALL.len()],
    issued: Counter,
    revoked: Family<Reason, Counter>,
    calls: Family<Call, Histogram>,
    errors: Family<CallError, Counter>,
    connections: Gauge,
    shed: Family<Shed, Counter>,
    sources: Arc<Mutex<Sources>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Call {
    backend: &'static str,
    verb: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallError {
    backend: &'static str,
    verb: &'static str,
    /// `unavailable` (down, unreachable, timed out), or `failed`.
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Shed {
    /// `max_connections` or `max_connections_per_ip`.
    limit: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tokenauth");
        let authentications = Family::<Outcome, Counter>::default();
        registry.register(
            "authentications",
            "Tokens presented, by outcome",
            authentications.clone(),
        );
        let logins = Family::<Outcome, Counter>::default();
        registry.register(
            "logins",
            "Logins that reached the throttle or the credentials' check, by outcome",
            logins.clone(),
        );
        let issued = Counter::default();
        registry.register("tokens_issued", "Tokens issued", issued.clone());
        let revoked = Family::<Reason, Counter>::default();
        registry.register("tokens_revoked", "Tokens revoked, by reason", revoked.clone());
        // 0.1 ms to about 6.5 s: a cached or local lookup up to a backend past its timeout.
        let calls = Family::<Call, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0001, 2.0, 17))) as fn() -> Histogram,
        );
        registry.register(
            "backend_call_duration_seconds",
            "Calls to the token store and the user directory, by backend and verb",
            calls.clone(),
        );
        let errors = Family::<CallError, Counter>::default();
        registry.register(
            "backend_errors",
            "Failed calls to the token store and the user directory, by backend, verb and kind",
            errors.clone(),
        );
        let connections = Gauge::default();
        registry.register("connections_open", "Connections open", connections.clone());
        let shed = Family::<Shed, Counter>::default();
        registry.register(
            "connections_shed",
            "Connections closed unanswered at a connection cap, by cap",
            shed.clone(),
        );
        let sources = Arc::new(Mutex::new(Sources::default()));
        registry.register_collector(Box::new(SourcesCollector(Arc::clone(&sources))));
        let by_outcome = |family: &Family<Outcome, Counter>, outcome: &'static str| {
            family.get_or_create(&Outcome { outcome }).clone()
        };
        Self {
            inner: Arc::new(Inner {
                authentications: AuthOutcome::ALL.map(|o| by_outcome(&authentications, o.as_str())),
                logins: LoginOutcome::ALL.map(|o| by_outcome(&logins, o.as_str())),
                registry,
                issued,
                revoked,
                calls,
                errors,
                connections,
                shed,
                sources,
            }),
        }
    }

    /// The hook that counts authentications, logins, issues and revocations: pass it
    /// to [`TokenAuth::with_event_hook`](tokenauth_core::TokenAuth::with_event_hook).
    pub fn hook(&self) -> impl EventHook {
        Hook(self.clone())
    }

    /// `backend` wrapped so that each of its calls is timed (and its errors counted) in
    /// `metrics`, if any, under the label `backend` (the type's name, as
    /// [`backend_name`]); for [`TokenAuth::map_backends`]. Without metrics, the calls
    /// pass through untimed: one service type either way.
    ///
    /// [`TokenAuth::map_backends`]: tokenauth_core::TokenAuth::map_backends
    pub fn measure<B>(metrics: Option<&Self>, backend: Arc<B>) -> Measured<B> {
        Measured {
            inner: backend,
            name: backend_name::<B>(),
            metrics: metrics.cloned(),
        }
    }

    /// Reports the cache's hits, misses, evictions, size and pause, and the
    /// revocations it missed behind its bus.
    pub fn watch_cache(&self, cache: &AuthCache) {
        self.sources().cache = Some(cache.clone());
    }

    /// Reports the hashing queue's depth and waits.
    pub fn watch_hasher(&self, hasher: &PasswordHasher) {
        self.sources().hasher = Some(hasher.clone());
    }

    /// Reports whether the revocation bus is connected.
    pub fn watch_bus(&self, connected: watch::Receiver<bool>) {
        self.sources().bus = Some(connected);
    }

    fn sources(&self) -> std::sync::MutexGuard<'_, Sources> {
        self.inner.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `GET /metrics`: the Prometheus text format.
    pub fn router(&self) -> Router {
        let metrics = self.clone();
        Router::new().route("/metrics", get(move || async move { metrics.render() }))
    }

    fn render(&self) -> Response {
        let mut text = String::new();
        if let Err(error) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.inner.registry)
        {
            tracing::error!(%error, "encoding the metrics failed");
        }
        let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
        ([(header::CONTENT_TYPE, content_type)], text).into_response()
    }

    /// Counts a connection open until the guard is dropped.
    pub(crate) fn connection(&self) -> ConnectionGuard {
        self.inner.connections.inc();
        ConnectionGuard(self.inner.connections.clone())
    }

    /// Counts a connection closed at `limit`.
    pub(crate) fn shed(&self, limit: &'static str) {
        self.inner.shed.get_or_create(&Shed { limit }).inc();
    }

    fn call_ended(
        &self,
        backend: &'static str,
        verb: &'static str,
        took: Duration,
        error: Option<&'static str>,
    ) {
        let call = Call { backend, verb };
        self.inner.calls.get_or_create(&call).observe(took.as_secs_f64());
        if let Some(kind) = error {
            let error = CallError { backend, verb, kind };
            self.inner.errors.get_or_create(&error).inc();
        }
    }
}

/// A connection counted in `tokenauth_connections_open`.
#[derive(Debug)]
pub(crate) struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

struct Hook(Metrics);

impl EventHook for Hook {
    fn on_event(&self, event: &AuthEvent) {
        let inner = &self.0.inner;
        match event {
            AuthEvent::Issued { .. } => {
                inner.issued.inc();
            }
            AuthEvent::Revoked { reason, .. } => {
                inner
                    .revoked
                    .get_or_create(&Reason {
                        reason: reason.as_str(),
                    })
                    .inc();
            }
            _ => {}
        }
    }

    fn on_authentication(&self, outcome: AuthOutcome) {
        if let Some(i) = AuthOutcome::ALL.iter().position(|o| *o == outcome) {
            self.0.inner.authentications[i].inc();
        }
    }

    fn on_login(&self, outcome: LoginOutcome) {
        if let Some(i) = LoginOutcome::ALL.iter().position(|o| *o == outcome) {
            self.0.inner.logins[i].inc();
        }
    }
}

/// What is read at each scrape rather than counted as it happens.
#[derive(Default)]
struct Sources {
    cache: Option<AuthCache>,
    hasher: Option<PasswordHasher>,
    bus: Option<watch::Receiver<bool>>,
}

struct SourcesCollector(Arc<Mutex<Sources>>);

impl fmt::Debug for SourcesCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SourcesCollector")
    }
}

impl Collector for SourcesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let sources = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut counter = |name: &str, help: &str, value: u64| {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
        };
        if let Some(cache) = &sources.cache {
            let stats = cache.stats();
            counter("cache_hits", "Token lookups answered from the cache", stats.hits)?;
            counter(
                "cache_misses",
                "Token lookups passed on to the store",
                stats.misses,
            )?;
            counter(
                "cache_evictions",
                "Cache entries dropped to make room",
                stats.evictions,
            )?;
            counter(
                "revocation_bus_missed",
                "Revocations the cache missed behind the bus (it then dropped everything)",
                stats.lagged,
            )?;
        }
        if let Some(hasher) = &sources.hasher {
            let queue = hasher.queue_stats();
            counter(
                "hash_queue_waits",
                "Password hashes that waited for a slot",
                queue.waits,
            )?;
            let seconds = ConstCounter::new(queue.waited.as_secs_f64());
            seconds.encode(encoder.encode_descriptor(
                "hash_queue_wait_seconds",
                "Time password hashes waited for a slot, added up",
                None,
                seconds.metric_type(),
            )?)?;
        }
        let mut gauge = |name: &str, help: &str, value: i64| {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
        };
        if let Some(cache) = &sources.cache {
            gauge(
                "cache_paused",
                "1 while the cache serves nothing (its bus is down)",
                cache.is_paused().into(),
            )?;
            gauge(
                "cache_tokens",
                "Tokens cached",
                i64::try_from(cache.len()).unwrap_or(i64::MAX),
            )?;
        }
        if let Some(hasher) = &sources.hasher {
            let waiting = i64::try_from(hasher.queue_stats().waiting).unwrap_or(i64::MAX);
            gauge(
                "hash_queue_waiting",
                "Password hashes waiting for a slot now",
                waiting,
            )?;
        }
        if let Some(bus) = &sources.bus {
            gauge(
                "revocation_bus_connected",
                "1 while the revocation bus is connected",
                (*bus.borrow()).into(),
            )?;
        }
        Ok(())
    }
}

/// A token store or user directory whose calls are timed and whose errors are counted
/// ([`Metrics::measure`]). A call abandoned before it answers (the backend timeout) is
/// counted as an `unavailable` error, with the time it ran.
pub struct Measured<B> {
    inner: Arc<B>,
    name: &'static str,
    metrics: Option<Metrics>,
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
    async fn timed<T, E>(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("down")]
    struct Down;

    fn errors(metrics: &Metrics, kind: &'static str) -> u64 {
        let error = CallError {
            backend: "()",
            verb: "find",
            kind,
        };
        metrics.inner.errors.get_or_create(&error).get()
    }

    #[tokio::test]
    async fn a_failed_call_and_an_abandoned_one_are_counted_as_errors() {
        let metrics = Metrics::new();
        let backend = Metrics::measure(Some(&metrics), Arc::new(()));
        let failed = backend.timed("find", |_: &Down| false, async { Err::<(), _>(Down) });
        assert!(failed.await.is_err());
        let down = backend.timed("find", |_: &Down| true, async { Err::<(), _>(Down) });
        assert!(down.await.is_err());
        // Abandoned before it answered, as the backend timeout drops a call.
        let hanging = backend.timed(
            "find",
            |_: &Down| false,
            std::future::pending::<Result<(), Down>>(),
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(1), hanging)
                .await
                .is_err()
        );
        assert_eq!(
            (errors(&metrics, "failed"), errors(&metrics, "unavailable")),
            (1, 2)
        );
        let body = axum::body::to_bytes(metrics.render().into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        let count = "tokenauth_backend_call_duration_seconds_count{backend=\"()\",verb=\"find\"} 3\n";
        assert!(text.contains(count), "{text}");
    }

    #[test]
    fn a_backend_is_named_by_its_type_without_paths() {
        assert_eq!(backend_name::<tokenauth_core::MemoryStore>(), "MemoryStore");
        assert_eq!(
            backend_name::<tokenauth_sqlx::sqlite::SqliteStore>(),
            "SqlStore<Sqlite>"
        );
    }
}
