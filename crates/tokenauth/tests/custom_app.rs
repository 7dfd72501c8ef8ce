//! An application with its own state type and its own users, through the whole HTTP
//! stack: login at the obtain endpoint, a handler taking `State<AppState>` and
//! `Authenticated<Member>`, the token list, logout.

mod common;

use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use common::{INVALID_TOKEN, NOT_PROVIDED, get_token, get_with, obtain_json, send, with_token};
use http::Method;
use serde_json::{Value, json};
use tokenauth::core::store::{LoginRecord, UserDirectory};
use tokenauth::core::{AuthUser, MemoryStore, PasswordError, PasswordHasher, UserId};
use tokenauth::{Authenticated, TokenAuth};

/// The app's own user, with fields tokenauth knows nothing about.
#[derive(Debug, Clone)]
struct Member {
    id: i64,
    username: String,
    display_name: String,
    plan: &'static str,
}

impl AuthUser for Member {
    fn id(&self) -> UserId {
        UserId::from(self.id)
    }

    fn username(&self) -> &str {
        &self.username
    }

    fn is_active(&self) -> bool {
        true
    }
}

/// The app's user table, in memory: members and their password hashes.
#[derive(Debug, Clone, Default)]
struct Members {
    hasher: PasswordHasher,
    rows: Arc<RwLock<Vec<(Member, String)>>>,
}

impl Members {
    async fn add(&self, member: Member, password: &str) {
        let hash = self.hasher.hash(password).await.expect("hashing works");
        self.rows.write().unwrap().push((member, hash));
    }
}

impl UserDirectory for Members {
    type User = Member;
    type Error = PasswordError;

    async fn find_user(&self, id: &UserId) -> Result<Option<Member>, PasswordError> {
        let rows = self.rows.read().unwrap();
        Ok(rows.iter().map(|(m, _)| m).find(|m| m.id() == *id).cloned())
    }

    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<Member>>, PasswordError> {
        let rows = self.rows.read().unwrap();
        let row = rows.iter().find(|(m, _)| m.username == username);
        // Core verifies the password (and spends the same work on unknown names).
        Ok(row.map(|(member, hash)| LoginRecord {
            user: member.clone(),
            password_hash: hash.clone(),
        }))
    }
}

#[derive(Clone)]
struct AppState {
    greeting: String,
}

async fn dashboard(State(state): State<AppState>, auth: Authenticated<Member>) -> Json<Value> {
    Json(json!({
        "message": format!("{}, {}", state.greeting, auth.user.display_name),
        "plan": auth.user.plan,
        "token": auth.token.id.to_string(),
    }))
}

/// Any handler may ask for the plain view of the user instead of the app's type.
async fn plain(auth: Authenticated) -> Json<Value> {
    Json(json!({"id": auth.user.id.as_str(), "username": auth.user.username}))
}

fn app(auth: &TokenAuth<MemoryStore, Members>) -> Router {
    // No fallback: the layer gives DRF's 405 for the app's own routes.
    Router::new()
        .route("/dashboard", get(dashboard))
        .route("/plain", get(plain))
        .merge(auth.routes())
        .layer(auth.layer())
        .with_state(AppState {
            greeting: "Welcome back".to_owned(),
        })
}

#[tokio::test]
async fn an_app_with_its_own_state_and_users_logs_in_works_and_logs_out() {
    let members = Members::default();
    members
        .add(
            Member {
                id: 7,
                username: "ada".to_owned(),
                display_name: "Ada Lovelace".to_owned(),
                plan: "pro",
            },
            "analytical engine",
        )
        .await;
    let auth = TokenAuth::new(MemoryStore::new(), members);
    let app = app(&auth);

    send(
        &app,
        obtain_json(&json!({"username": "ada", "password": "wrong"})),
    )
    .await
    .assert(400, common::BAD_CREDENTIALS);
    let login = send(
        &app,
        obtain_json(&json!({"username": "ada", "password": "analytical engine"})),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.json()["token"].as_str().expect("a token").to_owned();
    let id = auth.list(Some(&UserId::from(7))).await.unwrap()[0].id.to_string();

    let response = send(&app, get_token("/dashboard", &token)).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        response.json(),
        json!({"message": "Welcome back, Ada Lovelace", "plan": "pro", "token": id})
    );
    send(&app, with_token(Method::POST, "/dashboard", &token))
        .await
        .assert_method_not_allowed(&Method::POST, "GET,HEAD");
    let response = send(&app, get_token("/plain", &token)).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json(), json!({"id": "7", "username": "ada"}));
    send(&app, get_with("/plain", None))
        .await
        .assert(401, NOT_PROVIDED);
    let list = send(&app, get_token("/auth/tokens", &token)).await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!((&list[0]["id"], &list[0]["current"]), (&json!(id), &json!(true)));

    send(&app, get_with("/dashboard", None))
        .await
        .assert(401, NOT_PROVIDED);
    send(&app, with_token(Method::POST, "/auth/logout", &token))
        .await
        .assert(204, "");
    send(&app, get_token("/dashboard", &token))
        .await
        .assert(401, INVALID_TOKEN);
}
