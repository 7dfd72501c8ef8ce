//! `POST /auth/tokens`: a named personal token for the user of the presented token, no
//! broader than it, its secret shown once.

mod common;

use axum::body::Body;
use common::*;
use http::{Method, Request, StatusCode, header};
use serde_json::{Map, Value, json};
use time::Duration;
use tokenauth::core::{OnLimit, Scopes, TokenLimit};
use tokenauth::routes::{MAX_BODY_BYTES, MAX_FIELDS};

const FORBIDDEN: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

/// `POST /auth/tokens` with `Authorization: Token <token>` (none if `None`) and a body
/// of `content_type` (none if `None`).
fn create_raw(token: Option<&str>, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::builder().method(Method::POST).uri("/auth/tokens");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Token {token}"));
    }
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body.into()).expect("a valid request")
}

/// `POST /auth/tokens` with a JSON body.
fn create(token: &str, body: &Value) -> Request<Body> {
    create_raw(Some(token), Some("application/json"), body.to_string())
}

async fn scoped_fixture() -> Fixture {
    Fixture::new()
        .await
        .configure(|auth| auth.with_scopes(Scopes::parse("read write").unwrap()))
}

/// Asserts a 201 for `name` and `scopes` expiring `lifespan` from now; the new token.
#[track_caller]
fn assert_created(
    fx: &Fixture,
    response: &Response,
    name: &str,
    scopes: Value,
    lifespan: Duration,
) -> String {
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    assert_eq!(response.keys(), ["token", "id", "name", "scopes", "expiry"]);
    assert_eq!(response.header(header::CACHE_CONTROL), Some("no-store"));
    let body = response.json();
    assert_eq!(body["name"], name);
    assert_eq!(body["scopes"], scopes);
    let expiry = (fx.auth.now() + lifespan)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(body["expiry"], expiry);
    body["token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn a_personal_token_is_shown_once_works_and_is_listed_without_its_secret() {
    let fx = scoped_fixture().await;
    let app = fx.app();
    let session = fx.obtain(ALICE).await;

    let response = send(
        &app,
        create(
            &session,
            &json!({"name": " deploy bot ", "scope": "read", "lifespan": "7d"}),
        ),
    )
    .await;
    let personal = assert_created(&fx, &response, "deploy bot", json!(["read"]), Duration::days(7));
    let id = response.json()["id"].clone();
    assert_eq!(fx.record(&personal).await.id.to_string(), id.as_str().unwrap());

    // It authenticates, within its scope only.
    send(&app, get_token("/read", &personal)).await.assert_user(ALICE);
    send(&app, with_token(Method::POST, "/write", &personal))
        .await
        .assert(403, FORBIDDEN);
    // The list shows it, never its secret.
    let list = send(&app, get_token("/auth/tokens", &session)).await;
    assert!(
        !list.body.contains(&personal),
        "the secret is listed: {}",
        list.body
    );
    let listed: Vec<Value> = list.json().as_array().unwrap().clone();
    let entry = listed.iter().find(|t| t["id"] == id).expect("listed");
    assert_eq!(
        (&entry["name"], &entry["scopes"], &entry["current"]),
        (&json!("deploy bot"), &json!(["read"]), &json!(false))
    );
    // And it is revoked like any other token.
    let revoke = format!("/auth/tokens/{}", id.as_str().unwrap());
    let revoked = send(&app, with_token(Method::DELETE, &revoke, &session)).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    send(&app, get_token("/read", &personal))
        .await
        .assert(401, INVALID_TOKEN);
}

#[tokio::test]
async fn form_and_multipart_bodies_are_read_as_the_obtain_endpoints() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let session = fx.obtain(ALICE).await;
    let form = create_raw(
        Some(&session),
        Some("application/x-www-form-urlencoded"),
        "name=laptop&lifespan=3600",
    );
    let response = send(&app, form).await;
    assert_created(&fx, &response, "laptop", json!([]), Duration::hours(1));
    let multipart = "--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nphone\r\n--b--\r\n";
    let multipart = create_raw(Some(&session), Some("multipart/form-data; boundary=b"), multipart);
    let response = send(&app, multipart).await;
    assert_created(&fx, &response, "phone", json!([]), Duration::days(30));
}

#[tokio::test]
async fn without_a_scope_it_carries_the_callers_and_an_empty_one_asks_for_none() {
    let fx = scoped_fixture().await;
    let app = fx.app();
    let caller = fx.obtain_with(ALICE, json!({"scope": "read sessions"})).await;
    let response = send(&app, create(&caller, &json!({"name": "same"}))).await;
    assert_created(
        &fx,
        &response,
        "same",
        json!(["read", "sessions"]),
        Duration::days(30),
    );
    let response = send(&app, create(&caller, &json!({"name": "none", "scope": ""}))).await;
    assert_created(&fx, &response, "none", json!([]), Duration::days(30));
}

#[tokio::test]
async fn a_token_cannot_mint_a_broader_one() {
    let fx = scoped_fixture().await;
    let app = fx.app();
    let caller = fx.obtain_with(ALICE, json!({"scope": "read sessions"})).await;
    let stored = fx.stored_count().await;
    send(
        &app,
        create(&caller, &json!({"name": "n", "scope": "read write"})),
    )
    .await
    .assert(
        403,
        r#"{"detail":"A token cannot grant a scope it does not carry: \"write\"."}"#,
    );
    // A scope the service does not grant at all is the obtain endpoint's 400.
    send(&app, create(&caller, &json!({"name": "n", "scope": "admin"})))
        .await
        .assert(400, r#"{"scope":["Scope \"admin\" cannot be granted."]}"#);
    assert_eq!(fx.stored_count().await, stored, "nothing was issued");
}

#[tokio::test]
async fn the_lifespan_is_at_most_the_servers_with_the_obtain_endpoints_messages() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let session = fx.obtain(ALICE).await;
    for (lifespan, body) in [
        (
            json!("31d"),
            r#"{"lifespan":["Ensure the lifespan is at most 30d (2592000 seconds)."]}"#,
        ),
        (
            json!("soon"),
            r#"{"lifespan":["Invalid duration. Use a number of seconds or a number with a unit, such as 7d, 12h or 90m."]}"#,
        ),
        (
            json!(0),
            r#"{"lifespan":["Ensure the lifespan is longer than zero."]}"#,
        ),
    ] {
        send(
            &app,
            create(&session, &json!({"name": "n", "lifespan": lifespan})),
        )
        .await
        .assert(400, body);
    }
    let response = send(&app, create(&session, &json!({"name": "n", "lifespan": "30d"}))).await;
    assert_created(&fx, &response, "n", json!([]), Duration::days(30));
}

#[tokio::test]
async fn a_name_is_required() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let session = fx.obtain(ALICE).await;
    let required = r#"{"name":["This field is required."]}"#;
    send(&app, create(&session, &json!({})))
        .await
        .assert(400, required);
    send(&app, create(&session, &json!({"scope": ""})))
        .await
        .assert(400, required);
    // No body at all is no data.
    send(&app, create_raw(Some(&session), None, Body::empty()))
        .await
        .assert(400, required);
    send(&app, create(&session, &json!({"name": "  "})))
        .await
        .assert(400, r#"{"name":["This field may not be blank."]}"#);
    send(&app, create(&session, &json!({"name": ["x"]})))
        .await
        .assert(400, r#"{"name":["Not a valid string."]}"#);
    send(&app, create(&session, &json!({"name": "n".repeat(201)})))
        .await
        .assert(
            400,
            r#"{"name":["Ensure this field has no more than 200 characters."]}"#,
        );
}

#[tokio::test]
async fn malformed_unsupported_and_oversized_bodies_get_a_4xx() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let session = fx.obtain(ALICE).await;
    let token = Some(session.as_str());
    let stored = fx.stored_count().await;

    let response = send(&app, create_raw(token, Some("application/json"), r#"{"name": "#)).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.body);
    let detail = response.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.starts_with("JSON parse error - "), "{detail}");
    send(&app, create_raw(token, Some("application/json"), "[1]"))
        .await
        .assert(
            400,
            r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}"#,
        );
    send(&app, create_raw(token, Some("text/plain"), "name=n"))
        .await
        .assert(
            415,
            r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#,
        );
    send(&app, create_raw(token, None, "name=n"))
        .await
        .assert(415, r#"{"detail":"Unsupported media type \"\" in request."}"#);
    let response = send(
        &app,
        create_raw(token, Some("multipart/form-data; boundary=b"), "--b\r\ngarbage"),
    )
    .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.body);

    // Over the obtain endpoint's limit, streamed or declared.
    let big = json!({"name": "x".repeat(MAX_BODY_BYTES)}).to_string();
    send(&app, create_raw(token, Some("application/json"), big))
        .await
        .assert(413, r#"{"detail":"Request body is too large."}"#);
    let mut declared = create(&session, &json!({"name": "n"}));
    declared
        .headers_mut()
        .insert(header::CONTENT_LENGTH, (2 * 1024 * 1024).into());
    send(&app, declared)
        .await
        .assert(413, r#"{"detail":"Request body is too large."}"#);
    let many: Map<String, Value> = (0..=MAX_FIELDS).map(|n| (format!("f{n}"), json!(1))).collect();
    send(&app, create(&session, &Value::Object(many)))
        .await
        .assert(400, r#"{"detail":"Too many fields: at most 32 are accepted."}"#);
    assert_eq!(fx.stored_count().await, stored, "nothing was issued");
}

#[tokio::test]
async fn without_valid_credentials_it_is_a_401_before_the_body_is_read() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let expired = fx.expired_token().await;
    for (token, body) in [
        (None, NOT_PROVIDED),
        (Some(unknown_token()), INVALID_TOKEN),
        (Some(expired), EXPIRED),
    ] {
        for payload in [r#"{"name": "n"}"#, "not json"] {
            let request = create_raw(token.as_deref(), Some("application/json"), payload);
            send(&app, request).await.assert(401, body);
        }
    }
    assert_eq!(fx.stored_count().await, 1, "only the expired login is stored");
}

#[tokio::test]
async fn a_token_without_the_session_scope_is_refused() {
    let fx = scoped_fixture().await;
    let app = fx.app();
    let read = fx.obtain_with(ALICE, json!({"scope": "read"})).await;
    let response = send(&app, create(&read, &json!({"name": "n", "scope": "read"}))).await;
    response.assert(403, FORBIDDEN);
    assert_eq!(
        response.header(header::WWW_AUTHENTICATE),
        Some(r#"Token error="insufficient_scope", scope="sessions""#)
    );
}

#[tokio::test]
async fn the_per_user_limit_applies_as_for_logins() {
    let fx = Fixture::new()
        .await
        .configure(|auth| auth.with_token_limit(Some(TokenLimit::new(2, OnLimit::Reject))));
    let app = fx.app();
    let session = fx.obtain(ALICE).await;
    let response = send(&app, create(&session, &json!({"name": "one"}))).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    send(&app, create(&session, &json!({"name": "two"})))
        .await
        .assert(
            403,
            r#"{"detail":"Token limit reached: at most 2 active tokens per user. Log out on another device or revoke a token first."}"#,
        );
}
