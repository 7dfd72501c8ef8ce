//! The OAuth 2.0 endpoints: introspection (RFC 7662) at `POST /auth/introspect`,
//! revocation (RFC 7009) at `POST /auth/revoke`. Who may call them, what they answer,
//! every refusal, and that asking about a token is not a use of it.

mod common;
#[path = "oauth/revocation.rs"]
mod revocation;

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use common::*;
use http::{Method, Request, header};
use serde_json::json;
use time::Duration;
use tokenauth::TokenAuthLayer;
use tokenauth::core::store::UserAdmin;
use tokenauth::core::{AuthEvent, RevokeReason, Scopes};
use tokenauth::routes::{IntrospectionClient, Routes};

const INACTIVE_ANSWER: &str = r#"{"active":false}"#;
const CLIENT_ID: &str = "gateway";
/// A secret with characters that clients form-urlencode before Basic (RFC 6749 §2.3.1).
const CLIENT_SECRET: &str = "s3cret+with/odd=chars%and:colons-0123456789";
const INVALID_CLIENT: &str =
    r#"{"error":"invalid_client","error_description":"Client authentication failed."}"#;
const MISSING: &str = r#"{"error":"invalid_request","error_description":"The token parameter is missing."}"#;
const REPEATED: &str =
    r#"{"error":"invalid_request","error_description":"The token parameter is repeated."}"#;
const INSUFFICIENT: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

/// A fixture whose service grants `read` and `introspect`.
async fn fixture() -> Fixture {
    Fixture::new()
        .await
        .configure(|auth| auth.with_scopes(Scopes::parse("read introspect").unwrap()))
}

/// The test app with the OAuth routes: introspection inside the app's layer (whose
/// challenges must not replace the endpoint's), revocation outside it.
fn oauth_app(fx: &Fixture, client: bool) -> Router {
    let routes = Routes::new(fx.auth.clone());
    let routes = if client {
        routes.with_introspection_client(IntrospectionClient::new(CLIENT_ID, CLIENT_SECRET).unwrap())
    } else {
        routes
    };
    Router::new()
        .merge(routes.introspection_router())
        .layer(TokenAuthLayer::new(fx.auth.clone()))
        .merge(routes.revocation_router())
        .merge(fx.app())
}

/// `POST path` with a form body and an optional `Authorization`.
fn form(path: &str, authorization: Option<&str>, body: &str) -> Request<Body> {
    raw(
        path,
        authorization,
        Some("application/x-www-form-urlencoded"),
        body,
    )
}

fn raw(path: &str, authorization: Option<&str>, content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::builder().method(Method::POST).uri(path);
    if let Some(authorization) = authorization {
        builder = builder.header(header::AUTHORIZATION, authorization);
    }
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

fn basic(id: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {encoded}")
}

/// The client credential as RFC 6749 §2.3.1 asks: each part form-urlencoded first.
fn client_basic() -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    basic(&encode(CLIENT_ID), &encode(CLIENT_SECRET))
}

fn token_form(token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .finish()
}

/// Asserts the answer for a token that is not active: 200, exactly `{"active":false}`,
/// not to be stored.
#[track_caller]
fn assert_inactive(response: &Response, what: &str) {
    assert_eq!(
        (response.status.as_u16(), response.body.as_str()),
        (200, INACTIVE_ANSWER),
        "{what}"
    );
    assert_eq!(response.header(header::CACHE_CONTROL), Some("no-store"), "{what}");
}

/// A token of `dave` carrying `introspect` alone: a resource server's.
async fn introspector(fx: &Fixture) -> String {
    format!(
        "Token {}",
        fx.obtain_with(DAVE, json!({"scope": "introspect"})).await
    )
}

#[tokio::test]
async fn an_active_token_is_described() {
    let fx = fixture().await;
    let app = oauth_app(&fx, false);
    let caller = introspector(&fx).await;
    let token = fx
        .obtain_with(ALICE, json!({"scope": "read", "name": "phone", "lifespan": "7d"}))
        .await;
    let alice = fx.record(&token).await.user_id;

    let response = send(&app, form("/auth/introspect", Some(&caller), &token_form(&token))).await;
    let expected = json!({
        "active": true,
        "scope": "read",
        "username": ALICE,
        "sub": alice.as_str(),
        "token_type": "Token",
        "exp": (START + Duration::days(7)).unix_timestamp(),
        "iat": START.unix_timestamp(),
    });
    assert_eq!((response.status.as_u16(), response.json()), (200, expected));
    assert_eq!(
        response.keys(),
        ["active", "scope", "username", "sub", "token_type", "exp", "iat"]
    );
    assert_eq!(response.header(header::CACHE_CONTROL), Some("no-store"));
    assert_eq!(response.header(header::CONTENT_TYPE), Some("application/json"));

    // The hint names no type the server tells apart: whatever it says, the same answer.
    for hint in ["access_token", "refresh_token", "bogus", ""] {
        let body = format!("{}&token_type_hint={hint}", token_form(&token));
        let hinted = send(&app, form("/auth/introspect", Some(&caller), &body)).await;
        assert_eq!(hinted.body, response.body, "hint {hint:?}");
    }
}

#[tokio::test]
async fn a_token_without_scopes_is_described_without_scope() {
    let fx = Fixture::new().await;
    let app = oauth_app(&fx, true);
    let token = fx.obtain(ALICE).await;
    let response = send(
        &app,
        form("/auth/introspect", Some(&client_basic()), &token_form(&token)),
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.keys(),
        ["active", "username", "sub", "token_type", "exp", "iat"]
    );
}

#[tokio::test]
async fn introspection_neither_records_a_use_nor_slides_the_expiry() {
    let fx = fixture()
        .await
        .configure(|auth| auth.with_idle_timeout(Some("1h".parse().unwrap())));
    let app = oauth_app(&fx, true);
    let token = fx.obtain(ALICE).await;
    let ask = || form("/auth/introspect", Some(&client_basic()), &token_form(&token));

    // Asked about every 20 minutes for 50 minutes: the expiry stays an hour after issue.
    for _ in 0..3 {
        fx.clock.advance(Duration::minutes(20));
        let response = send(&app, ask()).await;
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(
            response.json()["exp"],
            (START + Duration::hours(1)).unix_timestamp(),
            "{}",
            response.body
        );
    }
    fx.auth.flush_usage().await.unwrap();
    assert_eq!(fx.record(&token).await.last_used, None, "no use recorded");

    // An hour after issue, unused: inactive, and refused where it would be used.
    fx.clock.set(START + Duration::hours(1) + Duration::seconds(1));
    assert_inactive(&send(&app, ask()).await, "idle for an hour");
    send(&app, get_token("/protected", &token))
        .await
        .assert(401, EXPIRED);
}

#[tokio::test]
async fn every_token_that_is_not_active_gets_the_same_answer() {
    let fx = fixture().await;
    let app = oauth_app(&fx, true);
    let ask = |token: &str| form("/auth/introspect", Some(&client_basic()), &token_form(token));

    assert_inactive(&send(&app, ask(&unknown_token())).await, "unknown");
    for garbage in [
        "garbage",
        "tka_",
        "tka_x",
        "Token abc",
        "\u{e9}\u{0}",
        &"x".repeat(4000),
    ] {
        assert_inactive(&send(&app, ask(garbage)).await, garbage);
    }
    // Invalid percent-encoding decodes as it stands, naming no token.
    let response = send(
        &app,
        form("/auth/introspect", Some(&client_basic()), "token=%ZZ%"),
    )
    .await;
    assert_inactive(&response, "bad percent-encoding");

    let expired = fx.expired_token().await;
    assert_inactive(&send(&app, ask(&expired)).await, "expired");

    let revoked = fx.obtain(ALICE).await;
    send(&app, with_token(Method::POST, "/auth/logout", &revoked)).await;
    assert_inactive(&send(&app, ask(&revoked)).await, "revoked");

    let deactivated = fx.obtain(ALICE).await;
    let dave = fx.obtain(DAVE).await;
    let alice = fx.record(&deactivated).await.user_id;
    fx.users.set_active(&alice, false).await.unwrap();
    assert_inactive(&send(&app, ask(&deactivated)).await, "inactive user");

    let dave_id = fx.record(&dave).await.user_id;
    fx.users.delete_user(&dave_id).await.unwrap();
    assert_inactive(&send(&app, ask(&dave)).await, "deleted user");
}

#[tokio::test]
async fn callers_without_credentials_are_refused() {
    let fx = fixture().await;
    let body = token_form(&fx.obtain(ALICE).await);

    // With a client configured, both ways in are offered.
    let app = oauth_app(&fx, true);
    let response = send(&app, form("/auth/introspect", None, &body)).await;
    response.assert(401, NOT_PROVIDED);
    let challenges: Vec<_> = response
        .headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .collect();
    assert_eq!(challenges, ["Token", BASIC]);

    // Without one, only tokens; a Basic header is no credential of this server's.
    let app = oauth_app(&fx, false);
    let response = send(&app, form("/auth/introspect", None, &body)).await;
    response.assert(401, NOT_PROVIDED);
    assert_eq!(response.header(header::WWW_AUTHENTICATE), Some("Token"));
    let response = send(&app, form("/auth/introspect", Some(&client_basic()), &body)).await;
    response.assert(401, NOT_PROVIDED);
    assert_eq!(response.header(header::WWW_AUTHENTICATE), Some("Token"));
}

#[tokio::test]
async fn a_token_must_work_and_carry_the_introspect_scope() {
    let fx = fixture().await;
    let app = oauth_app(&fx, true);
    let body = token_form(&fx.obtain(ALICE).await);

    let reader = format!("Token {}", fx.obtain_with(DAVE, json!({"scope": "read"})).await);
    let response = send(&app, form("/auth/introspect", Some(&reader), &body)).await;
    response.assert(403, INSUFFICIENT);
    assert_eq!(
        response.header(header::WWW_AUTHENTICATE),
        Some(r#"Token error="insufficient_scope", scope="introspect""#)
    );

    let unknown = format!("Token {}", unknown_token());
    send(&app, form("/auth/introspect", Some(&unknown), &body))
        .await
        .assert(401, INVALID_TOKEN);

    // Tokens obtained without asking for scopes carry them all, `introspect` included.
    let broad = format!("Token {}", fx.obtain(DAVE).await);
    let response = send(&app, form("/auth/introspect", Some(&broad), &body)).await;
    assert_eq!(response.json()["active"], true, "{}", response.body);

    // On a service that cannot grant it, no token can introspect.
    let fx = Fixture::new().await;
    let app = oauth_app(&fx, false);
    let token = format!("Token {}", fx.obtain(DAVE).await);
    send(&app, form("/auth/introspect", Some(&token), &body))
        .await
        .assert(403, INSUFFICIENT);
}

#[tokio::test]
async fn the_client_credential_is_checked() {
    let fx = fixture().await;
    let app = oauth_app(&fx, true);
    let token = fx.obtain(ALICE).await;
    let body = token_form(&token);

    // Form-urlencoded parts, as RFC 6749 asks, and as sent by clients that do not
    // encode them (authlib among them).
    for authorization in [client_basic(), basic(CLIENT_ID, CLIENT_SECRET)] {
        let response = send(&app, form("/auth/introspect", Some(&authorization), &body)).await;
        assert_eq!(
            response.json()["username"],
            ALICE,
            "{authorization}: {}",
            response.body
        );
    }
    let lowercase = client_basic().replacen("Basic", "basic", 1);
    let response = send(&app, form("/auth/introspect", Some(&lowercase), &body)).await;
    assert_eq!(response.status, 200, "{}", response.body);

    let encoded = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let refused = [
        basic(CLIENT_ID, "wrong secret wrong secret wrong secret"),
        basic(CLIENT_ID, &CLIENT_SECRET[..CLIENT_SECRET.len() - 1]),
        basic(CLIENT_ID, ""),
        basic("other", CLIENT_SECRET),
        basic("", CLIENT_SECRET),
        format!("Basic {}", encoded(CLIENT_ID)),
        format!("Basic {}", encoded(&format!("{CLIENT_SECRET}:{CLIENT_ID}"))),
        "Basic !!not base64!!".to_owned(),
        "Basic ".to_owned(),
    ];
    for authorization in refused {
        let response = send(&app, form("/auth/introspect", Some(&authorization), &body)).await;
        response.assert(401, INVALID_CLIENT);
        let challenges: Vec<_> = response
            .headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(challenges, [BASIC], "{authorization}");
    }
}

#[tokio::test]
async fn malformed_requests_are_refused_with_json() {
    let fx = fixture().await;
    let app = oauth_app(&fx, true);
    let token = fx.obtain(ALICE).await;
    let client = client_basic();
    let caller = Some(client.as_str());

    for path in ["/auth/introspect", "/auth/revoke"] {
        for body in [
            "",
            "token=",
            "other=1",
            "token_type_hint=access_token",
            "tokens=x",
        ] {
            send(&app, form(path, caller, body)).await.assert(400, MISSING);
        }
        let twice = format!("{0}&{0}", token_form(&token));
        send(&app, form(path, caller, &twice)).await.assert(400, REPEATED);

        // Another content type, or none, for a body that is not empty.
        let json_body = json!({"token": token}).to_string();
        send(&app, raw(path, caller, Some("application/json"), &json_body))
            .await
            .assert(
                415,
                r#"{"detail":"Unsupported media type \"application/json\" in request."}"#,
            );
        send(&app, raw(path, caller, Some("text/plain"), &token_form(&token)))
            .await
            .assert(
                415,
                r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#,
            );
        send(&app, raw(path, caller, None, &token_form(&token)))
            .await
            .assert(415, r#"{"detail":"Unsupported media type \"\" in request."}"#);
        let multipart = "--b\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nx\r\n--b--\r\n";
        let response = send(
            &app,
            raw(path, caller, Some("multipart/form-data; boundary=b"), multipart),
        )
        .await;
        assert_eq!(response.status, 415, "{path}: {}", response.body);
        // An empty body of any type has no token.
        send(&app, raw(path, caller, Some("application/json"), ""))
            .await
            .assert(400, MISSING);

        // Too large: declared, or sent without a length.
        let large = format!("token={}", "a".repeat(tokenauth::routes::MAX_BODY_BYTES));
        send(&app, form(path, caller, &large))
            .await
            .assert(413, r#"{"detail":"Request body is too large."}"#);
        let stream = futures_stream(large.clone());
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::AUTHORIZATION, &client)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(stream)
            .unwrap();
        send(&app, request)
            .await
            .assert(413, r#"{"detail":"Request body is too large."}"#);
        let many = (0..=tokenauth::routes::MAX_FIELDS)
            .map(|i| format!("f{i}=1"))
            .collect::<Vec<_>>()
            .join("&");
        send(&app, form(path, caller, &many))
            .await
            .assert(400, r#"{"detail":"Too many fields: at most 32 are accepted."}"#);

        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let request = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(header::AUTHORIZATION, &client)
                .body(Body::empty())
                .unwrap();
            send(&app, request)
                .await
                .assert_method_not_allowed(&method, "POST");
        }
    }
    // None of this touched the token.
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
}

/// A body with no length: its chunks arrive one by one.
fn futures_stream(text: String) -> Body {
    let chunks: Vec<Result<String, std::io::Error>> = text
        .into_bytes()
        .chunks(1024)
        .map(|chunk| Ok(String::from_utf8(chunk.to_vec()).unwrap()))
        .collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}
