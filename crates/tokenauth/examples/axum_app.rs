//! A small axum application protected by tokenauth, on SQLite.
//!
//! ```sh
//! cargo run -p tokenauth --example axum_app
//! curl -X POST localhost:3000/api-token-auth/ \
//!      -H 'content-type: application/json' \
//!      -d '{"username": "alice", "password": "correct horse battery staple"}'
//! curl localhost:3000/hello -H 'Authorization: Token tka_...'
//! ```

use axum::{Router, routing::get};
use tokenauth::core::{Lifespan, MemoryStore, MemoryUserDirectory};
use tokenauth::routes::{method_not_allowed, obtain_router};
use tokenauth::{Authenticated, TokenAuth, TokenAuthLayer};

/// Only for authenticated users.
async fn hello(auth: Authenticated) -> String {
    format!(
        "Hello, {}! Your token expires at {}.\n",
        auth.user.username, auth.token.expires
    )
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
    let auth = TokenAuth::new(MemoryStore::new(), users).with_lifespan("7d".parse::<Lifespan>()?);

    let app = Router::new()
        .route("/hello", get(hello))
        .route("/", get(welcome))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TokenAuthLayer::new(auth.clone()))
        // Merged after `.layer`, so outside it: logging in ignores the Authorization
        // header, and a client with a dead token can get a new one.
        .merge(obtain_router(auth));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
