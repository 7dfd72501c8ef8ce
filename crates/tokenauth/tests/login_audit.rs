//! No password oracle over HTTP: a request refused for something that does not depend
//! on the user gets the same answer with the right and the wrong password.

mod common;

use common::*;
use serde_json::json;
use tokenauth::core::{AuthEvent, Scopes};

#[tokio::test]
async fn a_bad_scope_or_lifespan_gets_the_same_answer_whatever_the_password() {
    let fx = Fixture::new()
        .await
        .configure(|auth| auth.with_scopes(Scopes::parse("read").unwrap()));
    let app = fx.app();
    let hashes = fx.auth.password_hasher().verifications();
    for password in [PASSWORD, "wrong"] {
        send(
            &app,
            obtain_json(&json!({"username": ALICE, "password": password, "scope": "zzz"})),
        )
        .await
        .assert(400, r#"{"scope":["Scope \"zzz\" cannot be granted."]}"#);
        send(
            &app,
            obtain_json(&json!({"username": ALICE, "password": password, "lifespan": "60d"})),
        )
        .await
        .assert(
            400,
            r#"{"lifespan":["Ensure the lifespan is at most 30d (2592000 seconds)."]}"#,
        );
    }
    assert_eq!(fx.auth.password_hasher().verifications(), hashes);
    assert_eq!(fx.take_events(), []);
}

#[tokio::test]
async fn logins_are_audited_with_the_peer_address() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let login = |password: &str| {
        from_peer(
            obtain_json(&json!({"username": ALICE, "password": password})),
            "192.0.2.1:5000",
        )
    };
    send(&app, login("not it")).await.assert(400, BAD_CREDENTIALS);
    assert_eq!(send(&app, login(PASSWORD)).await.status, 200);
    let events = fx.take_events();
    let ip = Some("192.0.2.1".parse().unwrap());
    assert_eq!(
        events[0],
        AuthEvent::LoginFailed {
            username: Some(ALICE.to_owned()),
            ip
        }
    );
    assert!(matches!(events.last(), Some(AuthEvent::LoginSucceeded { ip: got, .. }) if *got == ip));
    assert!(!format!("{events:?}").contains("not it"));
}
