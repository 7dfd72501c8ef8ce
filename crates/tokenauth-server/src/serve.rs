//! Serving connections: hyper's HTTP/1 with a timer, caps on connections (in all and
//! per client address), deadlines on request bodies, on write progress and on shutdown,
//! a drain before shutdown, and handler panics answered with a JSON 500.
//!
//! `axum::serve` runs hyper without a timer (no header timeout), accepts without a
//! bound, waits for every client on shutdown, and compiles its accept-error log out;
//! this module is what it does, with those limits.

use std::any::Any;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokenauth::{TrustedProxies, detail_response};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;

use crate::metrics::Metrics;
use crate::parse_errors::JsonParseErrors;
use crate::per_ip::PerIp;
use crate::write_deadline::WriteDeadline;

/// The most a connection buffers while reading a request head, in bytes: the hard
/// bound on a header section (hyper answers a larger one 431). Per connection, memory
/// is this read buffer, as much again for writing, and the request being handled.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long the accept loop pauses after an accept error (such as running out of file
/// descriptors) before it accepts again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The least time between two warnings that an address is at its connection cap.
const PER_IP_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The limits on connections: timeouts, the connection cap and the shutdown deadline.
/// Also `tokenauth serve`'s options, with their defaults.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ServeConfig {
    /// How long a client has to send a request's headers. The timer starts as soon as
    /// the server waits for a request, so it also closes idle keep-alive connections.
    #[arg(long, env = "TOKENAUTH_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// How long a client has to send a request's body, from the end of its headers; a
    /// body still incomplete then is refused (400) and the connection closed.
    #[arg(long, env = "TOKENAUTH_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// The most connections served at once; new ones beyond it are closed at once,
    /// without disturbing the others. Keep it below the open-file limit (`ulimit -n`).
    #[arg(long, env = "TOKENAUTH_MAX_CONNECTIONS", default_value = "512")]
    pub max_connections: NonZeroUsize,
    /// The most connections served at once from one client address (IPv6: one address,
    /// not a /64); beyond it, new ones from that address are closed at once. Well below
    /// --max-connections, so that one host cannot take every slot. Addresses in
    /// --trusted-proxies are exempt (behind a proxy, every client shares its address).
    #[arg(long, env = "TOKENAUTH_MAX_CONNECTIONS_PER_IP", default_value = "64")]
    pub max_connections_per_ip: NonZeroUsize,
    /// How long writing an answer may make no progress (the client reads nothing, such
    /// as one that pipelines requests and never reads the answers); then the
    /// connection is closed.
    #[arg(long, env = "TOKENAUTH_WRITE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub write_timeout: Duration,
    /// After a shutdown signal, how long `/readyz` answers 503 while requests are still
    /// accepted and served, so that load balancers stop sending new ones before
    /// connections are refused; then the shutdown deadline applies. `0s`: none.
    #[arg(long, env = "TOKENAUTH_DRAIN", default_value = "5s", value_parser = parse_duration_or_zero)]
    pub drain: Duration,
    /// After the drain, how long requests in progress have to finish; then the
    /// connections still open are dropped, and the last-used times are written.
    #[arg(long, env = "TOKENAUTH_SHUTDOWN_DEADLINE", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_deadline: Duration,
}

impl Default for ServeConfig {
    /// Headers within 10 s, bodies within 30 s, writes stalled for at most 30 s, 512
    /// connections of which 64 per address, a 5 s drain and then 30 s to shut down.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: NonZeroUsize::new(512).expect("512 is not zero"),
            max_connections_per_ip: NonZeroUsize::new(64).expect("64 is not zero"),
            write_timeout: Duration::from_secs(30),
            drain: Duration::from_secs(5),
            shutdown_deadline: Duration::from_secs(30),
        }
    }
}

/// Whether the server is draining before shutdown: each request served by
/// [`serve_router`] carries one in its extensions, and the server's `/readyz` answers
/// 503 while it is set.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// Whether the server has received its shutdown signal and is draining.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Durations as the other options write them: `10s`, `2m`, `1h 30m`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let lifespan: tokenauth_core::Lifespan = s.parse().map_err(|e| format!("{e}"))?;
    Ok(lifespan.as_duration().unsigned_abs())
}

/// [`parse_duration`], and zero (`0`, `0s`): for what zero turns off.
fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    let number = s.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if !number.is_empty() && number.bytes().all(|b| b == b'0') {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
}

/// Serves `app` on `listener` within `config`'s limits until `shutdown` completes;
/// then drains (requests still served, [`Draining`] set) for the drain period, stops
/// accepting, lets the requests in progress finish within the shutdown deadline, and
/// drops the connections still open after it. The connections from `proxies` are
/// exempt from the per-address cap. [`crate::serve()`] serves the service's app on it.
///
/// Each request carries the peer's `ConnectInfo<SocketAddr>` and the [`Draining`]
/// flag, and a request id, and is logged ([`crate::logs`]); a panic in `app` answers DRF's JSON 500 (`A server error occurred.`) while
/// the server goes on serving; and the requests hyper cannot parse get a JSON `detail`
/// too.
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    config: &ServeConfig,
    proxies: &TrustedProxies,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_counted(listener, app, config, proxies, None, shutdown).await
}

/// [`serve_router`], counting open and shed connections in `metrics`.
pub(crate) async fn serve_counted(
    listener: TcpListener,
    app: Router,
    config: &ServeConfig,
    proxies: &TrustedProxies,
    metrics: Option<&Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let app = crate::logs::layer(app.layer(CatchPanicLayer::custom(answer_panic)), proxies);
    let slots = Arc::new(Semaphore::new(config.max_connections.get()));
    let per_ip = PerIp::new(config.max_connections_per_ip.get());
    let draining = Draining::default();
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES);
    let mut shedding = false;
    let mut per_ip_warned: Option<Instant> = None;
    let drain_end = tokio::time::sleep(config.drain);
    tokio::pin!(shutdown, drain_end);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown, if !draining.is_draining() => {
                if config.drain.is_zero() {
                    break;
                }
                tracing::info!(drain = ?config.drain, "shutting down: draining (/readyz answers 503)");
                draining.start();
                drain_end.as_mut().reset(Instant::now() + config.drain);
                continue;
            }
            () = &mut drain_end, if draining.is_draining() => break,
            Some(ended) = connections.join_next() => {
                if let Err(error) = ended {
                    tracing::error!(%error, "a connection task failed");
                }
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Such as EMFILE: the connection waits in the backlog meanwhile.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Both caps close a connection unanswered: those in progress keep their resources.
        let ip_slot = if proxies.contains(peer.ip()) {
            None
        } else if let Some(ip_slot) = per_ip.acquire(peer.ip()) {
            Some(ip_slot)
        } else {
            tracing::debug!(%peer, "closing a connection beyond its address's cap");
            if let Some(metrics) = metrics {
                metrics.shed("max_connections_per_ip");
            }
            if per_ip_warned.is_none_or(|warned| warned.elapsed() >= PER_IP_WARNING_INTERVAL) {
                tracing::warn!(
                    ip = %peer.ip(),
                    max = config.max_connections_per_ip,
                    "an address is at its connection limit: closing its new connections"
                );
                per_ip_warned = Some(Instant::now());
            }
            drop(stream);
            continue;
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if let Some(metrics) = metrics {
                metrics.shed("max_connections");
            }
            if !shedding {
                tracing::warn!(
                    max = config.max_connections,
                    "at the connection limit: closing new connections"
                );
                shedding = true;
            }
            drop(stream);
            continue;
        };
        shedding = false;
        let counted = metrics.map(Metrics::connection);
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let body_timeout = config.body_timeout;
        let draining = draining.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(draining.clone());
            let request = request.map(|body| Body::new(DeadlineBody::new(body, body_timeout)));
            app.clone().oneshot(request)
        });
        let io = JsonParseErrors::new(WriteDeadline::new(stream, config.write_timeout));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        connections.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            drop((slot, ip_slot, counted));
        });
    }
    drop(listener);
    if tokio::time::timeout(config.shutdown_deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "shutdown deadline passed: dropping the connections still open"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// DRF's answer to an unhandled exception, for a panic in a handler.
fn answer_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)");
    tracing::error!(panic = message, "a request handler panicked");
    detail_response(StatusCode::INTERNAL_SERVER_ERROR, "A server error occurred.").into_response()
}

/// A request body that fails if it is not complete by its deadline.
struct DeadlineBody {
    body: Incoming,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineBody {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Self {
            body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

/// The error of a body not complete by its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
struct BodyTimeout;

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drain_may_be_zero_and_the_timeouts_may_not() {
        assert_eq!(parse_duration_or_zero("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration_or_zero("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration_or_zero("5s"), Ok(Duration::from_secs(5)));
        assert!(parse_duration_or_zero("-1s").is_err());
        assert!(parse_duration_or_zero("s").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
