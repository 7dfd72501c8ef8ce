//! RFC 6750 challenges for clients that speak Bearer (`Challenge`): under `Auto` (the
//! default) a `Bearer` client gets them and every other client DRF's, under `Rfc6750`
//! every client gets them, under `Drf` none does. The bodies are DRF's in every mode.

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::*;
use http::{HeaderValue, Method, Request, header};
use http_body_util::BodyExt;
use serde_json::json;
use tokenauth::core::{Realm, Scopes};
use tokenauth::{Authenticated, Challenge};
use tower::ServiceExt;

const FORBIDDEN: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

/// What a client sees: the status, every `WWW-Authenticate`, the body.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    challenges: Vec<String>,
    body: String,
}

/// Sends `request`; what the client sees (an error body must be JSON).
async fn see(app: &Router, request: Request<Body>) -> Seen {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status().as_u16();
    let headers = response.headers();
    let challenges = headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().expect("an ASCII challenge").to_owned())
        .collect();
    if status >= 400 {
        let json = headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes);
        assert_eq!(json, Some(&b"application/json"[..]), "error bodies are JSON");
    }
    let body = response.into_body().collect().await.expect("a body").to_bytes();
    Seen {
        status,
        challenges,
        body: String::from_utf8(body.to_vec()).expect("a UTF-8 body"),
    }
}

/// `status` with exactly `challenge` and `body`.
fn seen(status: u16, challenge: &str, body: &str) -> Seen {
    Seen {
        status,
        challenges: vec![challenge.to_owned()],
        body: body.to_owned(),
    }
}

/// DRF's 401: `WWW-Authenticate: Token` and `body`.
fn drf(body: &str) -> Seen {
    seen(401, "Token", body)
}

/// The `detail` of a DRF error body.
fn detail(body: &str) -> String {
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    body["detail"].as_str().expect("a detail").to_owned()
}

/// RFC 6750's answer in `realm` for `error`, its description the body's detail.
fn rfc6750_in(realm: &str, status: u16, error: &str, body: &str) -> Seen {
    let description = detail(body);
    let challenge = format!(r#"Bearer realm="{realm}", error="{error}", error_description="{description}""#);
    seen(status, &challenge, body)
}

/// RFC 6750's 401 `invalid_token`, realm `api`.
fn invalid_token(body: &str) -> Seen {
    rfc6750_in("api", 401, "invalid_token", body)
}

/// RFC 6750's 400 `invalid_request`, realm `api`.
fn invalid_request(body: &str) -> Seen {
    rfc6750_in("api", 400, "invalid_request", body)
}

/// RFC 6750's 403 `insufficient_scope` for `scope`, realm `api`.
fn insufficient_scope(scope: &str) -> Seen {
    let mut seen = rfc6750_in("api", 403, "insufficient_scope", FORBIDDEN);
    seen.challenges[0].push_str(&format!(r#", scope="{scope}""#));
    seen
}

/// DRF's 403 for a missing `scope`.
fn drf_insufficient_scope(scope: &str) -> Seen {
    seen(
        403,
        &format!(r#"Token error="insufficient_scope", scope="{scope}""#),
        FORBIDDEN,
    )
}

fn bearer(path: &str, credentials: &str) -> Request<Body> {
    get_auth(path, &format!("Bearer {credentials}"))
}

fn post_bearer(path: &str, credentials: &str) -> Request<Body> {
    request(
        Method::POST,
        path,
        Some(format!("Bearer {credentials}").as_bytes()),
    )
}

async fn scoped_fixture() -> Fixture {
    Fixture::new()
        .await
        .configure(|auth| auth.with_scopes(Scopes::parse("read write").unwrap()))
}

#[tokio::test]
async fn auto_answers_a_bearer_client_in_rfc_6750_terms() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    let dave = fx.obtain(DAVE).await;

    // A valid Bearer token works, in any case of the keyword.
    send(&app, bearer("/protected", &token)).await.assert_user(ALICE);
    let mixed_case = format!("bEaReR {token}");
    send(&app, get_auth("/protected", &mixed_case))
        .await
        .assert_user(ALICE);
    // Credentials that fail: 401 `invalid_token`, DRF's detail in the body and as the
    // description; on public routes too, as DRF checks credentials that are present.
    let unknown = unknown_token();
    assert_eq!(
        see(&app, bearer("/protected", &unknown)).await,
        invalid_token(INVALID_TOKEN)
    );
    assert_eq!(
        see(&app, bearer("/public", &unknown)).await,
        invalid_token(INVALID_TOKEN)
    );
    let lower_case = format!("bearer {unknown}");
    assert_eq!(
        see(&app, get_auth("/protected", &lower_case)).await,
        invalid_token(INVALID_TOKEN)
    );
    assert!(fx.auth.set_active(DAVE, false).await.unwrap().is_some());
    assert_eq!(
        see(&app, bearer("/protected", &dave)).await,
        invalid_token(INACTIVE)
    );
    let expired = fx.expired_token().await;
    assert_eq!(
        see(&app, bearer("/protected", &expired)).await,
        invalid_token(EXPIRED)
    );
}

#[tokio::test]
async fn malformed_bearer_credentials_are_a_400_invalid_request() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    for (header, body) in [
        (b"Bearer".to_vec(), NO_CREDENTIALS),
        (b"bearer   ".to_vec(), NO_CREDENTIALS),
        (b"Bearer a b".to_vec(), SPACES),
        (format!("Bearer {token} x").into_bytes(), SPACES),
        (b"Bearer \xe9\xff".to_vec(), INVALID_CHARACTERS),
    ] {
        for path in ["/protected", "/public"] {
            assert_eq!(
                see(&app, get_with(path, Some(&header))).await,
                invalid_request(body)
            );
        }
    }
    // The same credentials with `Token` stay DRF's 401 (rows 26, 27, 29).
    assert_eq!(see(&app, get_auth("/protected", "Token a b")).await, drf(SPACES));
}

#[tokio::test]
async fn repeated_credentials_are_a_400_invalid_request_when_the_first_is_bearer() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    let (bearer, drf_token) = (format!("Bearer {token}"), format!("Token {token}"));
    for second in [bearer.as_str(), "garbage", drf_token.as_str()] {
        let request = with_headers("/protected", &[&bearer, second]);
        assert_eq!(see(&app, request).await, invalid_request(SPACES));
    }
    // The scheme is the first header's, as DRF reads the headers joined (row 35).
    let request = with_headers("/protected", &[&drf_token, &bearer]);
    assert_eq!(see(&app, request).await, drf(SPACES));
}

#[tokio::test]
async fn auto_answers_clients_without_credentials_and_token_clients_as_drf() {
    let fx = Fixture::new().await;
    let app = fx.app();
    // No credentials: DRF's challenge, so DRF clients see no change (a Bearer-only
    // deployment sets `Challenge::Rfc6750`, or puts `Bearer` first among the keywords).
    assert_eq!(see(&app, get_with("/protected", None)).await, drf(NOT_PROVIDED));
    // Another scheme is no credentials.
    let basic = get_auth("/protected", "Basic YWxpY2U6eA==");
    assert_eq!(see(&app, basic).await, drf(NOT_PROVIDED));
    let unknown = unknown_token();
    assert_eq!(
        see(&app, get_token("/protected", &unknown)).await,
        drf(INVALID_TOKEN)
    );
    // Bearer that is not a keyword is another scheme: anonymous, answered as DRF.
    let token_only = app_of(fx.auth.clone().with_keywords(["Token"]));
    assert_eq!(
        see(&token_only, bearer("/protected", &unknown)).await,
        drf(NOT_PROVIDED)
    );
}

fn app_of(auth: Auth) -> Router {
    app(auth, false)
}

#[tokio::test]
async fn rfc6750_answers_every_client_in_its_terms() {
    let fx = scoped_fixture().await;
    let app = app_of(fx.auth.clone().with_challenge(Challenge::Rfc6750));
    let read = fx.obtain_with(ALICE, json!({"scope": "read"})).await;

    // No credentials (or another scheme): the challenge alone, without an error (RFC
    // 6750 §3).
    let anonymous = seen(401, r#"Bearer realm="api""#, NOT_PROVIDED);
    assert_eq!(see(&app, get_with("/protected", None)).await, anonymous);
    let basic = get_auth("/protected", "Basic YWxpY2U6eA==");
    assert_eq!(see(&app, basic).await, anonymous);
    // Token clients too.
    let unknown = get_token("/protected", &unknown_token());
    assert_eq!(see(&app, unknown).await, invalid_token(INVALID_TOKEN));
    let keyword_alone = get_auth("/protected", "Token");
    assert_eq!(see(&app, keyword_alone).await, invalid_request(NO_CREDENTIALS));
    let write = with_token(Method::POST, "/write", &read);
    assert_eq!(see(&app, write).await, insufficient_scope("write"));
    let write = post_bearer("/write", &read);
    assert_eq!(see(&app, write).await, insufficient_scope("write"));
    send(&app, get_token("/read", &read)).await.assert_user(ALICE);
}

#[tokio::test]
async fn drf_answers_bearer_clients_as_drf_does() {
    let fx = scoped_fixture().await;
    let app = app_of(fx.auth.clone().with_challenge(Challenge::Drf));
    let read = fx.obtain_with(ALICE, json!({"scope": "read"})).await;

    let unknown = bearer("/protected", &unknown_token());
    assert_eq!(see(&app, unknown).await, drf(INVALID_TOKEN));
    assert_eq!(
        see(&app, get_auth("/protected", "Bearer")).await,
        drf(NO_CREDENTIALS)
    );
    assert_eq!(see(&app, get_auth("/protected", "Bearer a b")).await, drf(SPACES));
    assert_eq!(see(&app, get_with("/protected", None)).await, drf(NOT_PROVIDED));
    let write = post_bearer("/write", &read);
    assert_eq!(see(&app, write).await, drf_insufficient_scope("write"));
}

#[tokio::test]
async fn a_bearer_token_lacking_a_scope_gets_insufficient_scope_with_the_scope() {
    let fx = scoped_fixture().await;
    let app = fx.app();
    let read = fx.obtain_with(ALICE, json!({"scope": "read"})).await;
    assert_eq!(
        see(&app, post_bearer("/write", &read)).await,
        insufficient_scope("write")
    );
    // The session routes' own guard too.
    let tokens = bearer("/auth/tokens", &read);
    assert_eq!(see(&app, tokens).await, insufficient_scope("sessions"));
    // The Token client keeps DRF's wording.
    let write = with_token(Method::POST, "/write", &read);
    assert_eq!(see(&app, write).await, drf_insufficient_scope("write"));
}

#[tokio::test]
async fn the_realm_is_configurable() {
    let fx = Fixture::new().await;
    let realm: Realm = "Example API".parse().unwrap();
    let auth = fx
        .auth
        .clone()
        .with_challenge(Challenge::Rfc6750)
        .with_realm(realm);
    let app = app_of(auth);
    let anonymous = seen(401, r#"Bearer realm="Example API""#, NOT_PROVIDED);
    assert_eq!(see(&app, get_with("/protected", None)).await, anonymous);
    let unknown = bearer("/protected", &unknown_token());
    let expected = rfc6750_in("Example API", 401, "invalid_token", INVALID_TOKEN);
    assert_eq!(see(&app, unknown).await, expected);
}

#[tokio::test]
async fn lenient_mode_words_the_extractors_refusal_for_the_client() {
    let fx = Fixture::new().await;
    let app = fx.lenient_app();
    // A public route serves failing credentials as anonymous...
    send(&app, get_auth("/public", "Bearer a b"))
        .await
        .assert_user("anonymous");
    // ...and a protected one refuses them as the client's scheme says.
    assert_eq!(
        see(&app, get_auth("/protected", "Bearer a b")).await,
        invalid_request(SPACES)
    );
    let unknown = unknown_token();
    assert_eq!(
        see(&app, bearer("/protected", &unknown)).await,
        invalid_token(INVALID_TOKEN)
    );
    // A wrong method on a route that requires authentication answers the 401 first, in
    // the same terms.
    let wrong_method = bearer("/auth/logout", &unknown);
    assert_eq!(see(&app, wrong_method).await, invalid_token(INVALID_TOKEN));
}

#[tokio::test]
async fn the_handles_routes_and_layer_follow_the_builders_setting() {
    let fx = Fixture::new().await;
    let token = fx.obtain(ALICE).await;
    for (challenge, expected) in [
        (Challenge::Auto, invalid_token(INVALID_TOKEN)),
        (Challenge::Drf, drf(INVALID_TOKEN)),
    ] {
        let auth = tokenauth::TokenAuth::builder(fx.store.clone(), fx.users.clone())
            .clock(fx.clock.clone())
            .challenge(challenge)
            .realm("api".parse().unwrap())
            .build();
        // The routes alone (their own layer), and behind the app's layer.
        let routes: Router = auth.routes();
        let app: Router = Router::new()
            .route(
                "/me",
                get(|auth: Authenticated| async move { auth.user.username }),
            )
            .merge(auth.routes())
            .layer(auth.layer());
        let unknown = unknown_token();
        for app in [&routes, &app] {
            assert_eq!(see(app, bearer("/auth/tokens", &unknown)).await, expected);
        }
        assert_eq!(see(&app, bearer("/me", &unknown)).await, expected);
        let me = see(&app, bearer("/me", &token)).await;
        assert_eq!((me.status, me.body.as_str()), (200, ALICE));
    }
}

#[tokio::test]
async fn forward_auth_answers_bearer_clients_in_rfc_6750_terms_with_401s_for_proxies() {
    let fx = scoped_fixture().await;
    let read = fx.obtain_with(ALICE, json!({"scope": "read"})).await;
    let verify: Router = tokenauth::routes::verify_router(fx.auth.clone(), &Default::default());
    let ask = |authorization: &str, query: &str| get_auth(&format!("/auth/verify{query}"), authorization);
    let unknown = format!("Bearer {}", unknown_token());
    assert_eq!(
        see(&verify, ask(&unknown, "")).await,
        invalid_token(INVALID_TOKEN)
    );
    // Malformed: RFC 6750's invalid_request, but a 401, which nginx passes on.
    let mut malformed = invalid_request(SPACES);
    malformed.status = 401;
    assert_eq!(see(&verify, ask("Bearer a b", "")).await, malformed);
    let bearer_read = format!("Bearer {read}");
    let write = see(&verify, ask(&bearer_read, "?scope=write")).await;
    assert_eq!(write, insufficient_scope("write"));
    // Token clients keep DRF's answers.
    assert_eq!(see(&verify, ask("Token a b", "")).await, drf(SPACES));
    let token_read = format!("Token {read}");
    let write = see(&verify, ask(&token_read, "?scope=write")).await;
    assert_eq!(write, drf_insufficient_scope("write"));
}
