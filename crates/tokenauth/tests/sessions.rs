//! The session routes behind `TokenAuthLayer`: logout, logout everywhere, the token
//! list and revoking one token.

mod common;

use common::*;
use http::{Method, header};
use serde_json::{Value, json};
use time::Duration;
use time::format_description::well_known::Rfc3339;
use tokenauth::core::{AuthEvent, RevokeReason, TokenId};

const NOT_FOUND: &str = r#"{"detail":"Not found."}"#;

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

/// Asserts a 204 with an empty body.
#[track_caller]
fn assert_no_content(response: &Response) {
    response.assert(204, "");
    assert_eq!(response.header(header::CONTENT_TYPE), None);
}

#[tokio::test]
async fn logout_of_one_device_leaves_the_other_working() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let phone = fx.obtain_with(ALICE, json!({"name": "phone"})).await;
    let laptop = fx.obtain_with(ALICE, json!({"name": "laptop"})).await;
    assert_ne!(phone, laptop);
    send(&app, get_token("/protected", &phone))
        .await
        .assert_user(ALICE);
    send(&app, get_token("/protected", &laptop))
        .await
        .assert_user(ALICE);
    let phone_id = fx.record(&phone).await.id;
    fx.take_events();

    assert_no_content(&send(&app, with_token(Method::POST, "/auth/logout", &phone)).await);
    let events = fx.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [AuthEvent::Revoked { token_id, reason: RevokeReason::Logout, .. }] if *token_id == phone_id
        ),
        "{events:?}"
    );

    // The very next request with the revoked token is refused; the other device goes on.
    send(&app, get_token("/protected", &phone))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, with_token(Method::POST, "/auth/logout", &phone))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, get_token("/protected", &laptop))
        .await
        .assert_user(ALICE);
    send(&app, get_token("/public", &laptop)).await.assert_user(ALICE);
}

#[tokio::test]
async fn logoutall_kills_every_token_of_the_user_only() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let phone = fx.obtain(ALICE).await;
    let laptop = fx.obtain(ALICE).await;
    let dave = fx.obtain(DAVE).await;
    fx.take_events();

    assert_no_content(&send(&app, with_token(Method::POST, "/auth/logoutall", &laptop)).await);
    let reasons: Vec<_> = fx
        .take_events()
        .into_iter()
        .map(|event| match event {
            AuthEvent::Revoked { reason, .. } => reason,
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(reasons, [RevokeReason::LogoutAll, RevokeReason::LogoutAll]);

    for token in [&phone, &laptop] {
        send(&app, get_token("/protected", token))
            .await
            .assert(401, INVALID_TOKEN);
    }
    send(&app, get_token("/protected", &dave)).await.assert_user(DAVE);
    // A new login works again.
    let again = fx.obtain(ALICE).await;
    send(&app, get_token("/protected", &again))
        .await
        .assert_user(ALICE);
}

#[tokio::test]
async fn the_token_list_shows_exactly_the_live_tokens_and_no_secret() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let phone = fx.obtain_with(ALICE, json!({"name": "phone"})).await;
    let short = fx
        .obtain_with(ALICE, json!({"name": "short", "lifespan": "1h"}))
        .await;
    let revoked = fx.obtain(ALICE).await;
    let dave = fx.obtain(DAVE).await;
    assert_no_content(&send(&app, with_token(Method::POST, "/auth/logout", &revoked)).await);

    fx.clock.advance(Duration::hours(1));
    send(&app, get_token("/protected", &phone))
        .await
        .assert_user(ALICE);
    fx.clock.advance(Duration::hours(1));
    let laptop = fx.obtain_with(ALICE, json!({"name": "laptop"})).await;
    fx.clock.advance(Duration::hours(1));

    let response = send(&app, get_token("/auth/tokens", &laptop)).await;
    assert_eq!(response.header(header::CONTENT_TYPE), Some("application/json"));
    let (phone_id, laptop_id) = (fx.record(&phone).await.id, fx.record(&laptop).await.id);
    // The exact bytes, so the field order (the documented one) is pinned too.
    let entry = |id: &TokenId, name: &str, created, last_used, current: bool| {
        format!(
            r#"{{"id":"{id}","name":"{name}","scopes":[],"created":"{}","expiry":"{}","last_used":"{}","current":{current}}}"#,
            rfc3339(created),
            rfc3339(created + LIFESPAN),
            rfc3339(last_used),
        )
    };
    let expected = format!(
        "[{},{}]",
        entry(&phone_id, "phone", START, START + Duration::hours(1), false),
        entry(
            &laptop_id,
            "laptop",
            START + Duration::hours(2),
            START + Duration::hours(3),
            true
        ),
    );
    response.assert(200, &expected);
    for secret in [&phone, &short, &revoked, &dave, &laptop] {
        assert!(!response.body.contains(secret.as_str()), "a token leaked");
        assert!(!response.body.contains(&secret[4..20]), "part of a token leaked");
    }

    // From the other device, `current` moves; a token obtained without a name shows
    // `"name": null`.
    let response = send(&app, get_token("/auth/tokens", &phone)).await;
    let list = response.json();
    let current: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].clone(), t["current"].clone()))
        .collect();
    assert_eq!(
        current,
        [(json!("phone"), json!(true)), (json!("laptop"), json!(false))]
    );

    let response = send(&app, get_token("/auth/tokens", &dave)).await;
    let list = response.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], Value::Null);
    assert_eq!(list[0]["current"], true);
}

#[tokio::test]
async fn revoking_by_id_works_only_on_ones_own_tokens() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let phone = fx.obtain(ALICE).await;
    let laptop = fx.obtain(ALICE).await;
    let dave = fx.obtain(DAVE).await;
    let (phone_id, dave_id) = (fx.record(&phone).await.id, fx.record(&dave).await.id);
    fx.take_events();

    // Another user's id is as unknown as a missing or malformed one.
    let unknown = TokenId::generate();
    for id in [
        dave_id.as_str(),
        unknown.as_str(),
        "not-an-id",
        "0",
        &format!("{phone_id}x"),
        "%FF%FE",
    ] {
        let path = format!("/auth/tokens/{id}");
        send(&app, with_token(Method::DELETE, &path, &laptop))
            .await
            .assert(404, NOT_FOUND);
    }
    assert_eq!(fx.take_events(), []);
    send(&app, get_token("/protected", &dave)).await.assert_user(DAVE);

    let path = format!("/auth/tokens/{phone_id}");
    assert_no_content(&send(&app, with_token(Method::DELETE, &path, &laptop)).await);
    let events = fx.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [AuthEvent::Revoked { token_id, reason: RevokeReason::ById, .. }] if *token_id == phone_id
        ),
        "{events:?}"
    );
    send(&app, get_token("/protected", &phone))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, with_token(Method::DELETE, &path, &laptop))
        .await
        .assert(404, NOT_FOUND);
    send(&app, get_token("/protected", &laptop))
        .await
        .assert_user(ALICE);

    // Revoking the presented token is a logout.
    let path = format!("/auth/tokens/{}", fx.record(&laptop).await.id);
    assert_no_content(&send(&app, with_token(Method::DELETE, &path, &laptop)).await);
    send(&app, get_token("/protected", &laptop))
        .await
        .assert(401, INVALID_TOKEN);
}

#[tokio::test]
async fn session_routes_need_a_token() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let expired = fx.expired_token().await;
    let id = fx.record(&expired).await.id;
    let revoke = format!("/auth/tokens/{id}");
    for (method, path) in [
        (Method::POST, "/auth/logout"),
        (Method::POST, "/auth/logoutall"),
        (Method::GET, "/auth/tokens"),
        (Method::DELETE, revoke.as_str()),
    ] {
        send(&app, request(method.clone(), path, None))
            .await
            .assert(401, NOT_PROVIDED);
        send(&app, with_token(method.clone(), path, &unknown_token()))
            .await
            .assert(401, INVALID_TOKEN);
        send(&app, with_token(method, path, &expired))
            .await
            .assert(401, EXPIRED);
    }
    assert!(fx.is_stored(&expired).await, "nothing was revoked");
}

#[tokio::test]
async fn session_routes_answer_other_methods_with_a_json_405() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    let id = fx.record(&token).await.id;
    let one = format!("/auth/tokens/{id}");
    for (method, path, allow) in [
        (Method::GET, "/auth/logout", "POST"),
        (Method::DELETE, "/auth/logoutall", "POST"),
        (Method::DELETE, "/auth/tokens", "GET,HEAD,POST"),
        (Method::PUT, "/auth/tokens", "GET,HEAD,POST"),
        (Method::GET, one.as_str(), "DELETE"),
        (Method::POST, one.as_str(), "DELETE"),
    ] {
        send(&app, with_token(method.clone(), path, &token))
            .await
            .assert_method_not_allowed(&method, allow);
    }
    // Nothing was revoked on the way.
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
}
