//! A small axum application protected by tokenauth, with in-memory storage (see the
//! README for the same on SQLite with `tokenauth-sqlx`).
//!
//! ```sh
//! cargo run -p tokenauth --example axum_app
//! curl -X POST localhost:3000/api-token-auth/ \
//!      -H 'content-type: application/json' \
//!      -d '{"username": "alice", "password": "correct horse battery staple", "scope": "read"}'
//! curl localhost:3000/hello -H 'Authorization: Token tka_...'
//! curl -X POST localhost:3000/notes -H 'Authorization: Token tka_...'   # 403: needs "write"
//! curl -X POST localhost:3000/auth/logout -H 'Authorization: Token tka_...'
//! ```

use std::net::SocketAddr;

use axum::{
    Router,
    routing::{get, post},
};
use tokenauth::core::{MemoryStore, MemoryUserDirectory};
use tokenauth::routes::{self, method_not_allowed};
use tokenauth::{Authenticated, Lifespan, Maintenance, RequireScope, Scopes, TokenAuth, TokenAuthLayer};

/// Only for authenticated users.
async fn hello(auth: Authenticated) -> String {
    format!(
        "Hello, {}! Your token expires at {}.\n",
        auth.user.username, auth.token.expires
    )
}

/// Only for tokens with the `write` scope.
async fn add_note(auth: Authenticated) -> String {
    format!("Noted, {}.\n", auth.user.username)
}

/// For everyone; signed-in users are greeted by name.
async fn welcome(auth: Option<Authenticated>) -> String {
    match auth {
        Some(auth) => format!("Welcome back, {}.\n", auth.user.username),
        None => "Welcome, stranger.\n".to_owned(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Your own users plug in through the `UserDirectory` trait; the SQL store and
    // directory live in `tokenauth-sqlx`.
    let users = MemoryUserDirectory::new();
    users
        .add_user("alice", "correct horse battery staple", true)
        .await?;
    let auth = TokenAuth::new(MemoryStore::new(), users)
        .with_lifespan("7d".parse::<Lifespan>()?)
        .with_idle_timeout(Some("2h".parse::<Lifespan>()?))
        .with_scopes(Scopes::parse("read write")?);

    // Routes for signed-in users (the layer answers a wrong method with DRF's JSON 405,
    // after authentication).
    let protected = Router::new()
        .route("/notes", post(add_note))
        .route_layer(RequireScope::new(&auth, "write")?)
        .route("/hello", get(hello));
    // A public route answers a wrong method with the 405 even to anonymous clients.
    let public = Router::new()
        .route("/", get(welcome))
        .method_not_allowed_fallback(method_not_allowed);
    let app = protected
        .merge(public)
        // POST /api-token-auth/ and /auth/token (login: ignores the Authorization
        // header), POST /auth/logout, POST /auth/logoutall, GET /auth/tokens,
        // DELETE /auth/tokens/{id}. Inside or outside the layer alike.
        .merge(routes::router(auth.clone()))
        .layer(TokenAuthLayer::new(auth.clone()));

    // Writes last-used times (sliding expiry) and purges long-expired tokens.
    let upkeep = auth.start_maintenance(Maintenance::default());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Connect info gives each token's last-used client address.
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap_or_default() })
        .await?;
    // The server has stopped: write the last uses it saw before exiting.
    upkeep.shutdown().await?;
    Ok(())
}
