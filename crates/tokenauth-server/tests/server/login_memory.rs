//! Bounded memory on login: fifty concurrent maximal junk logins keep the real server's
//! peak resident memory under the budget documented in the README (100 MiB).

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use axum::body::Bytes;
use axum::http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_tokenauth");
/// The budget, in KiB.
const BUDGET_KIB: u64 = 100 * 1024;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The peak resident memory of process `pid`, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The status of `POST /api-token-auth/` with `body`, or `None` if the server closed
/// the connection before the body was sent (it refuses an oversized body on its
/// `Content-Length` and may close while the client is still writing).
async fn try_post(addr: &str, content_type: &str, body: String) -> Option<u16> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::post("/api-token-auth/")
        .header("host", addr)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.ok()?;
    let status = response.status().as_u16();
    response.into_body().collect().await.ok()?;
    Some(status)
}

async fn post(addr: &str, content_type: &str, body: String) -> u16 {
    try_post(addr, content_type, body)
        .await
        .expect("the server answers a body within the limit")
}

/// The most a client can make the server parse: bodies just under the 8 KiB limit, of
/// the costliest shapes (many small JSON values; a maximal username and password that
/// reach the password check; form bodies of many pairs), and bodies over it.
fn junk(n: usize) -> (&'static str, String) {
    match n % 4 {
        0 => {
            let values = vec![json!([[0]]); 1300];
            ("application/json", json!({ "username": values }).to_string())
        }
        1 => (
            "application/json",
            json!({
                "username": format!("{n:0>150}"),
                "password": "p".repeat(4096),
                "name": "n".repeat(200),
                "scope": vec!["s"; 32].join(" "),
            })
            .to_string(),
        ),
        2 => ("application/x-www-form-urlencoded", "a=&".repeat(2700)),
        _ => ("application/json", format!("[{}0]", "0,".repeat(1024 * 1024))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_junk_logins_stay_under_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start(&dir, &[]);

    let logins = (0..50).map(|n| {
        let addr = addr.clone();
        tokio::spawn(async move {
            let (content_type, body) = junk(n);
            (n, try_post(&addr, content_type, body).await)
        })
    });
    for login in futures_util::future::join_all(logins).await {
        let (n, status) = login.unwrap();
        let expected: &[Option<u16>] = match n % 4 {
            // Throttled or not, never a 5xx; the maximal login is checked and refused.
            1 => &[Some(400), Some(429)],
            // Refused on its length: the 413, or a close before the client sent it all.
            3 => &[Some(413), None],
            _ => &[Some(400)],
        };
        assert!(expected.contains(&status), "login {n}: {status:?}");
    }
    within_budget(&server);
}

/// Logins that reach the password check, one after another on new connections, do not
/// pile up argon2's 19 MiB of working memory: it is kept and reused per hashing slot,
/// where fresh allocations on each blocking thread left several copies resident.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_one_after_another_do_not_grow_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start(&dir, &["--login-throttle", "off"]);
    for n in 0..40 {
        let body = json!({"username": format!("user{n}"), "password": "wrong"}).to_string();
        assert_eq!(post(&addr, "application/json", body).await, 400, "login {n}");
    }
    within_budget(&server);
}

/// `tokenauth serve` on a fresh database in `dir`, with `args`; its address.
fn start(dir: &tempfile::TempDir, args: &[&str]) -> (Server, String) {
    let database = format!("sqlite://{}", dir.path().join("memory.db").display());
    let mut server = Server(
        Command::new(BIN)
            .args(["--database", &database, "serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .env_remove("TOKENAUTH_LOGIN_THROTTLE")
            .env_remove("TOKENAUTH_TRUSTED_PROXIES")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();
    (server, addr)
}

/// Asserts the server's peak resident memory is under the budget.
fn within_budget(server: &Server) {
    let peak = peak_kib(server.0.id());
    eprintln!("peak resident memory: {peak} KiB");
    assert!(
        peak < BUDGET_KIB,
        "peak resident memory {peak} KiB over the {BUDGET_KIB} KiB budget"
    );
}
