//! Forward auth (`/auth/verify`): what a reverse proxy sees for each request it asks
//! about. The real nginx in front of the real server is in `tokenauth-server`'s
//! `tests/server/gateway.rs`.

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{
    ALICE, DAVE, EXPIRED, Fixture, INACTIVE, INVALID_TOKEN, NOT_PROVIDED, PASSWORD, SPACES, from_peer, send,
    unknown_token,
};
use http::{HeaderName, Method, Request, header};
use serde_json::json;
use time::Duration;
use time::format_description::well_known::Rfc3339;
use tokenauth::core::{AuthEvent, Scopes, TokenRequest};
use tokenauth::routes::{CookieName, VERIFY_PATH, VerifyOptions, verify, verify_router};
use tokenauth::{Authenticated, TokenAuthLayer};

const FORBIDDEN: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

/// `method uri` with `headers`.
fn ask(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).expect("a valid request")
}

/// `GET uri` with `Authorization: Token <token>` and `headers`.
fn ask_with_token(uri: &str, token: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let authorization = format!("Token {token}");
    let mut all = vec![("authorization", authorization.as_str())];
    all.extend_from_slice(headers);
    ask(Method::GET, uri, &all)
}

/// The forward-auth route alone, with `options`.
fn app(fx: &Fixture, options: &VerifyOptions) -> Router {
    verify_router(fx.auth.clone(), options)
}

/// A service granting `read` and `write`.
async fn scoped() -> Fixture {
    Fixture::new()
        .await
        .configure(|auth| auth.with_scopes(Scopes::parse("read write").unwrap()))
}

#[tokio::test]
async fn a_valid_token_gets_200_with_the_identity_headers_and_a_json_identity() {
    let fx = scoped().await;
    let token = fx
        .obtain_with(ALICE, json!({"scope": "read", "name": "phone"}))
        .await;
    let record = fx.record(&token).await;
    let app = app(&fx, &VerifyOptions::default());
    // A client's own identity headers are not echoed: the answer is built fresh.
    let response = send(
        &app,
        ask_with_token(
            VERIFY_PATH,
            &token,
            &[("x-auth-user", "mallory"), ("x-auth-scopes", "admin")],
        ),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let expires = fx.auth.info(&record).expires.format(&Rfc3339).unwrap();
    let user_id = record.user_id.to_string();
    let token_id = record.id.to_string();
    for (name, value) in [
        ("x-auth-user", ALICE),
        ("x-auth-user-id", user_id.as_str()),
        ("x-auth-scopes", "read"),
        ("x-auth-token-id", token_id.as_str()),
        ("x-auth-expires", expires.as_str()),
    ] {
        let values: Vec<_> = response.headers.get_all(name).iter().collect();
        assert_eq!(values, [value], "{name}");
    }
    assert_eq!(response.header(header::CONTENT_TYPE), Some("application/json"));
    assert_eq!(
        response.json(),
        json!({
            "sub": user_id,
            "extra": {"username": ALICE, "scope": "read", "token_id": token_id, "expires": expires},
        })
    );
    assert_eq!(response.keys(), ["sub", "extra"]);
    assert!(!response.body.contains(&token), "the token is never echoed");
}

#[tokio::test]
async fn every_method_is_answered() {
    let fx = Fixture::new().await;
    let token = fx.obtain(ALICE).await;
    let app = app(&fx, &VerifyOptions::default());
    let authorization = format!("Token {token}");
    for method in [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ] {
        let response = send(
            &app,
            ask(method.clone(), VERIFY_PATH, &[("authorization", &authorization)]),
        )
        .await;
        assert_eq!(response.status, 200, "{method}");
        assert_eq!(
            response.header(HeaderName::from_static("x-auth-user")),
            Some(ALICE),
            "{method}"
        );
        let response = send(&app, ask(method.clone(), VERIFY_PATH, &[])).await;
        assert_eq!(response.status, 401, "{method}");
    }
}

#[tokio::test]
async fn refusals_are_the_layers_401s() {
    let fx = Fixture::new().await;
    let dave = fx.obtain(DAVE).await;
    assert!(fx.auth.set_active(DAVE, false).await.unwrap().is_some());
    let alice = fx.obtain(ALICE).await;
    let app = app(&fx, &VerifyOptions::default());
    // `send` checks that each 401 carries `WWW-Authenticate: Token`.
    send(&app, ask(Method::GET, VERIFY_PATH, &[]))
        .await
        .assert(401, NOT_PROVIDED);
    send(
        &app,
        ask(Method::GET, VERIFY_PATH, &[("authorization", "Basic YTpi")]),
    )
    .await
    .assert(401, NOT_PROVIDED);
    send(&app, ask_with_token(VERIFY_PATH, &unknown_token(), &[]))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, ask_with_token(VERIFY_PATH, "garbage", &[]))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, ask_with_token(VERIFY_PATH, &dave, &[]))
        .await
        .assert(401, INACTIVE);
    let several = ask(
        Method::GET,
        VERIFY_PATH,
        &[
            ("authorization", &format!("Token {alice}")),
            ("authorization", "Token x"),
        ],
    );
    send(&app, several).await.assert(401, SPACES);
    fx.clock.advance(common::LIFESPAN + Duration::microseconds(1));
    send(&app, ask_with_token(VERIFY_PATH, &alice, &[]))
        .await
        .assert(401, EXPIRED);
}

#[tokio::test]
async fn the_challenge_names_the_services_keyword() {
    let fx = Fixture::new()
        .await
        .configure(|auth| auth.with_keywords(["Bearer"]));
    let response = verify_router::<(), _, _>(fx.auth.clone(), &VerifyOptions::default());
    let response = tower::ServiceExt::oneshot(response, ask(Method::GET, VERIFY_PATH, &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // With Bearer first, a request without credentials is answered in RFC 6750's terms
    // (`Challenge::Auto`; tests/bearer.rs).
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer realm="api""#
    );
}

#[tokio::test]
async fn required_scopes_come_from_the_query_and_the_header_and_all_are_required() {
    let fx = scoped().await;
    let read = fx.obtain_with(ALICE, json!({"scope": "read"})).await;
    let both = fx.obtain_with(ALICE, json!({"scope": "read write"})).await;
    let app = app(&fx, &VerifyOptions::default());
    let status = |uri: &'static str, token: String, headers: &'static [(&'static str, &'static str)]| {
        let app = app.clone();
        async move { send(&app, ask_with_token(uri, &token, headers)).await }
    };
    for (uri, headers) in [
        ("/auth/verify?scope=read", &[][..]),
        ("/auth/verify?scope=", &[][..]),
        ("/auth/verify", &[("x-auth-required-scope", "read")][..]),
        ("/auth/verify?other=write", &[][..]),
    ] {
        let response = status(uri, read.clone(), headers).await;
        assert_eq!(response.status, 200, "{uri} {headers:?}: {}", response.body);
    }
    for (uri, headers, required) in [
        ("/auth/verify?scope=write", &[][..], "write"),
        ("/auth/verify?scope=read+write", &[][..], "read write"),
        ("/auth/verify?scope=read%20write", &[][..], "read write"),
        ("/auth/verify?scope=write&scope=read", &[][..], "read write"),
        ("/auth/verify", &[("x-auth-required-scope", "write")][..], "write"),
        (
            "/auth/verify?scope=read",
            &[
                ("x-auth-required-scope", "write"),
                ("x-auth-required-scope", "read"),
            ][..],
            "read write",
        ),
    ] {
        let response = status(uri, read.clone(), headers).await;
        response.assert(403, FORBIDDEN);
        assert_eq!(
            response.header(header::WWW_AUTHENTICATE),
            Some(format!(r#"Token error="insufficient_scope", scope="{required}""#).as_str()),
            "{uri} {headers:?}"
        );
        let response = status(uri, both.clone(), headers).await;
        assert_eq!(response.status, 200, "{uri} {headers:?}: {}", response.body);
    }
    // Below the path, as Envoy's ext_authz asks (its prefix, then the request's path).
    status("/auth/verify/orders/7?scope=write", read.clone(), &[])
        .await
        .assert(403, FORBIDDEN);
    let response = status(
        "/auth/verify/orders/7",
        read.clone(),
        &[("x-auth-required-scope", "read")],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    // Authentication comes first: no token, no word about scopes.
    send(&app, ask(Method::GET, "/auth/verify?scope=write", &[]))
        .await
        .assert(401, NOT_PROVIDED);
}

#[tokio::test]
async fn a_scope_the_service_cannot_grant_is_a_403_for_every_token() {
    let fx = scoped().await;
    let token = fx.obtain(ALICE).await;
    let app = app(&fx, &VerifyOptions::default());
    let response = send(&app, ask_with_token("/auth/verify?scope=admin", &token, &[])).await;
    response.assert(403, FORBIDDEN);
    assert_eq!(
        response.header(header::WWW_AUTHENTICATE),
        Some(r#"Token error="insufficient_scope", scope="admin""#)
    );
    // A service without scopes grants none.
    let fx = Fixture::new().await;
    let token = fx.obtain(ALICE).await;
    let app = verify_router(fx.auth.clone(), &VerifyOptions::default());
    send(&app, ask_with_token("/auth/verify?scope=read", &token, &[]))
        .await
        .assert(403, FORBIDDEN);
}

#[tokio::test]
async fn a_malformed_requirement_is_a_400() {
    let fx = scoped().await;
    let token = fx.obtain(ALICE).await;
    let app = app(&fx, &VerifyOptions::default());
    send(&app, ask_with_token("/auth/verify?scope=re%22ad", &token, &[]))
        .await
        .assert(400, r#"{"detail":"\"re\"ad\" is not a valid scope."}"#);
    let many = format!("/auth/verify?scope={}", vec!["read"; 33].join("+"));
    send(&app, ask_with_token(&many, &token, &[])).await.assert(
        400,
        r#"{"detail":"Too many required scopes: at most 32 are accepted."}"#,
    );
    let mut request = ask_with_token(VERIFY_PATH, &token, &[]);
    request.headers_mut().insert(
        "x-auth-required-scope",
        http::HeaderValue::from_bytes("lecture écriture".as_bytes()).unwrap(),
    );
    send(&app, request).await.assert(
        400,
        r#"{"detail":"Invalid x-auth-required-scope header: scopes are printable ASCII."}"#,
    );
}

#[tokio::test]
async fn the_header_names_are_configurable() {
    let fx = scoped().await;
    let token = fx.obtain_with(ALICE, json!({"scope": "read"})).await;
    let options = VerifyOptions {
        user_header: HeaderName::from_static("x-remote-user"),
        required_scope_header: HeaderName::from_static("x-need"),
        ..VerifyOptions::default()
    };
    let app = app(&fx, &options);
    let response = send(&app, ask_with_token(VERIFY_PATH, &token, &[])).await;
    assert_eq!(
        response.header(HeaderName::from_static("x-remote-user")),
        Some(ALICE)
    );
    assert_eq!(response.header(HeaderName::from_static("x-auth-user")), None);
    assert_eq!(
        response.header(HeaderName::from_static("x-auth-scopes")),
        Some("read")
    );
    send(&app, ask_with_token(VERIFY_PATH, &token, &[("x-need", "write")]))
        .await
        .assert(403, FORBIDDEN);
    // The default header is now an ordinary one.
    let response = send(
        &app,
        ask_with_token(VERIFY_PATH, &token, &[("x-auth-required-scope", "write")]),
    )
    .await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn a_cookie_is_read_only_when_configured_and_authorization_comes_first() {
    let fx = Fixture::new().await;
    let token = fx.obtain(ALICE).await;
    let cookie = format!("theme=dark; tokenauth={token}; other=1");
    let default = app(&fx, &VerifyOptions::default());
    send(&default, ask(Method::GET, VERIFY_PATH, &[("cookie", &cookie)]))
        .await
        .assert(401, NOT_PROVIDED);

    let options = VerifyOptions {
        cookie: Some("tokenauth".parse::<CookieName>().unwrap()),
        ..VerifyOptions::default()
    };
    let app = app(&fx, &options);
    let response = send(&app, ask(Method::GET, VERIFY_PATH, &[("cookie", &cookie)])).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        response.header(HeaderName::from_static("x-auth-user")),
        Some(ALICE)
    );
    // A quoted value (RFC 6265 allows it), and a cookie in a second header.
    let quoted = format!("tokenauth=\"{token}\"");
    let response = send(
        &app,
        ask(
            Method::GET,
            VERIFY_PATH,
            &[("cookie", "a=b"), ("cookie", &quoted)],
        ),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    // Authorization, when it carries credentials, decides.
    let both = ask(
        Method::GET,
        VERIFY_PATH,
        &[
            ("authorization", &format!("Token {}", unknown_token())),
            ("cookie", &cookie),
        ],
    );
    send(&app, both).await.assert(401, INVALID_TOKEN);
    for refused in [
        format!("tokenauth={}", unknown_token()),
        "tokenauth=x y".to_owned(),
    ] {
        send(&app, ask(Method::GET, VERIFY_PATH, &[("cookie", &refused)]))
            .await
            .assert(401, INVALID_TOKEN);
    }
    for anonymous in ["tokenauth=", "tokenauthx=abc", "xtokenauth=abc", "tokenauth"] {
        send(&app, ask(Method::GET, VERIFY_PATH, &[("cookie", anonymous)]))
            .await
            .assert(401, NOT_PROVIDED);
    }
    assert!("a b".parse::<CookieName>().is_err());
    assert!("a=b".parse::<CookieName>().is_err());
    assert!("".parse::<CookieName>().is_err());
}

#[tokio::test]
async fn a_check_is_a_use_of_the_token_and_extends_an_idle_timeout() {
    let fx = Fixture::new()
        .await
        .configure(|auth| auth.with_idle_timeout(Some("1h".parse().unwrap())));
    let token = fx.obtain(ALICE).await;
    fx.take_events();
    let app = app(&fx, &VerifyOptions::default());
    let check = || from_peer(ask_with_token(VERIFY_PATH, &token, &[]), "192.0.2.7:5000");
    for _ in 0..3 {
        fx.clock.advance(Duration::minutes(50));
        let response = send(&app, check()).await;
        assert_eq!(response.status, 200, "{}", response.body);
        let expires = (fx.auth.now() + Duration::hours(1)).format(&Rfc3339).unwrap();
        assert_eq!(
            response.header(HeaderName::from_static("x-auth-expires")),
            Some(expires.as_str())
        );
    }
    let record = fx.record(&token).await;
    assert_eq!(fx.auth.info(&record).last_used, Some(fx.auth.now()));
    assert!(
        fx.take_events().iter().any(|event| matches!(
            event,
            AuthEvent::UsedFromNewIp { ip, .. } if ip.to_string() == "192.0.2.7"
        )),
        "the client's address is recorded with the use"
    );
    fx.clock.advance(Duration::hours(1) + Duration::microseconds(1));
    send(&app, check()).await.assert(401, EXPIRED);
}

#[tokio::test]
async fn behind_a_layer_it_answers_the_same_and_the_token_is_looked_up_once() {
    let fx = Fixture::new().await;
    let token = fx.obtain(ALICE).await;
    let app: Router = Router::new()
        .route(
            "/me",
            get(|auth: Authenticated| async move { auth.user.username }),
        )
        .route(VERIFY_PATH, verify(fx.auth.clone(), &VerifyOptions::default()))
        .layer(TokenAuthLayer::new(fx.auth.clone()));
    let before = fx.store.lookups();
    let response = send(&app, ask_with_token(VERIFY_PATH, &token, &[])).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        response.header(HeaderName::from_static("x-auth-user")),
        Some(ALICE)
    );
    assert_eq!(fx.store.lookups(), before + 1);
    send(&app, ask(Method::GET, VERIFY_PATH, &[]))
        .await
        .assert(401, NOT_PROVIDED);
    send(&app, ask_with_token(VERIFY_PATH, &unknown_token(), &[]))
        .await
        .assert(401, INVALID_TOKEN);
}

#[tokio::test]
async fn a_username_that_cannot_be_a_header_value_is_refused_not_sent_as_another_name() {
    let fx = Fixture::new().await;
    // The login route trims usernames: the token is issued directly.
    let user = fx.users.add_user(" alice", PASSWORD, true).await.unwrap();
    let token = fx.auth.issue(&user, TokenRequest::default()).await.unwrap().token;
    let token = token.expose_secret();
    let app = app(&fx, &VerifyOptions::default());
    send(&app, ask_with_token(VERIFY_PATH, token, &[]))
        .await
        .assert(
            403,
            r#"{"detail":"This user's name cannot be passed on to the application; ask an administrator to rename the user."}"#,
        );
}

#[tokio::test]
async fn the_log_names_the_proxied_method_and_path_never_the_query_or_the_token() {
    let fx = scoped().await;
    let token = fx.obtain(ALICE).await;
    let app = app(&fx, &VerifyOptions::default());
    let (logs, _guard) = common::capture_logs(tracing::Level::DEBUG);
    let traefik = [
        ("x-forwarded-method", "POST"),
        ("x-forwarded-uri", "/orders/7?secret=abc"),
    ];
    send(&app, ask_with_token(VERIFY_PATH, &token, &traefik)).await;
    let nginx = [
        ("x-original-method", "PATCH"),
        ("x-original-uri", "/carts/9?secret=abc"),
    ];
    send(&app, ask_with_token(VERIFY_PATH, &token, &nginx)).await;
    // A scope no token can carry: warned about once, however often required.
    for _ in 0..2 {
        send(&app, ask_with_token("/auth/verify?scope=admin", &token, &[]))
            .await
            .assert(403, FORBIDDEN);
    }
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let checks: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("forward auth"))
        .collect();
    assert!(
        checks[0].contains(r#"method="POST""#) && checks[0].contains(r#"path="/orders/7""#),
        "{logs}"
    );
    assert!(checks[0].contains("status=200"), "{logs}");
    assert!(
        checks[1].contains(r#"method="PATCH""#) && checks[1].contains(r#"path="/carts/9""#),
        "{logs}"
    );
    assert!(!logs.contains("secret") && !logs.contains(&token), "{logs}");
    let warnings: Vec<&str> = logs.lines().filter(|line| line.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    assert!(warnings[0].contains(r#"scope="admin""#), "{logs}");
}
