//! Expiring API token authentication for axum and tower, wire-compatible with Django
//! REST Framework's `TokenAuthentication` and `djangorestframework-expiring-authtoken`.
//!
//! - [`TokenAuthLayer`] authenticates `Authorization: Token <key>` (and `Bearer <key>`)
//!   on every request it wraps, answering DRF's exact 401s;
//! - [`Authenticated`] hands the user and token to handlers (`Option<Authenticated>`
//!   for routes open to anonymous users too);
//! - [`routes::obtain_router`] (feature `routes`) serves the obtain endpoint, trading a
//!   username and password for a token.
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
//! [`core`]; the SQL stores in `tokenauth-sqlx`.
//!
//! # Features
//!
//! - `routes` (default): the obtain endpoint as an axum `Router`.
//!
//! # Example
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tokenauth::{Authenticated, TokenAuth, TokenAuthLayer, routes::obtain_router};
//! use tokenauth::core::{Lifespan, MemoryStore, MemoryUserDirectory};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let users = MemoryUserDirectory::new();
//! users.add_user("alice", "correct horse battery staple", true).await?;
//! let auth = TokenAuth::new(MemoryStore::new(), users).with_lifespan("7d".parse::<Lifespan>()?);
//!
//! let app = Router::new()
//!     .route("/me", get(|auth: Authenticated| async move { auth.user.username }))
//!     .layer(TokenAuthLayer::new(auth.clone()))
//!     // Added after `.layer`, so outside it: login ignores the Authorization header.
//!     .merge(obtain_router(auth));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod extract;
mod layer;
mod rejection;
#[cfg(feature = "routes")]
pub mod routes;

pub use extract::Authenticated;
pub use layer::{TokenAuthLayer, TokenAuthService};
pub use rejection::{TokenAuthRejection, detail_response};
pub use tokenauth_core as core;
pub use tokenauth_core::{Lifespan, TokenAuth, User};
