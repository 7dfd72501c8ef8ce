//! A protected endpoint (a handler taking `Authenticated`) behind `TokenAuthLayer`: rows
//! 22-38 of the wire spec (`docs/drf-wire.md`), in the "tokenauth" column; the header's
//! edge cases (rows 28-33, 35) are in `authorization_header.rs`.

mod common;

use axum::Router;
use axum::routing::get;
use common::*;
use http::{HeaderValue, Method, header};
use time::Duration;
use tokenauth::{Authenticated, Lifespan};

#[tokio::test]
async fn row_22_valid_token() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let alice = fx.obtain(ALICE).await;
    let dave = fx.obtain(DAVE).await;
    send(&app, get_token("/protected", &alice))
        .await
        .assert_user(ALICE);
    send(&app, get_token("/protected", &dave)).await.assert_user(DAVE);
}

#[tokio::test]
async fn row_23_expiry_is_strict_at_exactly_the_lifespan() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;

    fx.clock.advance(LIFESPAN - Duration::microseconds(1));
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
    fx.clock.advance(Duration::microseconds(1));
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
    fx.clock.advance(Duration::microseconds(1));
    send(&app, get_token("/protected", &token))
        .await
        .assert(401, EXPIRED);
    fx.clock.advance(Duration::days(365));
    send(&app, get_token("/protected", &token))
        .await
        .assert(401, EXPIRED);
}

#[tokio::test]
async fn a_changed_lifespan_applies_to_existing_tokens_at_once() {
    let fx = Fixture::new().await;
    let token = fx.obtain(ALICE).await;
    let short = app(
        fx.auth.clone().with_lifespan("1h".parse::<Lifespan>().unwrap()),
        false,
    );

    fx.clock.advance(Duration::hours(1));
    send(&short, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
    fx.clock.advance(Duration::microseconds(1));
    send(&short, get_token("/protected", &token))
        .await
        .assert(401, EXPIRED);
    // Under the default lifespan the same token is still valid.
    send(&fx.app(), get_token("/protected", &token))
        .await
        .assert_user(ALICE);
}

#[tokio::test]
async fn row_24_unknown_token_or_valid_token_in_other_case() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    let swapped: String = token
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    for key in [
        unknown_token(),
        swapped,
        token.to_uppercase(),
        token.to_lowercase(),
        "abc".to_owned(),
        "tka_".to_owned(),
        token[..token.len() - 1].to_owned(),
        format!("{token}0"),
        // A 40-hex DRF key: never one of ours.
        "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b".to_owned(),
    ] {
        assert_ne!(key, token);
        send(&app, get_token("/protected", &key))
            .await
            .assert(401, INVALID_TOKEN);
    }
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
}

#[tokio::test]
async fn row_25_no_header_or_an_empty_one() {
    let fx = Fixture::new().await;
    let app = fx.app();
    send(&app, get_with("/protected", None))
        .await
        .assert(401, NOT_PROVIDED);
    send(&app, get_with("/protected", Some(b"")))
        .await
        .assert(401, NOT_PROVIDED);
    send(&app, get_with("/protected", Some(b"   ")))
        .await
        .assert(401, NOT_PROVIDED);
}

#[tokio::test]
async fn row_26_keyword_without_a_token() {
    let fx = Fixture::new().await;
    let app = fx.app();
    // (`Bearer` alone is RFC 6750's 400 `invalid_request`: tests/bearer.rs.)
    for header in ["Token", "Token   ", "token", "Token\t"] {
        send(&app, get_auth("/protected", header))
            .await
            .assert(401, NO_CREDENTIALS);
    }
}

#[tokio::test]
async fn row_27_token_with_spaces() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    for header in [
        "Token abc def".to_owned(),
        format!("Token {token} x"),
        format!("Token x {token}"),
        format!("Token {token}\t{token}"),
    ] {
        send(&app, get_auth("/protected", &header))
            .await
            .assert(401, SPACES);
    }
}

#[tokio::test]
async fn row_36_token_of_a_user_deactivated_after_obtaining() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(DAVE).await;
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(DAVE);

    assert!(fx.auth.set_active(DAVE, false).await.unwrap().is_some());
    send(&app, get_token("/protected", &token))
        .await
        .assert(401, INACTIVE);
    // Other users are not affected.
    let alice = fx.obtain(ALICE).await;
    send(&app, get_token("/protected", &alice))
        .await
        .assert_user(ALICE);

    assert!(fx.auth.set_active(DAVE, true).await.unwrap().is_some());
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(DAVE);
}

#[tokio::test]
async fn row_37_inactive_is_checked_before_expiry() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(DAVE).await;
    fx.clock.advance(LIFESPAN + Duration::microseconds(1));
    send(&app, get_token("/protected", &token))
        .await
        .assert(401, EXPIRED);

    assert!(fx.auth.set_active(DAVE, false).await.unwrap().is_some());
    send(&app, get_token("/protected", &token))
        .await
        .assert(401, INACTIVE);
}

#[tokio::test]
async fn wrong_method_with_a_bad_token_is_a_401_as_in_drf() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let mut request = request(Method::POST, "/protected", None);
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, HeaderValue::from_static("Token bad"));
    send(&app, request)
        .await
        .assert(401, r#"{"detail":"Invalid token"}"#);
}

#[tokio::test]
async fn row_38_wrong_method_with_a_valid_token() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let mut request = request(method.clone(), "/protected", None);
        request.headers_mut().insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Token {token}")).unwrap(),
        );
        let response = send(&app, request).await;
        response.assert(
            405,
            &format!(r#"{{"detail":"Method \"{method}\" not allowed."}}"#),
        );
        let allow = response.header(header::ALLOW).expect("an Allow header");
        assert!(
            allow.split(',').map(str::trim).any(|m| m == "GET"),
            "Allow: {allow}"
        );
        assert!(!allow.contains("POST"), "Allow: {allow}");
    }
}

#[tokio::test]
async fn lenient_mode_still_refuses_protected_routes_with_the_real_reason() {
    let fx = Fixture::new().await;
    let app = fx.lenient_app();
    let token = fx.obtain(ALICE).await;
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
    send(&app, get_token("/protected", &unknown_token()))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, get_auth("/protected", "Token a b"))
        .await
        .assert(401, SPACES);
    send(&app, get_auth("/protected", "Token"))
        .await
        .assert(401, NO_CREDENTIALS);
    send(&app, get_with("/protected", None))
        .await
        .assert(401, NOT_PROVIDED);

    fx.clock.advance(LIFESPAN + Duration::microseconds(1));
    send(&app, get_token("/protected", &token))
        .await
        .assert(401, EXPIRED);
}

#[tokio::test]
async fn lenient_mode_reports_inactive_users_on_protected_routes() {
    let fx = Fixture::new().await;
    let app = fx.lenient_app();
    let token = fx.obtain(DAVE).await;
    assert!(fx.auth.set_active(DAVE, false).await.unwrap().is_some());
    send(&app, get_token("/protected", &token))
        .await
        .assert(401, INACTIVE);
}

#[tokio::test]
async fn an_extractor_without_the_layer_is_a_server_error() {
    let fx = Fixture::new().await;
    let token = fx.obtain(ALICE).await;
    let app: Router = Router::new()
        .route(
            "/required",
            get(|auth: Authenticated| async move { auth.user.username }),
        )
        .route(
            "/optional",
            get(|auth: Option<Authenticated>| async move { format!("{:?}", auth.map(|a| a.user.username)) }),
        );
    for logs in server_errors(&app, &token).await {
        // The log names the fix.
        assert!(
            logs.contains("no `TokenAuthLayer` runs in front of this route"),
            "{logs}"
        );
    }
}

/// Requests to `/required` and `/optional` of `app`, without credentials and with
/// `token`: each must get DRF's bare 500, which tells the client nothing about the
/// server; the lines each logged, which must include an error.
async fn server_errors(app: &Router, token: &str) -> Vec<String> {
    let mut logged = Vec::new();
    for path in ["/required", "/optional"] {
        for authorization in [None, Some(format!("Token {token}"))] {
            let (logs, _guard) = common::capture_logs(tracing::Level::INFO);
            send(app, get_with(path, authorization.as_deref().map(str::as_bytes)))
                .await
                .assert(500, r#"{"detail":"A server error occurred."}"#);
            let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
            assert!(logs.contains("ERROR"), "{logs}");
            logged.push(logs);
        }
    }
    logged
}

/// Another user type than the layer's directory yields (and not the plain `User`,
/// which every directory's users can be seen as).
#[derive(Debug, Clone)]
struct NotTheDirectorysUser;

impl tokenauth::core::AuthUser for NotTheDirectorysUser {
    fn id(&self) -> tokenauth::UserId {
        tokenauth::UserId::new("nobody")
    }
    fn username(&self) -> &str {
        "nobody"
    }
    fn is_active(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn an_extractor_of_another_user_type_is_a_server_error_naming_both() {
    let fx = Fixture::new().await;
    let token = fx.obtain(ALICE).await;
    let app: Router = Router::new()
        .route(
            "/required",
            get(|_: Authenticated<NotTheDirectorysUser>| async { "unreachable" }),
        )
        .route(
            "/optional",
            get(|_: Option<Authenticated<NotTheDirectorysUser>>| async { "unreachable" }),
        )
        .layer(tokenauth::TokenAuthLayer::new(fx.auth.clone()));
    // With or without credentials: the mistake shows on the first request.
    for logs in server_errors(&app, &token).await {
        // The log names both types, and blames no missing layer.
        assert!(
            logs.contains("`Authenticated<protected::NotTheDirectorysUser>`"),
            "{logs}"
        );
        assert!(logs.contains("`tokenauth_core::user::User`"), "{logs}");
        assert!(!logs.contains("TokenAuthLayer` runs"), "{logs}");
    }
}
