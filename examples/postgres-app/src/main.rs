//! An axum app on PostgreSQL with its own `members` table, protected by tokenauth:
//! tokenauth's routes nested under `/api/v1`, a scoped route, an anonymous-friendly
//! one, the cache, and the revocation bus so that several instances agree at once.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test BIND=127.0.0.1:3000 \
//!     cargo run -p tokenauth-example-postgres
//! curl -X POST localhost:3000/api/v1/members -H 'content-type: application/json' \
//!      -d '{"email": "ada@example.com", "password": "analytical engine", "display_name": "Ada"}'
//! curl -X POST localhost:3000/api/v1/api-token-auth/ -H 'content-type: application/json' \
//!      -d '{"username": "ada@example.com", "password": "analytical engine"}'
//! curl localhost:3000/api/v1/me -H 'Authorization: Token tka_...'
//! ```

mod members;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use members::{Member, Members};
use serde::Deserialize;
use serde_json::{Value, json};
use tokenauth::core::Cached;
use tokenauth::{AuthCache, Authenticated, TokenAuth};
use tokenauth_sqlx::postgres::{PgPool, PostgresRevocationBus, PostgresStore};

/// The handle's type, with the cache in front of the store and the directory.
type Auth = TokenAuth<Cached<PostgresStore>, Cached<Members>>;

#[derive(Clone)]
struct App {
    pool: PgPool,
    auth: Auth,
}

#[derive(Deserialize)]
struct SignUp {
    email: String,
    password: String,
    display_name: String,
}

/// Public: a new member, their password hashed as tokenauth will verify it.
async fn sign_up(
    State(app): State<App>,
    Json(form): Json<SignUp>,
) -> Result<(StatusCode, Json<Value>), (StatusCode, Json<Value>)> {
    let refused = |status, detail: &str| (status, Json(json!({"detail": detail})));
    if form.password.chars().count() < 8 {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "The password needs 8 characters or more.",
        ));
    }
    let hash = app
        .auth
        .password_hasher()
        .hash(&form.password)
        .await
        .map_err(|_| refused(StatusCode::SERVICE_UNAVAILABLE, "Try again later."))?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO members (email, display_name, password_hash) VALUES ($1, $2, $3) \
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(&form.email)
    .bind(&form.display_name)
    .bind(&hash)
    .fetch_optional(&app.pool)
    .await
    .map_err(|_| refused(StatusCode::SERVICE_UNAVAILABLE, "Try again later."))?;
    match id {
        Some(id) => Ok((StatusCode::CREATED, Json(json!({"id": id})))),
        None => Err(refused(StatusCode::CONFLICT, "This email is taken.")),
    }
}

/// For members: the app's own user type.
async fn me(auth: Authenticated<Member>) -> Json<Value> {
    Json(json!({
        "email": auth.user.email,
        "display_name": auth.user.display_name,
        "scopes": auth.token.scopes.to_string(),
    }))
}

/// For everyone; members are greeted by name.
async fn hello(auth: Option<Authenticated<Member>>) -> String {
    match auth {
        Some(auth) => format!("Hello, {}!", auth.user.display_name),
        None => "Hello, stranger!".to_owned(),
    }
}

/// Only for tokens with the `write` scope.
async fn add_note(auth: Authenticated<Member>) -> (StatusCode, String) {
    (StatusCode::CREATED, format!("Noted, {}.", auth.user.display_name))
}

/// A member closes their account: the app writes its own table, then tells tokenauth,
/// which drops the member from this cache and, through the bus, from every instance's.
async fn close_account(State(app): State<App>, auth: Authenticated<Member>) -> StatusCode {
    let closed = sqlx::query("UPDATE members SET disabled = TRUE WHERE id = $1")
        .bind(auth.user.id)
        .execute(&app.pool)
        .await;
    match closed {
        Ok(_) => {
            app.auth.user_changed(&tokenauth::AuthUser::id(&auth.user));
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init();
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to a PostgreSQL URL")?;
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());

    // tokenauth's tables and migrations (recorded apart from the app's), then the app's.
    let pool = tokenauth_sqlx::postgres::connect(&url).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;

    let auth: Auth = TokenAuth::builder(PostgresStore::new(pool.clone()), Members(pool.clone()))
        .lifespan("7d".parse()?)
        .scopes("read write".parse()?)
        .cache(AuthCache::default())
        .revocation_bus(PostgresRevocationBus::new(pool.clone()))
        .build();

    let api = Router::new()
        .route("/members", post(sign_up))
        .route("/hello", get(hello))
        .route("/me", get(me))
        .route("/me/close", post(close_account))
        .route("/notes", post(add_note).route_layer(auth.require_scope("write")?))
        // Login, logout, logoutall, the token list, revoke: /api/v1/api-token-auth/...
        .merge(auth.routes());
    let app = Router::new()
        .nest("/api/v1", api)
        .layer(auth.layer())
        .with_state(App {
            pool,
            auth: auth.clone(),
        });

    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    auth.serve(listener, app).await?;
    Ok(())
}
