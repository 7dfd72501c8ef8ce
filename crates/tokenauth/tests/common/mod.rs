//! The test application, its fixture and HTTP helpers shared by the integration tests.
//!
//! Every response goes through [`send`], which checks the invariants that hold for every
//! row of the spec: a 401 carries `WWW-Authenticate: Token` (the introspection
//! endpoint's may carry `Basic` instead or too) and nothing else does (but the 403 of a
//! missing scope, which carries its `insufficient_scope` challenge), and every error
//! body is JSON. A client that sends `Bearer` credentials may instead get RFC 6750's
//! challenges (on its 401s, 400s and 403s alike).

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokenauth::core::TokenAuth;
use tokenauth::core::store::{TokenDigest, TokenRecord, TokenStore};
use tokenauth::core::{AuthEvent, ManualClock, MemoryStore, MemoryUserDirectory};
use tokenauth::{Authenticated, RequireScope, TokenAuthLayer};
use tower::ServiceExt;

/// The fixture's users: `alice` and `dave` are active, `bob` is not.
pub(crate) const ALICE: &str = "alice";
pub(crate) const BOB_INACTIVE: &str = "bob";
pub(crate) const DAVE: &str = "dave";
/// Every fixture user's password.
pub(crate) const PASSWORD: &str = "correct horse";

/// The time the manual clock starts at (with microseconds, to check they survive).
pub(crate) const START: OffsetDateTime = datetime!(2026-01-01 12:34:56.123456 UTC);
/// The default lifespan.
pub(crate) const LIFESPAN: Duration = Duration::days(30);

pub(crate) const NOT_PROVIDED: &str = r#"{"detail":"Authentication credentials were not provided."}"#;
pub(crate) const INVALID_TOKEN: &str = r#"{"detail":"Invalid token"}"#;
pub(crate) const EXPIRED: &str = r#"{"detail":"Token has expired"}"#;
pub(crate) const INACTIVE: &str = r#"{"detail":"User inactive or deleted"}"#;
pub(crate) const BAD_CREDENTIALS: &str =
    r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#;
// The `Authorization` header's refusals (rows 26-29, 35 of the wire spec).
pub(crate) const NO_CREDENTIALS: &str = r#"{"detail":"Invalid token header. No credentials provided."}"#;
pub(crate) const SPACES: &str =
    r#"{"detail":"Invalid token header. Token string should not contain spaces."}"#;
pub(crate) const INVALID_CHARACTERS: &str =
    r#"{"detail":"Invalid token header. Token string should not contain invalid characters."}"#;

pub(crate) type Auth<S = CountingStore> = TokenAuth<S, MemoryUserDirectory>;

/// A [`MemoryStore`] that counts lookups, to show that garbage never reaches the store.
pub(crate) type CountingStore = tokenauth_conformance::CountingStore<MemoryStore>;

/// One test's world: the service, its clock, its users, its store and the events its
/// audit hook received.
pub(crate) struct Fixture {
    pub(crate) auth: Auth,
    pub(crate) clock: ManualClock,
    pub(crate) users: MemoryUserDirectory,
    pub(crate) store: CountingStore,
    pub(crate) events: Arc<Mutex<Vec<AuthEvent>>>,
}

impl Fixture {
    /// A fresh service over a memory store, with `alice`, `bob` (inactive) and `dave`.
    pub(crate) async fn new() -> Self {
        let clock = ManualClock::new(START);
        let users = MemoryUserDirectory::new();
        let store = CountingStore::default();
        let (a, b, d) = tokio::join!(
            users.add_user(ALICE, PASSWORD, true),
            users.add_user(BOB_INACTIVE, PASSWORD, false),
            users.add_user(DAVE, PASSWORD, true),
        );
        a.expect("add alice");
        b.expect("add bob");
        d.expect("add dave");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let auth = TokenAuth::new(store.clone(), users.clone())
            .with_clock(clock.clone())
            .with_event_hook(move |event: &AuthEvent| sink.lock().unwrap().push(event.clone()));
        Self {
            auth,
            clock,
            users,
            store,
            events,
        }
    }

    /// The same world with the service reconfigured (`|auth| auth.with_...(..)`).
    pub(crate) fn configure(mut self, configure: impl FnOnce(Auth) -> Auth) -> Self {
        self.auth = configure(self.auth);
        self
    }

    /// The stored record of `token`.
    pub(crate) async fn record(&self, token: &str) -> TokenRecord {
        self.store
            .inner()
            .find_by_digest(&TokenDigest::of(token))
            .await
            .expect("the memory store does not fail")
            .expect("the token is stored")
    }

    /// How many tokens are stored.
    pub(crate) async fn stored_count(&self) -> usize {
        let records = self.store.inner().list(None).await;
        records.expect("the memory store does not fail").len()
    }

    /// Whether `token` is still stored (not revoked).
    pub(crate) async fn is_stored(&self, token: &str) -> bool {
        self.store
            .inner()
            .find_by_digest(&TokenDigest::of(token))
            .await
            .expect("the memory store does not fail")
            .is_some()
    }

    /// The events received since the last call.
    pub(crate) fn take_events(&self) -> Vec<AuthEvent> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }

    /// The test app with the default (strict) layer.
    pub(crate) fn app(&self) -> Router {
        app(self.auth.clone(), false)
    }

    /// The test app in lenient mode.
    pub(crate) fn lenient_app(&self) -> Router {
        app(self.auth.clone(), true)
    }

    /// Logs `username` in through HTTP and returns the token.
    pub(crate) async fn obtain(&self, username: &str) -> String {
        self.obtain_with(username, json!({})).await
    }

    /// Logs `username` in through HTTP with `extra` fields (`name`, `lifespan`,
    /// `scope`) and returns the token.
    pub(crate) async fn obtain_with(&self, username: &str, extra: Value) -> String {
        let mut body = json!({"username": username, "password": PASSWORD});
        body.as_object_mut()
            .expect("an object")
            .extend(extra.as_object().expect("extra fields are an object").clone());
        let response = send(&self.app(), obtain_json(&body)).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "login of {username}: {}",
            response.body
        );
        response.json()["token"]
            .as_str()
            .expect("a token string")
            .to_owned()
    }

    /// A token of `alice` that has expired (the clock is moved past its lifespan).
    pub(crate) async fn expired_token(&self) -> String {
        let token = self.obtain(ALICE).await;
        self.clock.advance(LIFESPAN + Duration::microseconds(1));
        token
    }
}

async fn protected(auth: Authenticated) -> axum::Json<Value> {
    axum::Json(json!({ "username": auth.user.username }))
}

async fn public(auth: Option<Authenticated>) -> axum::Json<Value> {
    let username = auth.map_or_else(|| "anonymous".to_owned(), |auth| auth.user.username);
    axum::Json(json!({ "username": username }))
}

/// The app of the brief: `GET /protected` and `GET /public` behind the layer, `GET
/// /read` needing scope `read` and `POST /write` needing `write` (where the service
/// grants them), the session routes
/// behind the layer, the obtain endpoint outside it, JSON 405s everywhere (inside the
/// layer, as DRF checks credentials before the method).
pub(crate) fn app<S: TokenStore>(auth: Auth<S>, lenient: bool) -> Router {
    // The scoped routes exist only where the service grants their scope: a guard no
    // token could pass is refused when the app is built.
    let guarded = |path: &str, method: axum::routing::MethodRouter, scope: &str| {
        RequireScope::new(&auth, scope).map_or_else(
            |_| Router::new(),
            |guard| Router::new().route(path, method).route_layer(guard),
        )
    };
    let read = guarded("/read", get(protected), "read");
    let write = guarded("/write", post(protected), "write");
    Router::new()
        .route("/protected", get(protected))
        .route("/public", get(public))
        .merge(read)
        .merge(write)
        .merge(tokenauth::routes::session_router(auth.clone()))
        .method_not_allowed_fallback(tokenauth::routes::method_not_allowed)
        .layer(TokenAuthLayer::new(auth.clone()).with_lenient(lenient))
        .merge(tokenauth::routes::obtain_router(auth))
}

/// A response, read to the end.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Response {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    /// The keys of the JSON object in the body, in the order they were sent (a
    /// `serde_json::Value` may sort them).
    pub(crate) fn keys(&self) -> Vec<String> {
        struct Keys(Vec<String>);
        impl<'de> serde::Deserialize<'de> for Keys {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl<'de> serde::de::Visitor<'de> for Visitor {
                    type Value = Keys;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a JSON object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                        let mut keys = Vec::new();
                        while let Some((key, serde::de::IgnoredAny)) = map.next_entry::<String, _>()? {
                            keys.push(key);
                        }
                        Ok(Keys(keys))
                    }
                }
                deserializer.deserialize_map(Visitor)
            }
        }
        let Keys(keys) = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not a JSON object ({e}): {}", self.body));
        keys
    }

    pub(crate) fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers
            .get(&name)
            .map(|v| v.to_str().expect("an ASCII header value"))
    }

    /// Asserts the status and the exact body.
    #[track_caller]
    pub(crate) fn assert(&self, status: u16, body: &str) {
        assert_eq!(
            (self.status.as_u16(), self.body.as_str()),
            (status, body),
            "headers: {:?}",
            self.headers
        );
    }

    /// Asserts DRF's 405 for `method`, with exactly the methods `allow` (such as
    /// `"GET,HEAD"`) in the `Allow` header.
    #[track_caller]
    pub(crate) fn assert_method_not_allowed(&self, method: &Method, allow: &str) {
        self.assert(
            405,
            &format!(r#"{{"detail":"Method \"{method}\" not allowed."}}"#),
        );
        assert_eq!(
            self.header(header::ALLOW).map(|a| a.replace(' ', "")),
            Some(allow.to_owned()),
            "{method}"
        );
    }

    /// Asserts 200 and the user the app saw.
    #[track_caller]
    pub(crate) fn assert_user(&self, username: &str) {
        self.assert(200, &format!(r#"{{"username":"{username}"}}"#));
    }
}

/// The introspection endpoint's challenge for its client credential.
pub(crate) const BASIC: &str = r#"Basic realm="tokenauth""#;

/// Sends `request` to `app` and checks the invariants every response must keep.
pub(crate) async fn send(app: &Router, request: Request<Body>) -> Response {
    let what = format!("{} {}", request.method(), request.uri());
    let introspection = request.uri().path() == tokenauth::routes::INTROSPECT_PATH;
    let head = request.method() == Method::HEAD;
    // A client speaking Bearer may be answered in RFC 6750's terms (the default,
    // `Challenge::Auto`); every other client gets DRF's exact challenges.
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| {
            value
                .as_bytes()
                .split(u8::is_ascii_whitespace)
                .find(|w| !w.is_empty())
        })
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer"));
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("the body can be read").to_bytes();
    let body = String::from_utf8(bytes.to_vec()).expect("a UTF-8 body");
    let response = Response {
        status: parts.status,
        headers: parts.headers,
        body,
    };
    let challenges: Vec<_> = response
        .headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .collect();
    let rfc6750 = |challenge: &str, error: &str| {
        bearer
            && challenge.starts_with(r#"Bearer realm="api""#)
            && challenge.contains(&format!(r#", error="{error}", error_description=""#))
    };
    if response.status == StatusCode::UNAUTHORIZED && introspection && !bearer {
        // The introspection endpoint also takes a client credential with Basic.
        let names: Vec<_> = challenges.iter().map(|c| c.to_str().expect("ASCII")).collect();
        assert!(
            [&["Token"][..], &[BASIC], &["Token", BASIC]].contains(&names.as_slice()),
            "{what}: a 401 must challenge with Token, Basic or both: {names:?}"
        );
    } else if response.status == StatusCode::UNAUTHORIZED {
        let challenge = challenges
            .first()
            .map(|c| c.to_str().expect("an ASCII challenge"));
        assert!(
            challenges == ["Token"]
                || (challenges.len() == 1
                    && (challenge == Some(r#"Bearer realm="api""#)
                        || rfc6750(challenge.unwrap_or_default(), "invalid_token"))),
            "{what}: a 401 must challenge with Token (or RFC 6750's Bearer, to a Bearer \
             client): {challenges:?}"
        );
    } else if response.status == StatusCode::BAD_REQUEST && !challenges.is_empty() {
        assert_eq!(challenges.len(), 1, "{what}: one challenge");
        let challenge = challenges[0].to_str().expect("an ASCII challenge");
        assert!(
            rfc6750(challenge, "invalid_request"),
            "{what}: a 400 may only carry RFC 6750's invalid_request, to a Bearer client: {challenge}"
        );
    } else if response.status == StatusCode::FORBIDDEN && !challenges.is_empty() {
        assert_eq!(challenges.len(), 1, "{what}: one challenge");
        let challenge = challenges[0].to_str().expect("an ASCII challenge");
        assert!(
            challenge.starts_with(r#"Token error="insufficient_scope", scope=""#)
                || rfc6750(challenge, "insufficient_scope"),
            "{what}: a 403 may only carry an insufficient_scope challenge: {challenge}"
        );
        assert_eq!(
            response.body, r#"{"detail":"You do not have permission to perform this action."}"#,
            "{what}"
        );
    } else {
        assert!(
            challenges.is_empty(),
            "{what}: {} must not carry WWW-Authenticate",
            response.status
        );
    }
    if response.status.is_client_error() || response.status.is_server_error() {
        assert_eq!(
            response.header(header::CONTENT_TYPE),
            Some("application/json"),
            "{what}: error bodies are JSON"
        );
        if !head {
            let _: Value = response.json();
        }
    }
    response
}

/// `GET path` with an optional `Authorization` header given as raw bytes.
pub(crate) fn get_with(path: &str, authorization: Option<&[u8]>) -> Request<Body> {
    request(Method::GET, path, authorization)
}

pub(crate) fn request(method: Method, path: &str, authorization: Option<&[u8]>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(value) = authorization {
        builder = builder.header(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).expect("a valid header value"),
        );
    }
    builder.body(Body::empty()).expect("a valid request")
}

/// `GET path` with one `Authorization` header per value, in order.
pub(crate) fn with_headers(path: &str, values: &[&str]) -> Request<Body> {
    let mut request = get_with(path, None);
    for value in values {
        request
            .headers_mut()
            .append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    }
    request
}

/// `method path` with `Authorization: Token <token>`.
pub(crate) fn with_token(method: Method, path: &str, token: &str) -> Request<Body> {
    request(method, path, Some(format!("Token {token}").as_bytes()))
}

/// `request` as if it came from `peer`, as axum's `into_make_service_with_connect_info`
/// marks it.
pub(crate) fn from_peer(mut request: Request<Body>, peer: &str) -> Request<Body> {
    let peer: SocketAddr = peer.parse().expect("a socket address");
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

/// `GET path` with `Authorization: <authorization>`.
pub(crate) fn get_auth(path: &str, authorization: &str) -> Request<Body> {
    get_with(path, Some(authorization.as_bytes()))
}

/// `GET path` with `Authorization: Token <token>`.
pub(crate) fn get_token(path: &str, token: &str) -> Request<Body> {
    get_auth(path, &format!("Token {token}"))
}

/// `POST /api-token-auth/` with a body of the given content type (none if `None`).
pub(crate) fn obtain_raw(content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::builder().method(Method::POST).uri("/api-token-auth/");
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body.into()).expect("a valid request")
}

/// `POST /api-token-auth/` with a JSON body.
pub(crate) fn obtain_json(body: &Value) -> Request<Body> {
    obtain_raw(Some("application/json"), body.to_string())
}

/// A well-formed token that was never issued.
pub(crate) fn unknown_token() -> String {
    tokenauth::core::TokenFormat::default().generate().into_secret()
}

/// The lines logged at `level` and above while the returned guard lives, on this thread.
pub(crate) fn capture_logs(
    level: tracing::Level,
) -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = Buffer(Arc::clone(&logs));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(level)
        .with_ansi(false)
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}
