//! The connection layer in process ([`tokenauth_server::serve_router`]): handler
//! panics, the connection caps (and a trusted proxy exempt from the per-address one).

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::num::NonZeroUsize;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::read_until_closed;
use tokenauth::TrustedProxies;
use tokenauth::core::TokenAuth;
use tokenauth_core::{Maintenance, MemoryStore, MemoryUserDirectory};
use tokenauth_server::{LoginOptions, ServeConfig, ServeOptions, app, serve, serve_router};
use tokio::sync::oneshot;

/// Serves `router` with `config` on a free port; the address, and a sender that stops it
/// (at once: without a drain, which `connections` tests).
async fn start(
    router: Router,
    config: ServeConfig,
) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let config = ServeConfig {
        drain: Duration::ZERO,
        ..config
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve_router(listener, router, &config, &TrustedProxies::none(), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (addr, stop, server)
}

async fn panics() -> &'static str {
    panic!("a bug in a handler")
}

fn the_app() -> Router {
    app(TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new()))
}

/// Sends `request` on its own blocking thread and reads the answer until the server
/// closes the connection.
async fn exchange(addr: &str, request: &'static str) -> String {
    let addr = addr.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        String::from_utf8(read_until_closed(&mut stream, Duration::from_secs(5), request)).unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_drf_s_500_and_the_server_keeps_serving() {
    let router = Router::new().route("/panic", get(panics)).merge(the_app());
    let (addr, stop, server) = start(router, ServeConfig::default()).await;

    let answer = exchange(
        &addr,
        "GET /panic HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("\r\ncontent-type: application/json\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\n{\"detail\":\"A server error occurred.\"}"),
        "{answer}"
    );

    let answer = exchange(
        &addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nok"),
        "{answer}"
    );

    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_and_those_in_progress_are_served() {
    let config = ServeConfig {
        max_connections: NonZeroUsize::new(1).unwrap(),
        ..ServeConfig::default()
    };
    let (addr, stop, server) = start(the_app(), config).await;

    let in_progress = hold(&addr).await;

    // Closed at once: well before the 10 s header timeout would have closed it.
    let shed = exchange(
        &addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(shed, "", "a connection beyond the cap is closed unanswered");

    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = in_progress;
        stream.write_all(b"Connection: close\r\n\r\n").unwrap();
        String::from_utf8(read_until_closed(
            &mut stream,
            Duration::from_secs(5),
            "in progress",
        ))
        .unwrap()
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nok"),
        "{answer}"
    );

    stop.send(()).unwrap();
    server.await.unwrap();
}

/// Connects and sends a request head without its end: a connection held open.
async fn hold(addr: &str) -> TcpStream {
    let addr = addr.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
        stream
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_per_address_cap_are_closed_and_a_closed_one_frees_a_slot() {
    let config = ServeConfig {
        max_connections_per_ip: NonZeroUsize::new(2).unwrap(),
        ..ServeConfig::default()
    };
    let (addr, stop, server) = start(the_app(), config).await;
    let held = [hold(&addr).await, hold(&addr).await];

    // Closed at once, though the global cap (512) is far: the address is at its cap.
    let request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(
        exchange(&addr, request).await,
        "",
        "a connection beyond the address's cap"
    );

    // Once one of them is closed, the address may connect again.
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = exchange(&addr, request).await;
        if answer.starts_with("HTTP/1.1 200 OK\r\n") {
            break;
        }
        assert_eq!(answer, "", "closed unanswered, or served");
        assert!(
            std::time::Instant::now() < deadline,
            "the closed connections' slots were not released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_is_exempt_from_the_per_address_cap() {
    let config = ServeConfig {
        max_connections_per_ip: NonZeroUsize::new(1).unwrap(),
        drain: Duration::ZERO,
        ..ServeConfig::default()
    };
    let options = LoginOptions {
        proxies: "127.0.0.1".parse().unwrap(),
        ..LoginOptions::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
    let server = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        let options = ServeOptions {
            login: options,
            maintenance: Maintenance::default(),
            limits: config,
            ..ServeOptions::default()
        };
        serve(listener, auth, &options, shutdown).await.unwrap();
    });
    let held = [hold(&addr).await, hold(&addr).await];

    let request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answer = exchange(&addr, request).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");

    drop(held);
    stop.send(()).unwrap();
    server.await.unwrap();
}
