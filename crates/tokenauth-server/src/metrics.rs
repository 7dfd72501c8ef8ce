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
    Change, Committed, Ended, LoginRecord, PrefetchedUser, PurgeBounds, TokenDigest, TokenRecord, TokenSet,
    TokenStore, Usage, UserDirectory,
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
        Router::new()
            .route("/metrics", get(render))
            .with_state(self.clone())
    }

    fn text(&self) -> Response {
        let mut text = String::new();
        if let Err(error) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.inner.registry)
        {
            tracing::error!(%error, "encoding the metrics failed");
        }
        let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
        ([(header::CONTENT_TYPE, content_type)], text).into_response()
    }
}

/// `GET /metrics`.
#[utoipa::path(
    get, path = "/metrics", tag = "probes", operation_id = "metrics",
    responses(
        (status = 200, description = "The metrics, in Prometheus' text format (0.0.4).", content_type = "text/plain", body = String),
        (status = 405, response = tokenauth::routes::openapi::MethodNotAllowed),
    ),
)]
pub(crate) async fn render(axum::extract::State(metrics): axum::extract::State<Metrics>) -> Response {
    metrics.text()
}

impl Metrics {
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

mod measured;
pub use measured::{Measured, backend_name};

#[cfg(test)]
mod tests;
