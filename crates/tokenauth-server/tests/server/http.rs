//! The service's routes, on SQLite, through `Router::oneshot` with a moving clock.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use time::Duration;
use time::macros::datetime;
use tokenauth::core::TokenAuth;
use tokenauth_core::ManualClock;
use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory};
use tower::ServiceExt;

struct Service {
    _dir: TempDir,
    app: axum::Router,
    clock: ManualClock,
}

async fn service() -> Service {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let pool = tokenauth_sqlx::sqlite::connect(&url).await.unwrap();
    let users = SqliteUserDirectory::new(pool.clone());
    let clock = ManualClock::new(datetime!(2026-05-01 08:00:00.5 UTC));
    let auth = TokenAuth::new(SqliteStore::new(pool), users).with_clock(clock.clone());
    auth.upsert_user("alice", "alice-password", true).await.unwrap();
    Service {
        _dir: dir,
        app: tokenauth_server::app(auth),
        clock,
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(service: &Service, request: Request<Body>) -> Reply {
    let response = service.app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn obtain_request(path: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"username":"alice","password":"alice-password"}"#))
        .unwrap()
}

fn me_request(token: &str) -> Request<Body> {
    Request::get("/auth/me")
        .header(header::AUTHORIZATION, format!("Token {token}"))
        .body(Body::empty())
        .unwrap()
}

async fn obtain(service: &Service, path: &str) -> String {
    let reply = send(service, obtain_request(path)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    reply.json()["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn both_obtain_paths_issue_tokens_that_me_describes() {
    let service = service().await;
    for path in ["/api-token-auth/", "/auth/token"] {
        let reply = send(&service, obtain_request(path)).await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = reply.json();
        assert_eq!(body["expiry"], "2026-05-31T08:00:00.5Z");
        let token = body["token"].as_str().unwrap();

        let me = send(&service, me_request(token)).await;
        assert_eq!(me.status, StatusCode::OK);
        let me = me.json();
        let id = me["token"]["id"].as_str().unwrap();
        assert_eq!(id.len(), 22);
        assert_eq!(
            me,
            json!({
                "username": "alice",
                "token": {
                    "id": id,
                    "name": null,
                    "scopes": [],
                    "created": "2026-05-01T08:00:00.5Z",
                    "expiry": "2026-05-31T08:00:00.5Z",
                    "last_used": "2026-05-01T08:00:00.5Z",
                }
            })
        );
    }
}

#[tokio::test]
async fn me_rejects_expired_tokens_with_the_drf_message() {
    let service = service().await;
    let token = obtain(&service, "/auth/token").await;
    service.clock.advance(Duration::days(30));
    assert_eq!(send(&service, me_request(&token)).await.status, StatusCode::OK);
    service.clock.advance(Duration::microseconds(1));
    let reply = send(&service, me_request(&token)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Token");
    assert_eq!(reply.body, r#"{"detail":"Token has expired"}"#);
}

#[tokio::test]
async fn me_without_credentials_is_a_401() {
    let service = service().await;
    let reply = send(&service, Request::get("/auth/me").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Token");
    assert_eq!(
        reply.body,
        r#"{"detail":"Authentication credentials were not provided."}"#
    );
}

#[tokio::test]
async fn wrong_methods_are_json_405s_with_allow() {
    let service = service().await;
    let token = obtain(&service, "/auth/token").await;
    let post_me = Request::post("/auth/me")
        .header(header::AUTHORIZATION, format!("Token {token}"))
        .body(Body::empty())
        .unwrap();
    let reply = send(&service, post_me).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.body, r#"{"detail":"Method \"POST\" not allowed."}"#);
    assert_eq!(reply.headers[header::ALLOW], "GET,HEAD");

    // Without credentials the protected routes answer 401 first, as DRF's views do.
    for (method, path) in [
        ("POST", "/auth/me"),
        ("GET", "/auth/logout"),
        ("PUT", "/auth/tokens"),
    ] {
        let anonymous = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let reply = send(&service, anonymous).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Token");
        assert_eq!(
            reply.body,
            r#"{"detail":"Authentication credentials were not provided."}"#
        );
    }

    let get_obtain = Request::get("/api-token-auth/").body(Body::empty()).unwrap();
    let reply = send(&service, get_obtain).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.body, r#"{"detail":"Method \"GET\" not allowed."}"#);
    assert_eq!(reply.headers[header::ALLOW], "POST");
    assert!(!reply.headers.contains_key(header::WWW_AUTHENTICATE));
}

#[tokio::test]
async fn healthz_and_not_found() {
    let service = service().await;
    // Outside the authentication layer: a bad token does not matter here.
    let health = Request::get("/healthz")
        .header(header::AUTHORIZATION, "Token nonsense")
        .body(Body::empty())
        .unwrap();
    let reply = send(&service, health).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "ok"));

    let reply = send(&service, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.body, r#"{"detail":"Not found."}"#);
}

/// Spec row 34: a header line over 8190 bytes is a 431 with a JSON detail; 8190 bytes
/// is accepted.
#[tokio::test]
async fn header_lines_over_8190_bytes_are_431() {
    let service = service().await;
    let token = obtain(&service, "/auth/token").await;
    // "x-pad: " + value
    let fits = "a".repeat(8190 - "x-pad: ".len());
    let request = |pad: &str| {
        Request::get("/auth/me")
            .header(header::AUTHORIZATION, format!("Token {token}"))
            .header("x-pad", pad)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&service, request(&fits)).await.status, StatusCode::OK);
    let reply = send(&service, request(&format!("{fits}a"))).await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(reply.body, r#"{"detail":"Request header field too large."}"#);

    // The same for the Authorization header itself (row 33 is the 8000-byte case).
    let long_key = Request::get("/auth/me")
        .header(header::AUTHORIZATION, format!("Token {}", "k".repeat(8190)))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&service, long_key).await.status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let key_8000 = Request::get("/auth/me")
        .header(header::AUTHORIZATION, format!("Token {}", "k".repeat(8000)))
        .body(Body::empty())
        .unwrap();
    let reply = send(&service, key_8000).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body, r#"{"detail":"Invalid token"}"#);
}

#[tokio::test]
async fn concurrent_logins_on_sqlite_never_fail() {
    let service = service().await;
    let logins = (0..8).map(|_| send(&service, obtain_request("/auth/token")));
    let replies = futures_util::future::join_all(logins).await;
    let mut tokens: Vec<String> = replies
        .iter()
        .map(|reply| {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            reply.json()["token"].as_str().unwrap().to_owned()
        })
        .collect();
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 8);
}
