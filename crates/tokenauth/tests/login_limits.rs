//! The obtain endpoint's bounds on memory and work: a small body limit, caps on fields,
//! parts, scopes, username and password, all answered before any password work.

mod common;

use axum::body::Body;
use common::*;
use http::{Request, header};
use serde_json::{Map, Value, json};
use tokenauth::routes::{MAX_BODY_BYTES, MAX_FIELDS, MAX_PASSWORD_BYTES, MAX_SCOPES, MAX_USERNAME_CHARS};

const TOO_LARGE: &str = r#"{"detail":"Request body is too large."}"#;
const TOO_MANY_FIELDS: &str = r#"{"detail":"Too many fields: at most 32 are accepted."}"#;

/// Sends `request` and asserts the answer, and that no password was checked.
async fn refused_without_a_hash(fx: &Fixture, request: Request<Body>, status: u16, body: &str) {
    let hashes = fx.auth.password_hasher().verifications();
    send(&fx.app(), request).await.assert(status, body);
    assert_eq!(
        fx.auth.password_hasher().verifications(),
        hashes,
        "no password work"
    );
}

fn padded_login(size: usize) -> String {
    let login = json!({"username": ALICE, "password": PASSWORD, "pad": ""}).to_string();
    let pad = "x".repeat(size - login.len());
    json!({"username": ALICE, "password": PASSWORD, "pad": pad}).to_string()
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let fx = Fixture::new().await;
    // At the limit: a login.
    let response = send(
        &fx.app(),
        obtain_raw(Some("application/json"), padded_login(MAX_BODY_BYTES)),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    // One byte over, streamed without a length: read no further than the limit.
    let over = padded_login(MAX_BODY_BYTES + 1);
    refused_without_a_hash(
        &fx,
        obtain_raw(Some("application/json"), over.clone()),
        413,
        TOO_LARGE,
    )
    .await;
    for content_type in [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=b",
    ] {
        refused_without_a_hash(&fx, obtain_raw(Some(content_type), over.clone()), 413, TOO_LARGE).await;
    }
    // Declared too large: refused on the header, before reading.
    let mut declared = obtain_raw(Some("application/json"), "{}");
    declared
        .headers_mut()
        .insert(header::CONTENT_LENGTH, (2 * 1024 * 1024).into());
    refused_without_a_hash(&fx, declared, 413, TOO_LARGE).await;
}

#[tokio::test]
async fn too_many_fields_parts_or_scopes_are_refused_before_any_hash() {
    let fx = Fixture::new().await;
    let mut fields: Map<String, Value> = (0..MAX_FIELDS - 1).map(|n| (format!("f{n}"), json!(1))).collect();
    fields.insert("username".into(), json!(ALICE));
    fields.insert("password".into(), json!("wrong"));
    refused_without_a_hash(
        &fx,
        obtain_json(&Value::Object(fields.clone())),
        400,
        TOO_MANY_FIELDS,
    )
    .await;
    fields.remove("f0");
    send(&fx.app(), obtain_json(&Value::Object(fields)))
        .await
        .assert(400, BAD_CREDENTIALS);

    let form = (0..=MAX_FIELDS)
        .map(|n| format!("f{n}=1"))
        .collect::<Vec<_>>()
        .join("&");
    let form = format!("username={ALICE}&password=wrong&{form}");
    refused_without_a_hash(
        &fx,
        obtain_raw(Some("application/x-www-form-urlencoded"), form),
        400,
        TOO_MANY_FIELDS,
    )
    .await;

    let mut multipart = String::new();
    for n in 0..=MAX_FIELDS {
        multipart.push_str(&format!(
            "--b\r\nContent-Disposition: form-data; name=\"f{n}\"\r\n\r\n1\r\n"
        ));
    }
    multipart.push_str("--b--\r\n");
    refused_without_a_hash(
        &fx,
        obtain_raw(Some("multipart/form-data; boundary=b"), multipart),
        400,
        TOO_MANY_FIELDS,
    )
    .await;

    let scopes = vec!["read"; MAX_SCOPES + 1].join(" ");
    refused_without_a_hash(
        &fx,
        obtain_json(&json!({"username": ALICE, "password": "wrong", "scope": scopes})),
        400,
        r#"{"scope":["Ensure this field has no more than 32 scopes."]}"#,
    )
    .await;
}

#[tokio::test]
async fn a_long_username_or_password_is_refused_before_any_hash() {
    let fx = Fixture::new().await;
    let long_name = "é".repeat(MAX_USERNAME_CHARS + 1);
    refused_without_a_hash(
        &fx,
        obtain_json(&json!({"username": format!(" {long_name} "), "password": PASSWORD})),
        400,
        r#"{"username":["Ensure this field has no more than 150 characters."]}"#,
    )
    .await;
    refused_without_a_hash(
        &fx,
        obtain_json(&json!({"username": ALICE, "password": "p".repeat(MAX_PASSWORD_BYTES + 1)})),
        400,
        r#"{"password":["Ensure this field has no more than 4096 bytes."]}"#,
    )
    .await;
    // At the limits: checked (and wrong).
    let hashes = fx.auth.password_hasher().verifications();
    let at_limits = json!({
        "username": format!(" {} ", "é".repeat(MAX_USERNAME_CHARS)),
        "password": "p".repeat(MAX_PASSWORD_BYTES),
    });
    send(&fx.app(), obtain_json(&at_limits))
        .await
        .assert(400, BAD_CREDENTIALS);
    assert_eq!(fx.auth.password_hasher().verifications(), hashes + 1);
}

/// A login that finds the hashing queue full is answered 503 with `Retry-After` at
/// once, without waiting and without password work; the login holding the slot goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hashing_queue_answers_503_at_once() {
    let fx = Fixture::new().await;
    // One slow hash at a time (a few hundred milliseconds), and nobody may wait.
    let params = argon2::Params::new(19 * 1024, 30, 1, None).expect("valid parameters");
    let slow = tokenauth::core::PasswordHasher::with_params(params)
        .with_slots(1)
        .with_queue(0, std::time::Duration::from_secs(5));
    let app = common::app(fx.auth.clone().with_password_hasher(slow.clone()), false);
    let login = json!({"username": ALICE, "password": PASSWORD});
    let first = tokio::spawn({
        let (app, login) = (app.clone(), login.clone());
        async move { send(&app, obtain_json(&login)).await }
    });
    // The first login is hashing: it holds the only slot.
    while slow.verifications() == 0 {
        tokio::task::yield_now().await;
    }
    let busy = send(&app, obtain_json(&login)).await;
    busy.assert(
        503,
        r#"{"detail":"Service temporarily unavailable, try again later."}"#,
    );
    assert!(
        busy.headers.contains_key(header::RETRY_AFTER),
        "{:?}",
        busy.headers
    );
    assert_eq!(slow.verifications(), 1, "the refused login did no password work");
    assert_eq!(first.await.expect("the first login ran").status, 200);
}
