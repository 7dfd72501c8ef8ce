//! Scopes: chosen at obtain, limited to the grantable ones, enforced by `RequireScope`.

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::*;
use http::{Method, Request, header};
use http_body_util::BodyExt;
use serde_json::json;
use time::Duration;
use tokenauth::core::Scopes;
use tokenauth::{Authenticated, InvalidRequirement, RequireScope, TokenAuthLayer};
use tower::ServiceExt;

const FORBIDDEN: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

async fn scoped_fixture() -> Fixture {
    Fixture::new()
        .await
        .configure(|auth| auth.with_scopes(Scopes::parse("read write").unwrap()))
}

/// Asserts the 403 of a missing scope, with its exact challenge.
#[track_caller]
fn assert_insufficient(response: &Response, challenge: &str) {
    response.assert(403, FORBIDDEN);
    assert_eq!(response.header(header::WWW_AUTHENTICATE), Some(challenge));
}

#[tokio::test]
async fn a_read_token_is_refused_where_write_is_needed() {
    let fx = scoped_fixture().await;
    let app = fx.app();
    let read = fx.obtain_with(ALICE, json!({"scope": "read"})).await;

    send(&app, get_token("/read", &read)).await.assert_user(ALICE);
    send(&app, get_token("/protected", &read))
        .await
        .assert_user(ALICE);
    assert_insufficient(
        &send(&app, with_token(Method::POST, "/write", &read)).await,
        r#"Token error="insufficient_scope", scope="write""#,
    );
    // A narrow token cannot see or end its user's other sessions: with scopes
    // configured, the session routes require `sessions` (granted by default)...
    assert_insufficient(
        &send(&app, get_token("/auth/tokens", &read)).await,
        r#"Token error="insufficient_scope", scope="sessions""#,
    );
    assert_insufficient(
        &send(&app, with_token(Method::POST, "/auth/logoutall", &read)).await,
        r#"Token error="insufficient_scope", scope="sessions""#,
    );
    // ...and the list shows what each token may do.
    let sessions = fx.obtain_with(ALICE, json!({"scope": "sessions"})).await;
    let list = send(&app, get_token("/auth/tokens", &sessions)).await.json();
    // (Issued at the same instant: in the order of their random ids.)
    let mut scopes: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|token| token["scopes"].to_string())
        .collect();
    scopes.sort();
    assert_eq!(scopes, [r#"["read"]"#, r#"["sessions"]"#]);
}

#[tokio::test]
async fn a_token_obtained_without_a_scope_gets_every_grantable_one() {
    let fx = scoped_fixture().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    send(&app, get_token("/read", &token)).await.assert_user(ALICE);
    send(&app, with_token(Method::POST, "/write", &token))
        .await
        .assert_user(ALICE);
    let list = send(&app, get_token("/auth/tokens", &token)).await.json();
    assert_eq!(list[0]["scopes"], json!(["read", "sessions", "write"]));

    let both = fx.obtain_with(ALICE, json!({"scope": "write read"})).await;
    send(&app, get_token("/read", &both)).await.assert_user(ALICE);
    send(&app, with_token(Method::POST, "/write", &both))
        .await
        .assert_user(ALICE);
}

#[tokio::test]
async fn an_empty_scope_asks_for_none() {
    let fx = scoped_fixture().await;
    let app = fx.app();
    let token = fx.obtain_with(ALICE, json!({"scope": ""})).await;
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
    assert_insufficient(
        &send(&app, get_token("/read", &token)).await,
        r#"Token error="insufficient_scope", scope="read""#,
    );
}

#[tokio::test]
async fn by_default_nothing_is_grantable() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
    // No route can require a scope the service does not grant.
    assert!(matches!(
        RequireScope::new(&fx.auth, "write"),
        Err(InvalidRequirement::NotGrantable { .. })
    ));
    send(
        &app,
        obtain_json(&json!({"username": ALICE, "password": PASSWORD, "scope": "read"})),
    )
    .await
    .assert(400, r#"{"scope":["Scope \"read\" cannot be granted."]}"#);
}

#[tokio::test]
async fn a_scope_the_service_does_not_grant_is_refused() {
    let fx = scoped_fixture().await;
    let app = fx.app();
    send(
        &app,
        obtain_json(&json!({"username": ALICE, "password": PASSWORD, "scope": "read admin"})),
    )
    .await
    .assert(400, r#"{"scope":["Scope \"admin\" cannot be granted."]}"#);
    send(
        &app,
        obtain_json(&json!({"username": ALICE, "password": PASSWORD, "scope": "read,write"})),
    )
    .await
    .assert(400, r#"{"scope":["Scope \"read,write\" cannot be granted."]}"#);
    send(
        &app,
        obtain_json(&json!({"username": ALICE, "password": PASSWORD, "scope": "re\"ad"})),
    )
    .await
    .assert(400, r#"{"scope":["\"re\"ad\" is not a valid scope."]}"#);
    assert_eq!(fx.stored_count().await, 0, "nothing was issued");
}

#[tokio::test]
async fn requests_without_a_good_token_get_the_extractors_401() {
    let fx = scoped_fixture().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    send(&app, request(Method::POST, "/write", None))
        .await
        .assert(401, NOT_PROVIDED);
    send(&app, with_token(Method::POST, "/write", &unknown_token()))
        .await
        .assert(401, INVALID_TOKEN);
    fx.clock.advance(LIFESPAN + Duration::microseconds(1));
    send(&app, with_token(Method::POST, "/write", &token))
        .await
        .assert(401, EXPIRED);

    // In lenient mode too, with the real reason.
    let lenient = fx.lenient_app();
    send(&lenient, with_token(Method::POST, "/write", &token))
        .await
        .assert(401, EXPIRED);
    send(&lenient, request(Method::POST, "/write", Some(b"Token a b")))
        .await
        .assert(
            401,
            r#"{"detail":"Invalid token header. Token string should not contain spaces."}"#,
        );
    send(&lenient, request(Method::POST, "/write", None))
        .await
        .assert(401, NOT_PROVIDED);
}

async fn raw(app: &Router, request: Request<Body>) -> (u16, Vec<String>, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let challenges = response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, challenges, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn every_required_scope_is_named_with_the_layers_keyword() {
    let fx = scoped_fixture().await;
    let read = fx.obtain_with(ALICE, json!({"scope": "read"})).await;
    let auth = fx.auth.clone().with_keywords(["Bearer", "Token"]);
    let app: Router = Router::new()
        .route(
            "/both",
            get(|auth: Authenticated| async move { auth.user.username }),
        )
        .route_layer(RequireScope::new(&auth, "write read").unwrap())
        .layer(TokenAuthLayer::new(auth));

    // DRF's wording names the first keyword, whichever the client used...
    assert_eq!(
        raw(&app, get_token("/both", &read)).await,
        (
            403,
            vec![r#"Bearer error="insufficient_scope", scope="read write""#.to_owned()],
            FORBIDDEN.to_owned()
        )
    );
    assert_eq!(
        raw(&app, get_token("/both", &unknown_token())).await,
        (401, vec!["Bearer".to_owned()], INVALID_TOKEN.to_owned())
    );
    // ...and a Bearer client, or one without credentials where Bearer comes first, is
    // answered in RFC 6750's terms (`Challenge::Auto`), every required scope named.
    let bearer = format!("Bearer {read}");
    assert_eq!(
        raw(&app, get_with("/both", Some(bearer.as_bytes()))).await,
        (
            403,
            vec![
                r#"Bearer realm="api", error="insufficient_scope", error_description="You do not have permission to perform this action.", scope="read write""#
                    .to_owned()
            ],
            FORBIDDEN.to_owned()
        )
    );
    assert_eq!(
        raw(&app, get_with("/both", None)).await,
        (
            401,
            vec![r#"Bearer realm="api""#.to_owned()],
            NOT_PROVIDED.to_owned()
        )
    );
}

#[tokio::test]
async fn require_scope_without_the_layer_is_a_server_error() {
    let fx = scoped_fixture().await;
    let token = fx.obtain(ALICE).await;
    let app: Router = Router::new()
        .route("/write", get(|| async { "written" }))
        .route_layer(RequireScope::new(&fx.auth, "write").unwrap());
    let response = send(&app, get_token("/write", &token)).await;
    // A server error that tells the client nothing about the server (the log names the
    // missing layer).
    assert_eq!(response.status.as_u16(), 500, "{}", response.body);
    assert_eq!(response.body, r#"{"detail":"A server error occurred."}"#);
}

#[tokio::test]
async fn require_scope_parses_its_list_and_refuses_what_cannot_be_granted() {
    let fx = scoped_fixture().await;
    assert_eq!(
        RequireScope::new(&fx.auth, " write  read ").unwrap().required(),
        &Scopes::parse("read write").unwrap()
    );
    assert_eq!(
        RequireScope::new(&fx.auth, "").unwrap_err(),
        InvalidRequirement::Empty
    );
    assert!(matches!(
        RequireScope::new(&fx.auth, "a\"b").unwrap_err(),
        InvalidRequirement::Invalid(_)
    ));
    // A scope the service does not grant: no token could ever pass, so no guard.
    let error = RequireScope::new(&fx.auth, "read admin").unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "RequireScope: no token can carry `admin`: the service grants `{}`; add it to the \
             service's scopes (`scopes` on its builder)",
            fx.auth.grantable_scopes()
        )
    );
}
