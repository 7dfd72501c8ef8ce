//! The obtain endpoint's token lifecycle options: per-token lifespans, the per-user
//! limit, the obtain policy, and the audit events they produce.

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use tokenauth::core::{AuthEvent, ObtainPolicy, OnLimit, RevokeReason, TokenLimit};

const LIMIT_REACHED: &str = r#"{"detail":"Token limit reached: at most 2 active tokens per user. Log out on another device or revoke a token first."}"#;

fn login(extra: serde_json::Value) -> http::Request<axum::body::Body> {
    let mut body = json!({"username": ALICE, "password": PASSWORD});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    obtain_json(&body)
}

fn expiry(response: &Response) -> OffsetDateTime {
    let body = response.json();
    OffsetDateTime::parse(body["expiry"].as_str().expect("an expiry"), &Rfc3339).unwrap()
}

#[tokio::test]
async fn a_7_day_token_dies_after_7_days_while_the_default_lives_30() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let response = send(&app, login(json!({"lifespan": "7d"}))).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(expiry(&response), START + Duration::days(7));
    let week = response.json()["token"].as_str().unwrap().to_owned();
    let default = fx.obtain(ALICE).await;

    fx.clock.advance(Duration::days(7));
    send(&app, get_token("/protected", &week))
        .await
        .assert_user(ALICE);
    fx.clock.advance(Duration::microseconds(1));
    send(&app, get_token("/protected", &week))
        .await
        .assert(401, EXPIRED);
    send(&app, get_token("/protected", &default))
        .await
        .assert_user(ALICE);

    fx.clock.advance(LIFESPAN - Duration::days(7));
    send(&app, get_token("/protected", &default))
        .await
        .assert(401, EXPIRED);
}

#[tokio::test]
async fn lifespans_may_be_seconds_as_a_number_or_a_string() {
    let fx = Fixture::new().await;
    let app = fx.app();
    for (lifespan, expected) in [
        (json!(3600), Duration::hours(1)),
        (json!("90"), Duration::seconds(90)),
        (json!("12h"), Duration::hours(12)),
        (json!("30d"), LIFESPAN),
        (json!(null), LIFESPAN),
        (json!(""), LIFESPAN),
    ] {
        let response = send(&app, login(json!({"lifespan": lifespan}))).await;
        assert_eq!(response.status, StatusCode::OK, "{lifespan}: {}", response.body);
        assert_eq!(expiry(&response), START + expected, "{lifespan}");
    }
    // Urlencoded forms carry it too.
    let response = send(
        &app,
        obtain_raw(
            Some("application/x-www-form-urlencoded"),
            "username=alice&password=correct+horse&lifespan=2h",
        ),
    )
    .await;
    assert_eq!(expiry(&response), START + Duration::hours(2));
}

#[tokio::test]
async fn a_lifespan_over_the_maximum_is_refused_naming_it() {
    let fx = Fixture::new().await;
    let app = fx.app();
    for lifespan in [json!("60d"), json!("30d 1s"), json!(2_592_001), json!("200y")] {
        send(&app, login(json!({"lifespan": lifespan}))).await.assert(
            400,
            r#"{"lifespan":["Ensure the lifespan is at most 30d (2592000 seconds)."]}"#,
        );
    }
    // The maximum is the configured lifespan.
    let short = app_with(&fx, |auth| auth.with_lifespan("1h".parse().unwrap()));
    send(&short, login(json!({"lifespan": "2h"}))).await.assert(
        400,
        r#"{"lifespan":["Ensure the lifespan is at most 1h (3600 seconds)."]}"#,
    );
    assert_eq!(fx.stored_count().await, 0, "nothing was issued");
}

fn app_with(fx: &Fixture, configure: impl FnOnce(Auth) -> Auth) -> axum::Router {
    app(configure(fx.auth.clone()), false)
}

#[tokio::test]
async fn an_invalid_lifespan_is_a_field_error() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let invalid = r#"{"lifespan":["Invalid duration. Use a number of seconds or a number with a unit, such as 7d, 12h or 90m."]}"#;
    for lifespan in [
        json!("a week"),
        json!("7x"),
        json!(-60),
        json!(1.5),
        json!(true),
        json!(["7d"]),
    ] {
        send(&app, login(json!({"lifespan": lifespan})))
            .await
            .assert(400, invalid);
    }
    send(&app, login(json!({"lifespan": "0"}))).await.assert(
        400,
        r#"{"lifespan":["Ensure the lifespan is longer than zero."]}"#,
    );
    // Field errors come before the credentials are checked, all at once.
    send(
        &app,
        obtain_json(&json!({"username": ALICE, "password": "wrong", "lifespan": "soon", "scope": []})),
    )
    .await
    .assert(
        400,
        r#"{"lifespan":["Invalid duration. Use a number of seconds or a number with a unit, such as 7d, 12h or 90m."],"scope":["Not a valid string."]}"#,
    );
}

#[tokio::test]
async fn on_limit_reject_refuses_the_login_over_the_limit() {
    let fx = Fixture::new()
        .await
        .configure(|auth| auth.with_token_limit(Some(TokenLimit::new(2, OnLimit::Reject))));
    let app = fx.app();
    let first = fx.obtain(ALICE).await;
    let second = fx.obtain(ALICE).await;
    fx.take_events();

    send(&app, login(json!({}))).await.assert(403, LIMIT_REACHED);
    let events = fx.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [AuthEvent::LimitReached {
                max: 2,
                rejected: true,
                ..
            }]
        ),
        "{events:?}"
    );
    // Other users have their own limit; the held tokens still work.
    fx.obtain(DAVE).await;
    send(&app, get_token("/protected", &first))
        .await
        .assert_user(ALICE);

    // Logging out one device makes room.
    send(&app, with_token(Method::POST, "/auth/logout", &second))
        .await
        .assert(204, "");
    let third = fx.obtain(ALICE).await;
    send(&app, get_token("/protected", &third))
        .await
        .assert_user(ALICE);
    send(&app, login(json!({}))).await.assert(403, LIMIT_REACHED);

    // Expired tokens do not count.
    fx.clock.advance(LIFESPAN + Duration::microseconds(1));
    fx.obtain(ALICE).await;
    fx.obtain(ALICE).await;
}

#[tokio::test]
async fn evict_oldest_makes_room_by_revoking_the_first_token() {
    let fx = Fixture::new()
        .await
        .configure(|auth| auth.with_token_limit(Some(TokenLimit::new(2, OnLimit::EvictOldest))));
    let app = fx.app();
    let first = fx.obtain(ALICE).await;
    fx.clock.advance(Duration::seconds(1));
    let second = fx.obtain(ALICE).await;
    fx.clock.advance(Duration::seconds(1));
    let first_id = fx.record(&first).await.id;
    fx.take_events();

    let third = fx.obtain(ALICE).await;
    let events = fx.take_events();
    let third_id = fx.record(&third).await.id;
    assert!(
        matches!(
            events.as_slice(),
            [
                AuthEvent::LimitReached { max: 2, rejected: false, .. },
                AuthEvent::Revoked { token_id: evicted, reason: RevokeReason::Evicted, .. },
                AuthEvent::Issued { token_id: issued, .. },
                AuthEvent::LoginSucceeded { .. },
            ] if *evicted == first_id && *issued == third_id
        ),
        "{events:?}"
    );
    send(&app, get_token("/protected", &first))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, get_token("/protected", &second))
        .await
        .assert_user(ALICE);
    send(&app, get_token("/protected", &third))
        .await
        .assert_user(ALICE);
}

#[tokio::test]
async fn the_replace_policy_kills_the_previous_token_on_login() {
    let fx = Fixture::new()
        .await
        .configure(|auth| auth.with_obtain_policy(ObtainPolicy::Replace));
    let app = fx.app();
    let first = fx.obtain(ALICE).await;
    let dave = fx.obtain(DAVE).await;
    let first_id = fx.record(&first).await.id;
    fx.take_events();

    let second = fx.obtain(ALICE).await;
    let events = fx.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [
                AuthEvent::Revoked { token_id, reason: RevokeReason::Replaced, .. },
                AuthEvent::Issued { .. },
                AuthEvent::LoginSucceeded { .. },
            ] if *token_id == first_id
        ),
        "{events:?}"
    );
    send(&app, get_token("/protected", &first))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, get_token("/protected", &second))
        .await
        .assert_user(ALICE);
    send(&app, get_token("/protected", &dave)).await.assert_user(DAVE);
}

#[tokio::test]
async fn the_event_hook_sees_each_event_when_it_happens() {
    let fx = Fixture::new()
        .await
        .configure(|auth| auth.with_token_limit(Some(TokenLimit::new(1, OnLimit::Reject))));
    let app = fx.app();

    let token = fx.obtain_with(ALICE, json!({"name": "phone"})).await;
    let record = fx.record(&token).await;
    assert_eq!(
        fx.take_events(),
        [
            AuthEvent::Issued {
                token_id: record.id.clone(),
                user_id: record.user_id.clone(),
                name: Some("phone".to_owned()),
            },
            AuthEvent::LoginSucceeded {
                user_id: record.user_id.clone(),
                ip: None,
            },
        ]
    );

    send(&app, login(json!({}))).await.assert(
        403,
        r#"{"detail":"Token limit reached: at most 1 active tokens per user. Log out on another device or revoke a token first."}"#,
    );
    assert_eq!(
        fx.take_events(),
        [AuthEvent::LimitReached {
            user_id: record.user_id.clone(),
            max: 1,
            rejected: true,
        }]
    );

    // Plain use is not an event; a bad login is a login event, not a token event.
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
    send(&app, obtain_json(&json!({"username": ALICE, "password": "nope"})))
        .await
        .assert(400, BAD_CREDENTIALS);
    assert_eq!(
        fx.take_events(),
        [AuthEvent::LoginFailed {
            username: Some(ALICE.to_owned()),
            ip: None,
        }]
    );

    fx.clock.advance(LIFESPAN + Duration::microseconds(1));
    send(&app, get_token("/protected", &token))
        .await
        .assert(401, EXPIRED);
    assert_eq!(
        fx.take_events(),
        [AuthEvent::ExpiredRejected {
            token_id: record.id.clone(),
            user_id: record.user_id.clone(),
        }]
    );

    let fresh = fx.obtain(ALICE).await;
    let fresh_record = fx.record(&fresh).await;
    fx.take_events();
    send(&app, with_token(Method::POST, "/auth/logout", &fresh))
        .await
        .assert(204, "");
    assert_eq!(
        fx.take_events(),
        [AuthEvent::Revoked {
            token_id: fresh_record.id,
            user_id: record.user_id,
            reason: RevokeReason::Logout,
        }]
    );
}
