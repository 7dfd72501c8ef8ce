//! The documented setup, served on a real socket by `TokenAuth::serve`: the last uses
//! the server saw are written once it has stopped.

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use common::{ALICE, PASSWORD, START};
use time::Duration;
use tokenauth::core::store::TokenStore;
use tokenauth::core::{ManualClock, MemoryStore, MemoryUserDirectory, TokenRequest};
use tokenauth::{Authenticated, TokenAuth};
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
    let auth = TokenAuth::builder(MemoryStore::new(), users)
        .clock(clock.clone())
        .build();
    let issued = auth
        .obtain(ALICE, PASSWORD, TokenRequest::default())
        .await
        .expect("login");
    clock.advance(Duration::minutes(5));

    // As in the README.
    let app = Router::new()
        .route(
            "/me",
            get(|auth: Authenticated| async move { auth.user.username }),
        )
        .merge(auth.routes())
        .layer(auth.layer());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let auth = auth.clone();
        async move {
            auth.serve_with_shutdown(listener, app, async {
                let _ = stopped.await;
            })
            .await
        }
    });

    let response = http_get(addr, "/me", issued.token.expose_secret()).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nalice"), "{response}");

    stop.send(()).expect("the server is running");
    server
        .await
        .expect("the server task")
        .expect("the server and its upkeep");

    let record = auth
        .store()
        .find_by_id(&issued.info.id)
        .await
        .expect("the memory store does not fail")
        .expect("the token is stored");
    assert_eq!(record.last_used, Some(START + Duration::minutes(5)));
    assert_eq!(record.last_ip, Some("127.0.0.1".parse().unwrap()));
}
