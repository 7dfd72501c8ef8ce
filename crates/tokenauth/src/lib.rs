//! Expiring API token authentication for axum and tower, wire-compatible with Django
//! REST Framework's `TokenAuthentication` and `djangorestframework-expiring-authtoken`.
//!
//! [`TokenAuth`] is the app's handle, configured once by its builder and then shared:
//!
//! - [`auth.layer()`](TokenAuth::layer) authenticates `Authorization: Token <key>` (and
//!   `Bearer <key>`) on every request it wraps, answering DRF's exact 401s (and RFC
//!   6750's challenges to `Bearer` clients: [`Challenge`]);
//! - [`Authenticated`] hands the user and token to handlers (`Option<Authenticated>`
//!   for routes open to anonymous users too);
//! - [`auth.routes()`](TokenAuth::routes) (feature `routes`) serves the obtain
//!   endpoint, trading a username and password for a token, optionally with a `name`, a
//!   shorter `lifespan` (`"7d"`) and a `scope` (`"read write"`), and the session routes:
//!   `POST /auth/logout` (revoke the presented token), `POST /auth/logoutall` (revoke
//!   all the user's tokens), `GET /auth/tokens` (the user's live tokens, never a
//!   secret), `POST /auth/tokens` (a named personal token, no broader than the token
//!   asking) and `DELETE /auth/tokens/{id}` (revoke one). It merges or nests into a
//!   router with any state, inside or outside the layer;
//! - [`auth.require_scope("write")`](TokenAuth::require_scope) guards a route by
//!   scope: a token without the scope gets 403 with
//!   `WWW-Authenticate: Token error="insufficient_scope", scope="..."`;
//! - [`auth.serve(listener, app)`](TokenAuth::serve) (feature `serve`) runs the app
//!   with the background upkeep (last-used times, purge), and writes the last uses once
//!   the server has stopped;
//! - [`routes::verify_router`] (feature `routes`) answers reverse proxies' forward-auth
//!   checks (`/auth/verify`: nginx `auth_request`, Traefik `ForwardAuth`, Envoy
//!   `ext_authz`) with identity headers, DRF's 401 or a 403 for a missing scope;
//! - [`routes::Routes::oauth_router`] (feature `routes`) serves OAuth 2.0 token
//!   introspection (RFC 7662) and revocation (RFC 7009) to other services.
//!
//! Tokens look like `tka_` + 49 base62 characters and expire 30 days after issue by
//! default; they are stored only as SHA-256 digests. Secret scanners can match them with
//! [`core::TOKEN_REGEX`]:
//!
//! ```text
//! \btka_[0-9A-Za-z]{49}\b
//! ```
//!
//! The core logic, store and directory traits live in [`tokenauth_core`], re-exported as
//! [`core`]; the SQL stores in `tokenauth-sqlx`. The pieces the handle is made of
//! ([`TokenAuthLayer`], [`routes::Routes`], [`RequireScope`]) stay public for apps that
//! assemble their own.
//!
//! # Features
//!
//! - `routes` (default): the obtain endpoint and the session routes as axum `Router`s
//!   (the [`routes`] module; depends on `axum`).
//! - `serve` (default): [`TokenAuth::serve`], on axum's server with Tokio (implies
//!   `connect-info`).
//! - `openapi`: the routes' OpenAPI 3.1 description, [`routes::Routes::openapi`], to
//!   merge into your app's `utoipa` document (the [`routes::openapi`] module; implies
//!   `routes`).
//! - `connect-info`: the layer also finds each token's client address in axum's
//!   `ConnectInfo<SocketAddr>` (see [`peer_ip`]; depends on `axum` with `tokio`).
//!
//! Without default features, the layer, the extractor and [`RequireScope`] depend on
//! `axum-core` alone.
//!
//! # Example
//!
//! The README's, on SQLite with `tokenauth-sqlx` (a test compiles it):
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tokenauth::{Authenticated, TokenAuth};
//! use tokenauth::core::{MemoryStore, MemoryUserDirectory};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = TokenAuth::builder(MemoryStore::new(), MemoryUserDirectory::new())
//!     .lifespan("7d".parse()?)
//!     .build();
//! let app = Router::new()
//!     .route("/hello", get(|auth: Authenticated| async move { format!("Hello, {}!", auth.user.username) }))
//!     .merge(auth.routes())
//!     .layer(auth.layer());
//! auth.serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?, app).await?;
//! # Ok(()) }
//! ```

mod auth;
mod extract;
mod layer;
mod proxies;
mod rejection;
#[cfg(feature = "routes")]
pub mod routes;
mod scope;

pub use auth::{TokenAuth, TokenAuthBuilder};
pub use extract::Authenticated;
pub use layer::{TokenAuthLayer, TokenAuthService, peer_ip};
pub use proxies::{InvalidProxies, TrustedProxies};
pub use rejection::{TokenAuthRejection, detail_response};
pub use scope::{InvalidRequirement, RequireScope, RequireScopeService, ScopeRejection};
pub use tokenauth_core as core;

/// The README's examples, compiled as doc-tests so that they keep working.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;
// What an app names besides the handle and the extractor; the rest is under `core`.
pub use tokenauth_core::{AuthCache, AuthUser, Challenge, Lifespan, Maintenance, Scopes, User, UserId};
