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

use axum::{
    Router,
    routing::{get, post},
};
use tokenauth::core::{MemoryStore, MemoryUserDirectory};
use tokenauth::{Authenticated, TokenAuth};

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
    let auth = TokenAuth::builder(MemoryStore::new(), users)
        .lifespan("7d".parse()?)
        .idle_timeout("2h".parse()?)
        .scopes("read write".parse()?)
        .build();

    let app = Router::new()
        .route("/", get(welcome))
        .route("/hello", get(hello))
        // The guard covers this route alone.
        .route("/notes", post(add_note).route_layer(auth.require_scope("write")?))
        // POST /api-token-auth/ and /auth/token (login: ignores the Authorization
        // header), POST /auth/logout, POST /auth/logoutall, GET and POST /auth/tokens,
        // DELETE /auth/tokens/{id}: anywhere, inside or outside the layer, nested or not.
        .merge(auth.routes())
        .layer(auth.layer());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Until Ctrl-C: last-used times written every minute (and at the end), long-expired
    // tokens purged.
    auth.serve(listener, app).await?;
    Ok(())
}
