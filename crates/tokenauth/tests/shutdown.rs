//! The documented setup, served on a real socket: the last uses the server saw are
//! written once it has stopped and the upkeep is shut down.

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use common::{ALICE, PASSWORD, START};
use time::Duration;
use tokenauth::core::store::TokenStore;
use tokenauth::core::{Maintenance, ManualClock, MemoryStore, MemoryUserDirectory, TokenRequest};
use tokenauth::routes::{self, method_not_allowed_authenticated};
use tokenauth::{Authenticated, TokenAuth, TokenAuthLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `GET path` with `Authorization: Token <token>` over a fresh connection; the whole
/// response, head and body.
async fn http_get(addr: SocketAddr, path: &str, token: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Token {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("receive");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_setup_writes_last_used_times_on_shutdown() {
    let clock = ManualClock::new(START);
    let users = MemoryUserDirectory::new();
    users.add_user(ALICE, PASSWORD, true).await.expect("add alice");
    let auth = TokenAuth::new(MemoryStore::new(), users).with_clock(clock.clone());
    let issued = auth
        .obtain(ALICE, PASSWORD, TokenRequest::default())
        .await
        .expect("login");
    clock.advance(Duration::minutes(5));

    // As in the crate docs and the example.
    let app = Router::new()
        .route(
            "/me",
            get(|auth: Authenticated| async move { auth.user.username }),
        )
        .method_not_allowed_fallback(method_not_allowed_authenticated)
        .merge(routes::router(auth.clone()))
        .layer(TokenAuthLayer::new(auth.clone()));
    let upkeep = auth.start_maintenance(Maintenance::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );

    let response = http_get(addr, "/me", issued.token.expose_secret()).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nalice"), "{response}");

    stop.send(()).expect("the server is running");
    server.await.expect("the server task").expect("the server");
    upkeep.shutdown().await.expect("the upkeep ran");

    let record = auth
        .store()
        .find_by_id(&issued.info.id)
        .await
        .expect("the memory store does not fail")
        .expect("the token is stored");
    assert_eq!(record.last_used, Some(START + Duration::minutes(5)));
    assert_eq!(record.last_ip, Some("127.0.0.1".parse().unwrap()));
}
