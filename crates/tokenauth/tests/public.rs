//! A public endpoint (a handler taking `Option<Authenticated>`) behind `TokenAuthLayer`:
//! rows 42-47 of the wire spec (`docs/drf-wire.md`), in the "tokenauth"
//! column, and the lenient mode.

mod common;

use common::*;
use time::Duration;

const ANONYMOUS: &str = "anonymous";

#[tokio::test]
async fn row_42_no_header_or_a_valid_token() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    send(&app, get_with("/public", None)).await.assert_user(ANONYMOUS);
    send(&app, get_with("/public", Some(b"")))
        .await
        .assert_user(ANONYMOUS);
    send(&app, get_token("/public", &token)).await.assert_user(ALICE);
    send(&app, get_auth("/public", &format!("bearer {token}")))
        .await
        .assert_user(ALICE);
}

#[tokio::test]
async fn row_44_an_unknown_token_is_refused_even_on_a_public_route() {
    let fx = Fixture::new().await;
    let app = fx.app();
    send(&app, get_token("/public", &unknown_token()))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, get_token("/public", "garbage"))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, get_auth("/public", "Token a b")).await.assert(
        401,
        r#"{"detail":"Invalid token header. Token string should not contain spaces."}"#,
    );
}

#[tokio::test]
async fn row_45_an_expired_token_is_refused_even_on_a_public_route() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.expired_token().await;
    send(&app, get_token("/public", &token))
        .await
        .assert(401, EXPIRED);
}

#[tokio::test]
async fn row_45_an_inactive_users_token_is_refused_on_a_public_route() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(DAVE).await;
    assert!(fx.auth.set_active(DAVE, false).await.unwrap().is_some());
    send(&app, get_token("/public", &token))
        .await
        .assert(401, INACTIVE);
}

#[tokio::test]
async fn row_47_other_schemes_are_anonymous_a_bad_bearer_token_is_not() {
    let fx = Fixture::new().await;
    let app = fx.app();
    for header in [
        "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==",
        "Digest username=\"alice\"",
        "Tokens x",
    ] {
        send(&app, get_auth("/public", header))
            .await
            .assert_user(ANONYMOUS);
    }
    // Bearer is an accepted keyword by default, so a bad Bearer token is checked.
    send(&app, get_auth("/public", &format!("Bearer {}", unknown_token())))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, get_auth("/public", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"))
        .await
        .assert(401, INVALID_TOKEN);
}

#[tokio::test]
async fn row_47_bearer_is_anonymous_when_only_token_is_configured() {
    let fx = Fixture::new().await;
    let token = fx.obtain(ALICE).await;
    let app = app(fx.auth.clone().with_keywords(["Token"]), false);
    for header in [
        format!("Bearer {token}"),
        format!("Bearer {}", unknown_token()),
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig".to_owned(),
        "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==".to_owned(),
    ] {
        send(&app, get_auth("/public", &header))
            .await
            .assert_user(ANONYMOUS);
    }
    send(&app, get_token("/public", &token)).await.assert_user(ALICE);
    send(&app, get_token("/public", &unknown_token()))
        .await
        .assert(401, INVALID_TOKEN);
}

#[tokio::test]
async fn lenient_public_route_serves_failing_credentials_as_anonymous() {
    let fx = Fixture::new().await;
    let app = fx.lenient_app();
    let token = fx.obtain(ALICE).await;
    let dave = fx.obtain(DAVE).await;
    send(&app, get_token("/public", &token)).await.assert_user(ALICE);
    send(&app, get_with("/public", None)).await.assert_user(ANONYMOUS);

    send(&app, get_token("/public", &unknown_token()))
        .await
        .assert_user(ANONYMOUS);
    send(&app, get_auth("/public", &format!("Bearer {}", unknown_token())))
        .await
        .assert_user(ANONYMOUS);
    send(&app, get_auth("/public", "Token a b"))
        .await
        .assert_user(ANONYMOUS);
    send(&app, get_auth("/public", "Token"))
        .await
        .assert_user(ANONYMOUS);
    send(&app, get_with("/public", Some(b"Token \xe9\xff")))
        .await
        .assert_user(ANONYMOUS);

    assert!(fx.auth.set_active(DAVE, false).await.unwrap().is_some());
    send(&app, get_token("/public", &dave))
        .await
        .assert_user(ANONYMOUS);

    fx.clock.advance(LIFESPAN + Duration::microseconds(1));
    send(&app, get_token("/public", &token))
        .await
        .assert_user(ANONYMOUS);
    // The protected route still gives the real reason.
    send(&app, get_token("/protected", &token))
        .await
        .assert(401, EXPIRED);
}
