//! A store or directory that is down answers 503 with `Retry-After` (DRF's
//! `ServiceUnavailable`), everywhere a request reaches it; one that fails otherwise
//! answers 500; the readiness probe says which; and everything works again as soon as
//! the backend is back.
//!
//! The backends here are memory ones behind a switch that makes their calls fail as
//! "unavailable" (a refused connection), fail as broken (a corrupt row), or never
//! answer. The real databases are switched off in `tokenauth-server`'s
//! `tests/server/outage.rs`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use common::{ALICE, PASSWORD, get_token, obtain_json, request, send, with_token};
use http::{Method, header};
use serde_json::json;
use tokenauth::core::TokenAuth;
use tokenauth::core::store::{
    Change, Committed, Ended, LoginRecord, PurgeBounds, TokenDigest, TokenRecord, TokenSet, TokenStore,
    Usage, UserDirectory,
};
use tokenauth::core::{MemoryStore, MemoryUserDirectory, TokenId, User, UserId};
use tokenauth::routes::{IntrospectionClient, Routes, VerifyOptions, readiness, verify_router};
use tokenauth::{Authenticated, TokenAuthLayer};

const UNAVAILABLE: &str = r#"{"detail":"Service temporarily unavailable, try again later."}"#;
const SERVER_ERROR: &str = r#"{"detail":"A server error occurred."}"#;
const CLIENT_ID: &str = "gateway";
const CLIENT_SECRET: &str = "0123456789abcdef0123456789abcdef";
const NOT_READY: &str = r#"{"detail":"Not ready: the token store or the user directory does not answer."}"#;

/// What a switched backend's calls do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    Up,
    /// Fail as unavailable: what a database that is down or locked reports.
    Down,
    /// Fail as broken: a bug or corrupt data, which waiting does not fix.
    Broken,
    /// Never answer: a server that stopped answering on an open connection.
    Stalled,
}

#[derive(Debug, Clone, Default)]
struct Switch(Arc<AtomicU8>);

impl Switch {
    fn set(&self, mode: Mode) {
        self.0.store(mode as u8, Ordering::SeqCst);
    }

    async fn pass(&self) -> Result<(), Outage> {
        match self.0.load(Ordering::SeqCst) {
            m if m == Mode::Down as u8 => Err(Outage::Down),
            m if m == Mode::Broken as u8 => Err(Outage::Broken),
            m if m == Mode::Stalled as u8 => std::future::pending().await,
            _ => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Outage {
    #[error("connection refused")]
    Down,
    #[error("corrupt row")]
    Broken,
    #[error(transparent)]
    Inner(#[from] tokenauth::core::store::DuplicateToken),
}

/// A memory store whose reads and writes each go through a switch.
#[derive(Debug, Clone, Default)]
struct SwitchedStore {
    inner: MemoryStore,
    reads: Switch,
    writes: Switch,
}

impl TokenStore for SwitchedStore {
    type Error = Outage;

    fn is_unavailable(error: &Outage) -> bool {
        matches!(error, Outage::Down)
    }

    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Outage> {
        self.reads.pass().await?;
        Ok(self.inner.token_set(user).await?)
    }

    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Outage> {
        self.writes.pass().await?;
        Ok(self.inner.commit(user, expected, change).await?)
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Outage> {
        self.reads.pass().await?;
        Ok(self.inner.find_by_digest(digest).await?)
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Outage> {
        self.reads.pass().await?;
        Ok(self.inner.find_by_id(id).await?)
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Outage> {
        self.reads.pass().await?;
        Ok(self.inner.list(user).await?)
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Outage> {
        self.writes.pass().await?;
        Ok(self.inner.delete(id).await?)
    }

    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Outage> {
        self.writes.pass().await?;
        Ok(self.inner.delete_for_user(user, keep).await?)
    }

    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Outage> {
        self.writes.pass().await?;
        Ok(self.inner.record_usage(uses).await?)
    }

    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Outage> {
        self.writes.pass().await?;
        Ok(self.inner.purge(bounds, limit).await?)
    }
}

/// A memory directory behind a switch.
#[derive(Debug, Clone, Default)]
struct SwitchedUsers {
    inner: MemoryUserDirectory,
    switch: Switch,
}

impl UserDirectory for SwitchedUsers {
    type User = User;
    type Error = Outage;

    fn is_unavailable(error: &Outage) -> bool {
        matches!(error, Outage::Down)
    }

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, Outage> {
        self.switch.pass().await?;
        let Ok(user) = self.inner.find_user(id).await;
        Ok(user)
    }

    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<User>>, Outage> {
        self.switch.pass().await?;
        let Ok(login) = self.inner.find_login(username).await;
        Ok(login)
    }
}

struct World {
    app: Router,
    store: SwitchedStore,
    users: SwitchedUsers,
    alice: UserId,
}

impl World {
    async fn new(backend_timeout: Option<Duration>) -> Self {
        let store = SwitchedStore::default();
        let users = SwitchedUsers::default();
        let alice = users
            .inner
            .add_user(ALICE, PASSWORD, true)
            .await
            .expect("add alice");
        let auth = TokenAuth::new(store.clone(), users.clone()).with_backend_timeout(backend_timeout);
        let app = Router::new()
            .route(
                "/protected",
                get(|auth: Authenticated| async move { auth.user.username }),
            )
            .route("/public", get(|| async { "public" }))
            .merge(tokenauth::routes::router(auth.clone()))
            .merge(
                Routes::new(auth.clone())
                    .with_introspection_client(IntrospectionClient::new(CLIENT_ID, CLIENT_SECRET).unwrap())
                    .oauth_router(),
            )
            .layer(TokenAuthLayer::new(auth.clone()))
            .merge(verify_router(auth.clone(), &VerifyOptions::default()))
            .route("/readyz", readiness(auth));
        Self {
            app,
            store,
            users,
            alice,
        }
    }

    async fn login(&self) -> common::Response {
        send(
            &self.app,
            obtain_json(&json!({ "username": ALICE, "password": PASSWORD })),
        )
        .await
    }

    async fn token(&self) -> String {
        let response = self.login().await;
        assert_eq!(response.status, 200, "{}", response.body);
        response.json()["token"].as_str().expect("a token").to_owned()
    }

    async fn token_id(&self, token: &str) -> String {
        let response = send(&self.app, get_token("/auth/tokens", token)).await;
        assert_eq!(response.status, 200, "{}", response.body);
        response.json()[0]["id"].as_str().expect("an id").to_owned()
    }
}

/// `POST path` with `token` in a form, as the introspection client.
fn oauth(path: &str, token: &str) -> http::Request<axum::body::Body> {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Basic {credentials}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!("token={token}")))
        .unwrap()
}

#[track_caller]
fn assert_unavailable(response: &common::Response, what: &str) {
    assert_eq!(
        (response.status.as_u16(), response.body.as_str()),
        (503, UNAVAILABLE),
        "{what}"
    );
    assert_eq!(response.header(header::RETRY_AFTER), Some("5"), "{what}");
}

#[tokio::test]
async fn ready_when_both_answer() {
    let world = World::new(None).await;
    let response = send(&world.app, request(Method::GET, "/readyz", None)).await;
    response.assert(200, r#"{"status":"ready"}"#);
    let response = send(&world.app, request(Method::POST, "/readyz", None)).await;
    response.assert_method_not_allowed(&Method::POST, "GET,HEAD");
}

#[tokio::test]
async fn a_store_that_is_down_is_503_with_retry_after_then_recovers() {
    let world = World::new(None).await;
    let token = world.token().await;

    world.store.reads.set(Mode::Down);
    let me = send(&world.app, get_token("/protected", &token)).await;
    assert_unavailable(&me, "authenticated request");
    assert_unavailable(&world.login().await, "login");
    // Forward auth fails closed: the proxy refuses the request.
    let verify = send(&world.app, get_token("/auth/verify", &token)).await;
    assert_unavailable(&verify, "forward auth");
    for (method, path) in [
        (Method::POST, "/auth/logout"),
        (Method::POST, "/auth/logoutall"),
        (Method::GET, "/auth/tokens"),
    ] {
        let response = send(&world.app, with_token(method.clone(), path, &token)).await;
        assert_unavailable(&response, &format!("{method} {path}"));
    }
    let ready = send(&world.app, request(Method::GET, "/readyz", None)).await;
    ready.assert(503, NOT_READY);
    assert_eq!(ready.header(header::RETRY_AFTER), Some("5"));
    // Requests that need no backend are served.
    send(&world.app, request(Method::GET, "/public", None))
        .await
        .assert(200, "public");

    world.store.reads.set(Mode::Up);
    send(&world.app, get_token("/protected", &token))
        .await
        .assert(200, ALICE);
    let verify = send(&world.app, get_token("/auth/verify", &token)).await;
    assert_eq!(
        verify.header(header::HeaderName::from_static("x-auth-user")),
        Some(ALICE)
    );
    send(&world.app, request(Method::GET, "/readyz", None))
        .await
        .assert(200, r#"{"status":"ready"}"#);
    world.token().await;
}

#[tokio::test]
async fn writes_that_cannot_land_are_503_in_every_route() {
    let world = World::new(None).await;
    let token = world.token().await;
    let id = world.token_id(&token).await;

    // Reads work, so requests authenticate; the write each route makes fails.
    world.store.writes.set(Mode::Down);
    assert_unavailable(&world.login().await, "login (commit)");
    let revoke = format!("/auth/tokens/{id}");
    for (method, path) in [
        (Method::POST, "/auth/logout"),
        (Method::POST, "/auth/logoutall"),
        (Method::DELETE, revoke.as_str()),
    ] {
        let response = send(&world.app, with_token(method.clone(), path, &token)).await;
        assert_unavailable(&response, &format!("{method} {path}"));
    }
    send(&world.app, get_token("/protected", &token))
        .await
        .assert(200, ALICE);

    world.store.writes.set(Mode::Up);
    let response = send(&world.app, with_token(Method::POST, "/auth/logout", &token)).await;
    assert_eq!(response.status, 204, "{}", response.body);
}

#[tokio::test]
async fn a_directory_that_is_down_is_503() {
    let world = World::new(None).await;
    let token = world.token().await;

    world.users.switch.set(Mode::Down);
    let me = send(&world.app, get_token("/protected", &token)).await;
    assert_unavailable(&me, "authenticated request");
    let verify = send(&world.app, get_token("/auth/verify", &token)).await;
    assert_unavailable(&verify, "forward auth");
    assert_unavailable(&world.login().await, "login");
    send(&world.app, request(Method::GET, "/readyz", None))
        .await
        .assert(503, NOT_READY);

    world.users.switch.set(Mode::Up);
    send(&world.app, get_token("/protected", &token))
        .await
        .assert(200, ALICE);
}

#[tokio::test]
async fn a_lenient_layer_does_not_pass_an_outage_off_as_anonymous() {
    let world = World::new(None).await;
    let token = world.token().await;
    let auth = TokenAuth::new(world.store.clone(), world.users.clone());
    let app = Router::new()
        .route("/public", get(|| async { "public" }))
        .layer(TokenAuthLayer::new(auth).with_lenient(true));

    world.store.reads.set(Mode::Down);
    assert_unavailable(&send(&app, get_token("/public", &token)).await, "lenient");
}

#[tokio::test]
async fn a_broken_backend_is_500_not_503() {
    let world = World::new(None).await;
    let token = world.token().await;

    world.store.reads.set(Mode::Broken);
    for response in [
        send(&world.app, get_token("/protected", &token)).await,
        world.login().await,
    ] {
        response.assert(500, SERVER_ERROR);
        assert_eq!(response.header(header::RETRY_AFTER), None);
    }
    // Not ready either, whatever the cause.
    send(&world.app, request(Method::GET, "/readyz", None))
        .await
        .assert(503, NOT_READY);

    world.store.reads.set(Mode::Up);
    world.store.writes.set(Mode::Broken);
    send(&world.app, with_token(Method::POST, "/auth/logout", &token))
        .await
        .assert(500, SERVER_ERROR);
}

/// A backend that never answers is cut off by the backend timeout (virtual time: the
/// test does not wait for it).
#[tokio::test(start_paused = true)]
async fn a_stalled_backend_is_503_after_the_backend_timeout() {
    let world = World::new(Some(Duration::from_secs(3))).await;
    // A token issued by a service on the same store, so that no password is hashed
    // on the paused clock.
    let issuer = TokenAuth::new(world.store.clone(), world.users.clone());
    let token = issuer
        .issue(&world.alice, tokenauth::core::TokenRequest::default())
        .await
        .expect("issued")
        .token
        .into_secret();
    send(&world.app, get_token("/protected", &token))
        .await
        .assert(200, ALICE);

    world.store.reads.set(Mode::Stalled);
    let me = send(&world.app, get_token("/protected", &token)).await;
    assert_unavailable(&me, "stalled store");
    world.store.reads.set(Mode::Up);
    world.users.switch.set(Mode::Stalled);
    send(&world.app, request(Method::GET, "/readyz", None))
        .await
        .assert(503, NOT_READY);
    let me = send(&world.app, get_token("/protected", &token)).await;
    assert_unavailable(&me, "stalled directory");

    world.users.switch.set(Mode::Up);
    send(&world.app, get_token("/protected", &token))
        .await
        .assert(200, ALICE);
}

#[tokio::test]
async fn introspection_and_revocation_are_503_while_the_store_is_down() {
    let world = World::new(None).await;
    let token = world.token().await;

    world.store.reads.set(Mode::Down);
    assert_unavailable(
        &send(&world.app, oauth("/auth/introspect", &token)).await,
        "introspect",
    );
    assert_unavailable(
        &send(&world.app, oauth("/auth/revoke", &token)).await,
        "revoke (lookup)",
    );
    world.store.reads.set(Mode::Up);

    world.store.writes.set(Mode::Down);
    assert_unavailable(
        &send(&world.app, oauth("/auth/revoke", &token)).await,
        "revoke (delete)",
    );
    let response = send(&world.app, oauth("/auth/introspect", &token)).await;
    assert_eq!(response.json()["active"], true, "{}", response.body);

    world.store.writes.set(Mode::Up);
    send(&world.app, oauth("/auth/revoke", &token))
        .await
        .assert(200, "");
    send(&world.app, oauth("/auth/introspect", &token))
        .await
        .assert(200, r#"{"active":false}"#);
}
