//! The obtain endpoint, `POST /api-token-auth/`: rows 1-21 of the wire spec
//! (`docs/drf-wire.md`), in the "tokenauth" column.

mod common;

use std::collections::HashSet;

use axum::body::Body;
use common::*;
use http::{Method, Request, StatusCode, header};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn credentials(username: &str, password: &str) -> serde_json::Value {
    json!({"username": username, "password": password})
}

/// Asserts a successful obtain (row 1's shape) issued at `now`, and returns the token.
#[track_caller]
fn assert_issued(response: &Response, now: OffsetDateTime) -> String {
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.header(header::CACHE_CONTROL), Some("no-store"));
    assert_eq!(response.header(header::CONTENT_TYPE), Some("application/json"));
    let body = response.json();
    assert_eq!(response.keys(), ["token", "expiry"], "{}", response.body);
    let token = body["token"].as_str().expect("a string token");
    assert!(token.starts_with("tka_"), "{token}");
    assert_eq!(token.len(), 53, "tka_ + 49 base62 characters: {token}");
    assert!(token[4..].bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
    let expiry = body["expiry"].as_str().expect("a string expiry");
    let parsed = OffsetDateTime::parse(expiry, &Rfc3339).expect("an RFC 3339 expiry");
    assert_eq!(parsed, now + LIFESPAN, "{expiry}");
    token.to_owned()
}

#[tokio::test]
async fn row_1_json_login_returns_a_token_and_its_expiry() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let response = send(&app, obtain_json(&credentials(ALICE, PASSWORD))).await;
    let token = assert_issued(&response, START);
    assert_eq!(response.json()["expiry"], "2026-01-31T12:34:56.123456Z");
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
}

#[tokio::test]
async fn row_1_the_endpoint_is_also_served_at_auth_token() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let request = Request::post("/auth/token")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(credentials(ALICE, PASSWORD).to_string()))
        .unwrap();
    let token = assert_issued(&send(&app, request).await, START);
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
}

#[tokio::test]
async fn row_1_json_content_type_with_charset_is_json() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let request = obtain_raw(
        Some("application/json; charset=utf-8"),
        credentials(ALICE, PASSWORD).to_string(),
    );
    assert_issued(&send(&app, request).await, START);
}

#[tokio::test]
async fn row_2_urlencoded_login() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let request = obtain_raw(
        Some("application/x-www-form-urlencoded"),
        "username=alice&password=correct+horse",
    );
    let token = assert_issued(&send(&app, request).await, START);
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);

    let request = obtain_raw(
        Some("application/x-www-form-urlencoded"),
        "username=%20alice%20&password=correct%20horse",
    );
    assert_issued(&send(&app, request).await, START);
}

fn multipart(parts: &[(&str, &str)]) -> Request<Body> {
    const BOUNDARY: &str = "----tokenauth-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = String::new();
    for (name, value) in parts {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    obtain_raw(Some(&format!("multipart/form-data; boundary={BOUNDARY}")), body)
}

#[tokio::test]
async fn row_2_multipart_login() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let response = send(&app, multipart(&[("username", ALICE), ("password", PASSWORD)])).await;
    let token = assert_issued(&response, START);
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);

    send(&app, multipart(&[("username", ALICE)]))
        .await
        .assert(400, r#"{"password":["This field is required."]}"#);
    send(&app, multipart(&[("username", ALICE), ("password", "wrong")]))
        .await
        .assert(400, BAD_CREDENTIALS);
}

#[tokio::test]
async fn row_3_each_login_issues_a_new_token_and_both_work() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let first = assert_issued(
        &send(&app, obtain_json(&credentials(ALICE, PASSWORD))).await,
        START,
    );
    fx.clock.advance(Duration::hours(1));
    let second = assert_issued(
        &send(&app, obtain_json(&credentials(ALICE, PASSWORD))).await,
        START + Duration::hours(1),
    );
    assert_ne!(first, second);
    send(&app, get_token("/protected", &first))
        .await
        .assert_user(ALICE);
    send(&app, get_token("/protected", &second))
        .await
        .assert_user(ALICE);

    // Obtaining again does not extend the first token.
    fx.clock
        .advance(LIFESPAN - Duration::hours(1) + Duration::microseconds(1));
    send(&app, get_token("/protected", &first))
        .await
        .assert(401, EXPIRED);
    send(&app, get_token("/protected", &second))
        .await
        .assert_user(ALICE);
}

#[tokio::test]
async fn row_4_login_after_expiry_issues_a_new_working_token() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let old = fx.expired_token().await;
    let old_response = send(&app, get_token("/protected", &old)).await;
    assert_eq!(
        old_response.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        old_response.body
    );

    let now = START + LIFESPAN + Duration::microseconds(1);
    let new = assert_issued(&send(&app, obtain_json(&credentials(ALICE, PASSWORD))).await, now);
    assert_ne!(old, new);
    send(&app, get_token("/protected", &new)).await.assert_user(ALICE);
}

#[tokio::test]
async fn row_5_no_data_requires_both_fields() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let required = r#"{"username":["This field is required."],"password":["This field is required."]}"#;
    send(&app, obtain_json(&json!({}))).await.assert(400, required);
    send(&app, obtain_raw(None, Body::empty()))
        .await
        .assert(400, required);
    send(&app, obtain_raw(Some("application/json"), Body::empty()))
        .await
        .assert(400, required);
    send(
        &app,
        obtain_raw(Some("application/x-www-form-urlencoded"), Body::empty()),
    )
    .await
    .assert(400, required);
    send(&app, multipart(&[])).await.assert(400, required);
}

#[tokio::test]
async fn row_6_only_username() {
    let fx = Fixture::new().await;
    send(&fx.app(), obtain_json(&json!({"username": ALICE})))
        .await
        .assert(400, r#"{"password":["This field is required."]}"#);
}

#[tokio::test]
async fn row_7_only_password() {
    let fx = Fixture::new().await;
    send(&fx.app(), obtain_json(&json!({"password": PASSWORD})))
        .await
        .assert(400, r#"{"username":["This field is required."]}"#);
}

#[tokio::test]
async fn row_8_empty_strings() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let blank =
        r#"{"username":["This field may not be blank."],"password":["This field may not be blank."]}"#;
    send(&app, obtain_json(&credentials("", "")))
        .await
        .assert(400, blank);
    // The username is trimmed before the blank check.
    send(&app, obtain_json(&credentials("   ", "")))
        .await
        .assert(400, blank);
    send(
        &app,
        obtain_raw(Some("application/x-www-form-urlencoded"), "username=&password="),
    )
    .await
    .assert(400, blank);
}

#[tokio::test]
async fn row_9_nulls() {
    let fx = Fixture::new().await;
    send(
        &fx.app(),
        obtain_json(&json!({"username": null, "password": null})),
    )
    .await
    .assert(
        400,
        r#"{"username":["This field may not be null."],"password":["This field may not be null."]}"#,
    );
}

#[tokio::test]
async fn row_10_lists_and_objects_are_not_strings() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let not_strings = r#"{"username":["Not a valid string."],"password":["Not a valid string."]}"#;
    send(
        &app,
        obtain_json(&json!({"username": ["alice"], "password": {"a": 1}})),
    )
    .await
    .assert(400, not_strings);
    send(&app, obtain_json(&json!({"username": {}, "password": []})))
        .await
        .assert(400, not_strings);
}

#[tokio::test]
async fn row_11_numbers_are_coerced_booleans_are_not() {
    let fx = Fixture::new().await;
    send(
        &fx.app(),
        obtain_json(&json!({"username": 123, "password": true})),
    )
    .await
    .assert(400, r#"{"password":["Not a valid string."]}"#);
}

#[tokio::test]
async fn row_12_every_bad_login_gets_the_same_answer() {
    let fx = Fixture::new().await;
    let app = fx.app();
    for (username, password) in [
        (ALICE, "wrong password"),
        ("nobody", PASSWORD),
        (BOB_INACTIVE, PASSWORD),
        ("Alice", PASSWORD),
        ("ALICE", PASSWORD),
    ] {
        let response = send(&app, obtain_json(&credentials(username, password))).await;
        assert_eq!(
            (response.status.as_u16(), response.body.as_str()),
            (400, BAD_CREDENTIALS),
            "{username:?} / {password:?}"
        );
        assert_eq!(response.header(header::CONTENT_TYPE), Some("application/json"));
    }
}

#[tokio::test]
async fn row_13_username_is_trimmed() {
    let fx = Fixture::new().await;
    let app = fx.app();
    for username in ["  alice  ", "alice ", " alice", "\talice\n"] {
        let response = send(&app, obtain_json(&credentials(username, PASSWORD))).await;
        let token = assert_issued(&response, START);
        send(&app, get_token("/protected", &token))
            .await
            .assert_user(ALICE);
    }
}

#[tokio::test]
async fn row_14_password_is_not_trimmed() {
    let fx = Fixture::new().await;
    let app = fx.app();
    for password in [" correct horse", "correct horse ", " correct horse "] {
        send(&app, obtain_json(&credentials(ALICE, password)))
            .await
            .assert(400, BAD_CREDENTIALS);
    }
}

#[tokio::test]
async fn row_15_a_json_array_or_null_is_not_a_dictionary() {
    let fx = Fixture::new().await;
    let app = fx.app();
    send(
        &app,
        obtain_raw(Some("application/json"), r#"["alice","correct horse"]"#),
    )
    .await
    .assert(
        400,
        r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}"#,
    );
    send(&app, obtain_raw(Some("application/json"), "null"))
        .await
        .assert(400, r#"{"non_field_errors":["No data provided"]}"#);
}

#[tokio::test]
async fn row_16_malformed_json() {
    let fx = Fixture::new().await;
    let app = fx.app();
    for body in [
        r#"{"username": "alice","#,
        "{username: alice}",
        "{'a': 1}",
        "nope",
    ] {
        let response = send(&app, obtain_raw(Some("application/json"), body)).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            response.body
        );
        let json = response.json();
        let object = json.as_object().expect("an object");
        assert_eq!(object.len(), 1, "{}", response.body);
        let detail = json["detail"].as_str().expect("a detail string");
        assert!(detail.starts_with("JSON parse error - "), "{detail}");
        assert!(detail.len() > "JSON parse error - ".len(), "{detail}");
    }
}

#[tokio::test]
async fn row_17_unsupported_media_type() {
    let fx = Fixture::new().await;
    send(
        &fx.app(),
        obtain_raw(Some("text/plain"), "username=alice&password=correct horse"),
    )
    .await
    .assert(
        415,
        r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#,
    );
}

/// An empty body is no data whatever its declared type, as in DRF.
#[tokio::test]
async fn an_empty_body_is_no_data_whatever_its_type() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let required = r#"{"username":["This field is required."],"password":["This field is required."]}"#;
    for content_type in ["text/plain", "multipart/form-data; boundary=x", "application/xml"] {
        let mut request = obtain_raw(Some(content_type), Body::empty());
        request
            .headers_mut()
            .insert(header::CONTENT_LENGTH, http::HeaderValue::from_static("0"));
        send(&app, request).await.assert(400, required);
    }
}

/// DRF reads a missing `Content-Type` as `""`: a body without one is a 415 too (an
/// empty body without one is no data: row 5).
#[tokio::test]
async fn a_body_without_a_content_type_is_unsupported() {
    let fx = Fixture::new().await;
    send(
        &fx.app(),
        obtain_raw(None, r#"{"username":"alice","password":"x"}"#),
    )
    .await
    .assert(415, r#"{"detail":"Unsupported media type \"\" in request."}"#);
}

#[tokio::test]
async fn row_18_other_methods_get_405_with_allow_post() {
    let fx = Fixture::new().await;
    let app = fx.app();
    for path in ["/api-token-auth/", "/auth/token"] {
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::OPTIONS] {
            let response = send(&app, request(method.clone(), path, None)).await;
            response.assert(
                405,
                &format!(r#"{{"detail":"Method \"{method}\" not allowed."}}"#),
            );
            assert_eq!(response.header(header::ALLOW), Some("POST"), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn row_20_login_ignores_an_unknown_token() {
    let fx = Fixture::new().await;
    let app = fx.app();
    for authorization in [
        format!("Token {}", unknown_token()),
        "Token garbage".to_owned(),
        "Token a b".to_owned(),
        "Token".to_owned(),
        format!("Bearer {}", unknown_token()),
    ] {
        let mut request = obtain_json(&credentials(ALICE, PASSWORD));
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, authorization.parse().unwrap());
        let token = assert_issued(&send(&app, request).await, START);
        send(&app, get_token("/protected", &token))
            .await
            .assert_user(ALICE);
    }
}

#[tokio::test]
async fn row_21_login_ignores_an_expired_token() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let expired = fx.expired_token().await;
    send(&app, get_token("/protected", &expired))
        .await
        .assert(401, EXPIRED);

    let mut request = obtain_json(&credentials(ALICE, PASSWORD));
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, format!("Token {expired}").parse().unwrap());
    let now = START + LIFESPAN + Duration::microseconds(1);
    let token = assert_issued(&send(&app, request).await, now);
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_of_a_user_whose_token_just_expired_never_fail() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let _expired = fx.expired_token().await;
    let now = START + LIFESPAN + Duration::microseconds(1);

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { send(&app, obtain_json(&credentials(ALICE, PASSWORD))).await })
        })
        .collect();
    let mut tokens = HashSet::new();
    for task in tasks {
        let response = task.await.expect("the login task does not panic");
        assert!(!response.status.is_server_error(), "{response:?}");
        tokens.insert(assert_issued(&response, now));
    }
    assert_eq!(tokens.len(), 8, "every login gets its own token");
    for token in &tokens {
        send(&app, get_token("/protected", token))
            .await
            .assert_user(ALICE);
    }
}
