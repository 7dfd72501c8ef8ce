//! The `Authorization` header's edge cases on a protected endpoint: rows 28-33 and 35 of
//! the wire spec (`docs/drf-wire.md`), in the "tokenauth" column (`protected.rs` has the
//! other rows).

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::*;
use http::{Request, header};
use tokenauth::TokenAuthLayer;

#[tokio::test]
async fn row_35_several_authorization_headers_are_refused_in_either_order() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let valid = format!("Token {}", fx.obtain(ALICE).await);
    for values in [
        [valid.as_str(), "garbage"],
        ["garbage", valid.as_str()],
        [valid.as_str(), valid.as_str()],
    ] {
        for path in ["/protected", "/public"] {
            send(&app, with_headers(path, &values)).await.assert(401, SPACES);
        }
    }
}

#[tokio::test]
async fn row_35_every_authorization_header_is_marked_sensitive() {
    let fx = Fixture::new().await;
    let valid = format!("Token {}", fx.obtain(ALICE).await);
    // Lenient, so the refused request reaches the handler, which reports what it saw.
    let app = Router::new()
        .route(
            "/public",
            get(|request: Request<Body>| async move {
                let values = request.headers().get_all(header::AUTHORIZATION);
                format!(
                    "{} sensitive of {}",
                    values.iter().filter(|v| v.is_sensitive()).count(),
                    values.iter().count()
                )
            }),
        )
        .layer(TokenAuthLayer::new(fx.auth.clone()).with_lenient(true));
    for values in [
        vec![valid.as_str()],
        vec!["garbage", valid.as_str(), "Basic eA=="],
    ] {
        let response = send(&app, with_headers("/public", &values)).await;
        let n = values.len();
        response.assert(200, &format!("{n} sensitive of {n}"));
    }
}

#[tokio::test]
async fn row_28_non_ascii_utf8_token_is_invalid() {
    let fx = Fixture::new().await;
    let app = fx.app();
    send(&app, get_with("/protected", Some("Token ключ-é".as_bytes())))
        .await
        .assert(401, INVALID_TOKEN);
}

#[tokio::test]
async fn row_29_non_utf8_token() {
    let fx = Fixture::new().await;
    let app = fx.app();
    send(&app, get_with("/protected", Some(b"Token \xe9\xff")))
        .await
        .assert(401, INVALID_CHARACTERS);
    // The header checks come in DRF's order: spaces before characters.
    send(&app, get_with("/protected", Some(b"Token \xe9\xff x")))
        .await
        .assert(401, SPACES);
}

#[tokio::test]
async fn row_30_other_schemes_are_anonymous_and_bearer_is_accepted_by_default() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;

    send(&app, get_auth("/protected", &format!("Bearer {token}")))
        .await
        .assert_user(ALICE);
    send(&app, get_auth("/protected", &format!("bearer {token}")))
        .await
        .assert_user(ALICE);
    for header in [
        "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==".to_owned(),
        format!("Tokens {token}"),
        format!("Tok {token}"),
        format!("Token{token}"),
        token.clone(),
    ] {
        send(&app, get_auth("/protected", &header))
            .await
            .assert(401, NOT_PROVIDED);
    }
}

#[tokio::test]
async fn row_30_bearer_is_anonymous_when_only_token_is_configured() {
    let fx = Fixture::new().await;
    let token = fx.obtain(ALICE).await;
    let app = app(fx.auth.clone().with_keywords(["Token"]), false);

    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
    for header in [
        format!("Bearer {token}"),
        "Bearer".to_owned(),
        "Bearer a b".to_owned(),
    ] {
        send(&app, get_auth("/protected", &header))
            .await
            .assert(401, NOT_PROVIDED);
    }
}

#[tokio::test]
async fn row_31_the_keyword_is_case_insensitive() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    for keyword in ["token", "TOKEN", "tOkEn", "BEARER"] {
        send(&app, get_auth("/protected", &format!("{keyword} {token}")))
            .await
            .assert_user(ALICE);
    }
}

#[tokio::test]
async fn row_32_whitespace_runs_collapse() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    for separator in ["  ", "\t", " \t "] {
        send(&app, get_auth("/protected", &format!("Token{separator}{token}")))
            .await
            .assert_user(ALICE);
    }
    send(&app, get_auth("/protected", &format!(" Token {token} \t")))
        .await
        .assert_user(ALICE);
}

#[tokio::test]
async fn row_33_an_8000_character_key_is_invalid_without_touching_the_store() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    let before = fx.store.lookups();

    let long = format!("tka_{}", "a".repeat(7996));
    assert_eq!(long.len(), 8000);
    send(&app, get_token("/protected", &long))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, get_token("/protected", &"x".repeat(8000)))
        .await
        .assert(401, INVALID_TOKEN);
    send(
        &app,
        get_token(
            "/protected",
            &format!("{token}{}", "0".repeat(8000 - token.len())),
        ),
    )
    .await
    .assert(401, INVALID_TOKEN);
    assert_eq!(fx.store.lookups(), before, "garbage reached the store");

    // A well-formed token does reach it.
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
    assert!(fx.store.lookups() > before);
}
