//! `routes::router` merged inside the app's `TokenAuthLayer` or outside it behaves the
//! same: login ignores the `Authorization` header, the session routes authenticate
//! once, anonymous requests get the 401, wrong methods the 401 or the 405.

mod common;

use axum::Router;
use axum::routing::get;
use common::*;
use http::{Method, header};
use serde_json::json;
use tokenauth::core::AuthEvent;
use tokenauth::routes::{self, method_not_allowed_authenticated, obtain};
use tokenauth::{Authenticated, TokenAuthLayer};

async fn me(auth: Authenticated) -> String {
    auth.user.username
}

/// The routers merged before `.layer(..)`: the app's layer wraps them.
fn inside(auth: Auth) -> Router {
    Router::new()
        .route("/me", get(me))
        .method_not_allowed_fallback(method_not_allowed_authenticated)
        .merge(routes::router(auth.clone()))
        .layer(TokenAuthLayer::new(auth))
}

/// The routers merged after `.layer(..)`: only their own layer wraps them.
fn outside(auth: Auth) -> Router {
    Router::new()
        .route("/me", get(me))
        .method_not_allowed_fallback(method_not_allowed_authenticated)
        .layer(TokenAuthLayer::new(auth.clone()))
        .merge(routes::router(auth))
}

/// As [`inside`], without a 405 fallback: the layer gives DRF's answers itself.
fn without_fallback(auth: Auth) -> Router {
    Router::new()
        .route("/me", get(me))
        .merge(routes::router(auth.clone()))
        .layer(TokenAuthLayer::new(auth))
}

fn login_with(authorization: &str) -> http::Request<axum::body::Body> {
    let mut request = obtain_json(&json!({"username": ALICE, "password": PASSWORD}));
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, authorization.parse().unwrap());
    request
}

async fn login_ignores_the_authorization_header(build: fn(Auth) -> Router) {
    let fx = Fixture::new().await;
    let app = build(fx.auth.clone());
    let expired = fx.expired_token().await;
    let before = fx.store.lookups();
    for authorization in [
        "Token garbage".to_owned(),
        format!("Token {}", unknown_token()),
        format!("Token {expired}"),
    ] {
        let response = send(&app, login_with(&authorization)).await;
        assert_eq!(response.status, 200, "{authorization}: {}", response.body);
        assert_eq!(response.keys(), ["token", "expiry"]);
    }
    // The presented token was not even looked up, so its login left no trace.
    assert_eq!(fx.store.lookups(), before);
    assert!(
        !fx.take_events()
            .iter()
            .any(|e| matches!(e, AuthEvent::ExpiredRejected { .. })),
        "the expired token was authenticated at login"
    );
}

async fn session_routes_authenticate_once(build: fn(Auth) -> Router) {
    let fx = Fixture::new().await;
    let app = build(fx.auth.clone());
    let token = fx.obtain(ALICE).await;

    let before = fx.store.lookups();
    let response = send(&app, get_token("/auth/tokens", &token)).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()[0]["current"], true);
    assert_eq!(fx.store.lookups(), before + 1, "one lookup per request");

    // A failing token is refused once: one event, not one per layer.
    let expired = fx.expired_token().await;
    fx.take_events();
    send(&app, get_token("/auth/tokens", &expired))
        .await
        .assert(401, EXPIRED);
    let rejected = fx
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, AuthEvent::ExpiredRejected { .. }))
        .count();
    assert_eq!(rejected, 1);
}

async fn logout_and_anonymous_requests(build: fn(Auth) -> Router) {
    let fx = Fixture::new().await;
    let app = build(fx.auth.clone());
    for (method, path) in [
        (Method::POST, "/auth/logout"),
        (Method::POST, "/auth/logoutall"),
        (Method::GET, "/auth/tokens"),
        (Method::GET, "/me"),
    ] {
        send(&app, request(method, path, None))
            .await
            .assert(401, NOT_PROVIDED);
    }

    let token = fx.obtain(ALICE).await;
    send(&app, get_token("/me", &token)).await.assert(200, ALICE);
    send(&app, with_token(Method::POST, "/auth/logout", &token))
        .await
        .assert(204, "");
    send(&app, get_token("/me", &token))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, get_token("/auth/tokens", &token))
        .await
        .assert(401, INVALID_TOKEN);
}

async fn wrong_methods(build: fn(Auth) -> Router) {
    let fx = Fixture::new().await;
    let app = build(fx.auth.clone());
    let token = fx.obtain(ALICE).await;
    for (method, path, allow) in [
        (Method::POST, "/me", "GET,HEAD"),
        (Method::GET, "/auth/logout", "POST"),
    ] {
        send(&app, request(method.clone(), path, None))
            .await
            .assert(401, NOT_PROVIDED);
        send(&app, with_token(method.clone(), path, &token))
            .await
            .assert_method_not_allowed(&method, allow);
    }
}

#[tokio::test]
async fn without_a_fallback_wrong_methods() {
    wrong_methods(without_fallback).await;
}

#[tokio::test]
async fn inside_the_layer_login_ignores_the_authorization_header() {
    login_ignores_the_authorization_header(inside).await;
}

#[tokio::test]
async fn outside_the_layer_login_ignores_the_authorization_header() {
    login_ignores_the_authorization_header(outside).await;
}

#[tokio::test]
async fn inside_the_layer_session_routes_authenticate_once() {
    session_routes_authenticate_once(inside).await;
}

#[tokio::test]
async fn outside_the_layer_session_routes_authenticate_once() {
    session_routes_authenticate_once(outside).await;
}

#[tokio::test]
async fn inside_the_layer_logout_and_anonymous_requests() {
    logout_and_anonymous_requests(inside).await;
}

#[tokio::test]
async fn outside_the_layer_logout_and_anonymous_requests() {
    logout_and_anonymous_requests(outside).await;
}

#[tokio::test]
async fn inside_the_layer_wrong_methods() {
    wrong_methods(inside).await;
}

#[tokio::test]
async fn outside_the_layer_wrong_methods() {
    wrong_methods(outside).await;
}

/// The routes nested under a prefix, with the layer around the nesting router or
/// inside the nested one: a login holding a dead token still logs in, and no other
/// path that merely contains a login path escapes authentication.
#[tokio::test]
async fn nested_under_a_prefix_login_ignores_a_stale_header() {
    let fx = Fixture::new().await;
    let expired = fx.expired_token().await;
    let at = |path: &str| {
        let mut request = login_with(&format!("Token {expired}"));
        *request.uri_mut() = path.parse().unwrap();
        request
    };
    let nested = |layer_outside: bool| -> Router {
        let api = Router::new()
            .route("/api-token-authx/", obtain(fx.auth.clone()))
            .merge(routes::router(fx.auth.clone()));
        let layer = TokenAuthLayer::new(fx.auth.clone());
        if layer_outside {
            Router::new().nest("/api/v1", api).layer(layer)
        } else {
            Router::new().nest("/api/v1", api.layer(layer))
        }
    };
    for layer_outside in [true, false] {
        let app = nested(layer_outside);
        for path in ["/api/v1/api-token-auth/", "/api/v1/auth/token"] {
            let response = send(&app, at(path)).await;
            assert_eq!(response.status, 200, "{path}: {}", response.body);
            assert_eq!(response.keys(), ["token", "expiry"]);
        }
        // A path that only contains a login path's text is authenticated as usual.
        send(&app, at("/api/v1/api-token-authx/"))
            .await
            .assert(401, EXPIRED);
    }
}

#[tokio::test]
async fn an_obtain_endpoint_mounted_elsewhere_is_a_login_path_when_told() {
    let fx = Fixture::new().await;
    let expired = fx.expired_token().await;
    let login = || {
        let mut request = login_with(&format!("Token {expired}"));
        *request.uri_mut() = "/login".parse().unwrap();
        request
    };

    let untold: Router = Router::new()
        .route("/login", obtain(fx.auth.clone()))
        .layer(TokenAuthLayer::new(fx.auth.clone()));
    send(&untold, login()).await.assert(401, EXPIRED);

    let told: Router = Router::new()
        .route("/login", obtain(fx.auth.clone()))
        .layer(TokenAuthLayer::new(fx.auth.clone()).with_login_paths(["/login"]));
    let response = send(&told, login()).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.keys(), ["token", "expiry"]);
}
