//! The library's first hour, wired as the README wires it (`TokenAuth::builder`,
//! `auth.layer()`, `auth.routes()`, `auth.require_scope`): each pitfall a new user
//! met before (issue 17) either cannot happen or is an error at start-up.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use common::{ALICE, NOT_PROVIDED, PASSWORD, get_token, get_with, request, send, with_token};
use http::{Method, Request, header};
use serde_json::json;
use tokenauth::core::store::UserAdmin;
use tokenauth::core::{LocalBus, MemoryStore, MemoryUserDirectory, TokenRequest};
use tokenauth::{AuthCache, Authenticated, InvalidRequirement, TokenAuth, UserId};

async fn alice() -> MemoryUserDirectory {
    let users = MemoryUserDirectory::new();
    users.add_user(ALICE, PASSWORD, true).await.expect("add alice");
    users
}

type Handle = TokenAuth<tokenauth::core::Cached<MemoryStore>, tokenauth::core::Cached<MemoryUserDirectory>>;

/// The README's shape: the app's routes, a route that needs `write` (when the service
/// grants it), tokenauth's routes nested under `/api/v1`, the layer last.
fn app(
    auth: &TokenAuth<impl tokenauth::core::store::TokenStore, impl tokenauth::core::store::UserDirectory>,
) -> Router {
    let mut app = Router::new().route(
        "/me",
        get(|auth: Authenticated| async move { auth.user.username }),
    );
    if auth.grantable_scopes().contains("write") {
        let write = auth.require_scope("write").expect("a grantable scope");
        app = app.route("/notes", post(|| async { "noted" }).route_layer(write));
    }
    app.nest("/api/v1", auth.routes()).layer(auth.layer())
}

/// Logs in through the nested obtain route, with an optional `scope` and a stale
/// `Authorization` header, as a client holding a dead token would.
async fn login(app: &Router, scope: Option<&str>) -> String {
    login_with(app, "/api/v1/api-token-auth/", scope).await
}

async fn login_at(app: &Router, path: &str) -> String {
    login_with(app, path, None).await
}

async fn login_with(app: &Router, path: &str, scope: Option<&str>) -> String {
    let mut body = json!({"username": ALICE, "password": PASSWORD});
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::AUTHORIZATION,
            format!("Token {}", common::unknown_token()),
        )
        .body(body.to_string().into())
        .expect("a request");
    let response = send(app, request).await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()["token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn nested_routes_log_in_whatever_the_authorization_header_says() {
    let auth = TokenAuth::new(MemoryStore::new(), alice().await);
    let app = Router::new().nest("/api/v1", auth.routes()).layer(auth.layer());
    let token = login(&app, None).await;
    send(&app, with_token(Method::POST, "/api/v1/auth/logout", &token))
        .await
        .assert(204, "");
}

#[tokio::test]
async fn an_anonymous_wrong_method_on_an_apps_route_is_401_and_an_authenticated_one_drfs_405() {
    let auth = TokenAuth::builder(MemoryStore::new(), alice().await)
        .scopes("read write".parse().unwrap())
        .build();
    let app = app(&auth);
    send(&app, request(Method::POST, "/me", None))
        .await
        .assert(401, NOT_PROVIDED);
    let token = login(&app, None).await;
    send(&app, with_token(Method::POST, "/me", &token))
        .await
        .assert_method_not_allowed(&Method::POST, "GET,HEAD");
}

#[tokio::test]
async fn a_scope_the_service_cannot_grant_is_an_error_when_the_guard_is_made() {
    let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
    let error = auth.require_scope("write").unwrap_err();
    assert!(matches!(error, InvalidRequirement::NotGrantable { ref missing, .. } if missing == "write"));
    let auth = TokenAuth::builder(MemoryStore::new(), MemoryUserDirectory::new())
        .scopes("read write".parse().unwrap())
        .build();
    assert!(auth.require_scope("write").is_ok());
}

#[tokio::test]
async fn a_read_only_token_cannot_end_every_session_and_a_full_one_can() {
    let auth = TokenAuth::builder(MemoryStore::new(), alice().await)
        .scopes("read write".parse().unwrap())
        .build();
    let app = app(&auth);

    let read_only = login(&app, Some("read")).await;
    send(&app, get_token("/me", &read_only)).await.assert(200, ALICE);
    for (method, path) in [
        (Method::POST, "/api/v1/auth/logoutall"),
        (Method::GET, "/api/v1/auth/tokens"),
        (Method::POST, "/notes"),
    ] {
        let response = send(&app, with_token(method.clone(), path, &read_only)).await;
        assert_eq!(response.status, 403, "{method} {path}: {}", response.body);
    }
    // Without `scope`, a login gets every grantable scope, `sessions` included.
    let full = login(&app, None).await;
    send(&app, with_token(Method::POST, "/notes", &full))
        .await
        .assert(200, "noted");
    send(&app, with_token(Method::POST, "/api/v1/auth/logoutall", &full))
        .await
        .assert(204, "");
    for token in [&read_only, &full] {
        let response = send(&app, get_token("/me", token)).await;
        assert_eq!(response.status, 401, "{}", response.body);
    }
}

#[tokio::test]
async fn with_the_cache_a_logout_through_the_routes_ends_the_token_at_once() {
    let auth = TokenAuth::builder(MemoryStore::new(), alice().await)
        .cache(AuthCache::default())
        .build();
    let app = app(&auth);
    let token = login(&app, None).await;
    send(&app, get_token("/me", &token)).await.assert(200, ALICE); // now cached
    send(&app, with_token(Method::POST, "/api/v1/auth/logout", &token))
        .await
        .assert(204, "");
    let response = send(&app, get_token("/me", &token)).await;
    assert_eq!(response.status, 401, "{}", response.body);
}

#[tokio::test]
async fn with_the_cache_a_user_changed_in_the_apps_own_table_is_refused_once_told() {
    let users = MemoryUserDirectory::new();
    let id: UserId = users.add_user(ALICE, PASSWORD, true).await.expect("add alice");
    let auth: Handle = TokenAuth::builder(MemoryStore::new(), users.clone())
        .cache(AuthCache::default())
        .build();
    let app = app(&auth);
    let token = login(&app, None).await;
    send(&app, get_token("/me", &token)).await.assert(200, ALICE); // now cached

    // The app deactivates alice in its own table, behind tokenauth's back...
    users.set_active(&id, false).await.expect("in memory");
    // ...the cache still serves her until the app says so:
    send(&app, get_token("/me", &token)).await.assert(200, ALICE);
    auth.user_changed(&id);
    send(&app, get_token("/me", &token))
        .await
        .assert(401, common::INACTIVE);
}

#[tokio::test]
async fn with_a_bus_a_revocation_in_one_process_reaches_the_others_cache() {
    let store = MemoryStore::new();
    let users = alice().await;
    let bus = LocalBus::new(64);
    let here = TokenAuth::builder(store.clone(), users.clone())
        .cache(AuthCache::default())
        .revocation_bus(bus.clone())
        .build();
    // The order of the calls does not matter.
    let there = TokenAuth::builder(store, users)
        .revocation_bus(bus)
        .cache(AuthCache::default())
        .build();
    let (app_here, app_there) = (app(&here), app(&there));
    let token = here
        .obtain(ALICE, PASSWORD, TokenRequest::default())
        .await
        .expect("login")
        .token;
    let token = token.expose_secret();
    send(&app_there, get_token("/me", token)).await.assert(200, ALICE); // cached there

    send(&app_here, with_token(Method::POST, "/api/v1/auth/logout", token))
        .await
        .assert(204, "");
    // The publisher is a task: give it the turns it needs, without a clock deciding.
    let mut refused = false;
    for _ in 0..200 {
        if send(&app_there, get_token("/me", token)).await.status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "the other process's cache still serves a revoked token");
}

#[tokio::test]
async fn a_route_outside_the_layer_answers_a_500_that_says_nothing_of_the_server() {
    let auth = TokenAuth::new(MemoryStore::new(), alice().await);
    let app = Router::new().merge(auth.routes()).layer(auth.layer()).route(
        "/late",
        get(|auth: Authenticated| async move { auth.user.username }),
    );
    send(&app, get_with("/late", None))
        .await
        .assert(500, r#"{"detail":"A server error occurred."}"#);
}

#[tokio::test]
async fn the_handle_gives_forward_auth_for_reverse_proxies_too() {
    let auth = TokenAuth::new(MemoryStore::new(), alice().await);
    let app = Router::new()
        .merge(auth.verify_routes(&tokenauth::routes::VerifyOptions::default()))
        .merge(auth.routes());
    let token = login_at(&app, "/api-token-auth/").await;
    let response = send(&app, get_token("/auth/verify", &token)).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        response.header(header::HeaderName::from_static("x-auth-user")),
        Some(ALICE)
    );
    let response = send(&app, get_with("/auth/verify", None)).await;
    assert_eq!(response.status, 401, "{}", response.body);
}

#[tokio::test]
async fn the_handle_gives_introspection_and_revocation_inside_the_layer() {
    let secret = "a-client-secret-of-32-bytes-or-more";
    let auth = TokenAuth::builder(MemoryStore::new(), alice().await)
        .introspection_client(tokenauth::routes::IntrospectionClient::new("resource-server", secret).unwrap())
        .build();
    let app = Router::new()
        .merge(auth.routes())
        .merge(auth.oauth_routes())
        .layer(auth.layer());
    let token = login_at(&app, "/api-token-auth/").await;
    let form = |path: &str, authorization: Option<String>| {
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        request.body(format!("token={token}").into()).expect("a request")
    };
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("resource-server:{secret}")
        )
    );
    let response = send(&app, form("/auth/introspect", Some(basic.clone()))).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["active"], json!(true));
    assert_eq!(response.json()["username"], json!(ALICE));
    // Revocation sits inside the layer too: a stale header does not stand in the way.
    let stale = format!("Token {}", common::unknown_token());
    send(&app, form("/auth/revoke", Some(stale)))
        .await
        .assert(200, "");
    let response = send(&app, form("/auth/introspect", Some(basic))).await;
    assert_eq!(response.json(), json!({"active": false}));
}
