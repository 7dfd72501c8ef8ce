//! Logs: their format (`--log-format`), the access log and request ids.
//!
//! Each request gets an id: the `X-Request-Id` a trusted proxy sent (`--trusted-proxies`),
//! else a new UUID; it is echoed in the response and carried by a `request` span around
//! the request, so every line logged while serving it names it. When the response is
//! ready, one line on the [`ACCESS`] target gives the method, the route template (never
//! the path itself, which may hold an id), the status, the duration, the client's
//! address and the request id: never a header, the query or the body.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use tokenauth::TrustedProxies;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tracing::Instrument;

pub mod batched;

/// The target of the access log's lines, so that a filter can keep or drop them
/// (`RUST_LOG=info,tokenauth::access=off`).
pub const ACCESS: &str = "tokenauth::access";

/// The longest request id kept from a proxy; a longer one is replaced.
const MAX_REQUEST_ID: usize = 200;

/// The format of the log lines on standard error (`--log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, the event's fields
    /// (`message` among them), and the spans it happened in (`span`, the innermost,
    /// and `spans`, all of them: the request's id among their fields).
    Json,
}

/// `app` with request ids and the access log: the id of a trusted proxy's
/// `X-Request-Id` kept (else a UUID), echoed in the response, and a span and an access
/// line for each request. Layered on each route (as [`Router::layer`] does), so that
/// the access line sees the route's template.
pub(crate) fn layer(app: Router, proxies: &TrustedProxies) -> Router {
    // The last layer added is the first to see the request.
    app.layer(middleware::from_fn_with_state(proxies.clone(), log_request))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::from_fn_with_state(proxies.clone(), trust_request_id))
}

/// Keeps `X-Request-Id` only from a trusted proxy, and only if it is short, printable
/// ASCII; otherwise removes it, so that a new one is made.
async fn trust_request_id(
    State(proxies): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer_trusted = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| proxies.contains(peer.ip()));
    let headers = request.headers_mut();
    let kept = headers
        .get("x-request-id")
        .filter(|id| peer_trusted && well_formed(id))
        .cloned();
    headers.remove("x-request-id");
    if let Some(id) = kept {
        headers.insert("x-request-id", id);
    }
    next.run(request).await
}

fn well_formed(id: &HeaderValue) -> bool {
    let id = id.as_bytes();
    !id.is_empty() && id.len() <= MAX_REQUEST_ID && id.iter().all(u8::is_ascii_graphic)
}

/// Serves the request in its span, then writes its access line.
async fn log_request(State(proxies): State<TrustedProxies>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let client = proxies.client_ip(&parts);
    let method = parts.method.clone();
    let route = parts.extensions.get::<MatchedPath>().cloned();
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-")
        .to_owned();
    // At ERROR level so that a stricter filter (`RUST_LOG=warn`) keeps the id on the
    // lines it lets through.
    let span = tracing::error_span!("request", request_id = %request_id);
    let response = next.run(Request::from_parts(parts, body)).instrument(span).await;
    tracing::info!(
        target: ACCESS,
        method = %method,
        route = route.as_ref().map_or("-", MatchedPath::as_str),
        status = response.status().as_u16(),
        // Milliseconds to the microsecond (no float noise: 0.17, not 0.17017000000000002).
        duration_ms = started.elapsed().as_micros() as f64 / 1000.0,
        client = client.map(tracing::field::display),
        request_id = %request_id,
        "request"
    );
    response
}
