//! Expiring API token authentication for axum and tower, wire-compatible with Django
//! REST Framework's `TokenAuthentication` and `djangorestframework-expiring-authtoken`.
//!
//! - [`TokenAuthLayer`] authenticates `Authorization: Token <key>` (and `Bearer <key>`)
//!   on every request it wraps, answering DRF's exact 401s;
//! - [`Authenticated`] hands the user and token to handlers (`Option<Authenticated>`
//!   for routes open to anonymous users too);
//! - [`routes::router`] (feature `routes`) serves the obtain endpoint, trading a
//!   username and password for a token, optionally with a `name`, a shorter `lifespan`
//!   (`"7d"`) and a `scope` (`"read write"`), and the session routes:
//!   `POST /auth/logout` (revoke the presented token), `POST /auth/logoutall` (revoke
//!   all the user's tokens), `GET /auth/tokens` (the user's live tokens, never a
//!   secret) and `DELETE /auth/tokens/{id}` (revoke one). It merges into a router with
//!   any state, before or after the layer;
//! - [`RequireScope`] guards routes by scope: a token without the scope gets 403 with
//!   `WWW-Authenticate: Token error="insufficient_scope", scope="..."`.
//!
//! Tokens look like `tka_` + 49 base62 characters and expire 30 days after issue by
//! default; they are stored only as SHA-256 digests. Secret scanners can match them with
//! [`core::TOKEN_REGEX`]:
//!
//! ```text
//! \btka_[0-9A-Za-z]{49}\b
//! ```
//!
//! Per-user token limits, the obtain policy (a new token per login, or replace), idle
//! expiry, scopes and the audit hook are configured on [`TokenAuth`]. The layer records
//! each token's last use and client address (see [`TokenAuthLayer`]) in memory;
//! [`TokenAuth::start_maintenance`] writes them to the store in the background, and its
//! handle's `shutdown` writes the rest once the server has stopped.
//!
//! The core logic, store and directory traits live in [`tokenauth_core`], re-exported as
//! [`core`]; the SQL stores in `tokenauth-sqlx`.
//!
//! # Features
//!
//! None is on by default: the layer, the extractor and [`RequireScope`] depend on
//! `axum-core` alone.
//!
//! - `routes`: the obtain endpoint and the session routes as axum `Router`s (the
//!   [`routes`] module; depends on `axum`).
//! - `connect-info`: the layer also finds each token's client address in axum's
//!   `ConnectInfo<SocketAddr>` (see [`peer_ip`]; depends on `axum` with `tokio`).
//!
//! # Example
//!
//! With `features = ["routes", "connect-info"]`:
//!
//! ```no_run
//! use std::net::SocketAddr;
//!
//! use axum::{Router, routing::{get, post}};
//! use tokenauth::core::{MemoryStore, MemoryUserDirectory};
//! use tokenauth::{Authenticated, Lifespan, Maintenance, RequireScope, Scopes, TokenAuth, TokenAuthLayer, routes};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let users = MemoryUserDirectory::new();
//! users.add_user("alice", "correct horse battery staple", true).await?;
//! let auth = TokenAuth::new(MemoryStore::new(), users)
//!     .with_lifespan("7d".parse::<Lifespan>()?)
//!     .with_scopes(Scopes::parse("read write")?);
//!
//! let app = Router::new()
//!     .route("/notes", post(|auth: Authenticated| async move { auth.user.username }))
//!     .route_layer(RequireScope::new(&auth, "write")?)
//!     .route("/me", get(|auth: Authenticated| async move { auth.user.username }))
//!     // Login, logout, logoutall, the token list, revoke.
//!     .merge(routes::router(auth.clone()))
//!     .layer(TokenAuthLayer::new(auth.clone()));
//!
//! // Writes last-used times in the background, and purges long-expired tokens.
//! let upkeep = auth.start_maintenance(Maintenance::default());
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! // `with_connect_info` lets the layer record each token's client address.
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
//!     .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap_or_default() })
//!     .await?;
//! // The server has stopped: write the last uses it saw.
//! upkeep.shutdown().await?;
//! # Ok(()) }
//! ```

mod extract;
mod layer;
mod proxies;
mod rejection;
#[cfg(feature = "routes")]
pub mod routes;
mod scope;

pub use extract::Authenticated;
pub use layer::{TokenAuthLayer, TokenAuthService, peer_ip};
pub use proxies::{InvalidProxies, TrustedProxies};
pub use rejection::{TokenAuthRejection, detail_response};
pub use scope::{InvalidRequirement, RequireScope, RequireScopeService, ScopeRejection};
pub use tokenauth_core as core;
// What an app names besides the layer and the extractor; the rest is under `core`.
pub use tokenauth_core::{AuthCache, Lifespan, Maintenance, Scopes, TokenAuth, User, UserId};
