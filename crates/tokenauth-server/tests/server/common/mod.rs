//! Helpers for the tests that run the real `tokenauth` binary.

#![allow(dead_code, unreachable_pub)] // Each test file uses some of them.

pub mod mysql;
pub mod postgres;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

pub const BIN: &str = env!("CARGO_BIN_EXE_tokenauth");

/// The binary the tests run: this build's, or `TOKENAUTH_TEST_BINARY` (CI runs the
/// gateway tests on the release build, as operators run it).
pub fn binary() -> String {
    std::env::var("TOKENAUTH_TEST_BINARY").unwrap_or_else(|_| BIN.to_owned())
}

/// Runs `tokenauth --database DATABASE ARGS` in-process (no progress bars, not a
/// terminal) with `stdin`; its stdout on success. A tokenauth database is migrated
/// first, as an operator does once (`tokenauth migrate`): admin commands refuse one
/// that is not (`ergonomics` tests that).
pub async fn run_cli(
    database: &str,
    args: &[&str],
    stdin: &str,
) -> Result<String, tokenauth_server::cli::CliError> {
    if !args.contains(&"--schema") && !args.contains(&"migrate") {
        run_cli_as_is(database, &["migrate"], "").await?;
    }
    run_cli_as_is(database, args, stdin).await
}

/// [`run_cli`] without migrating first.
pub async fn run_cli_as_is(
    database: &str,
    args: &[&str],
    stdin: &str,
) -> Result<String, tokenauth_server::cli::CliError> {
    use clap::Parser;
    use tokenauth_server::cli::{self, Cli, Io};

    let argv = ["tokenauth", "--database", database]
        .into_iter()
        .chain(args.iter().copied());
    let cli = Cli::try_parse_from(argv).expect("arguments parse");
    let mut io = Io {
        stdin: stdin.as_bytes(),
        stdout: Vec::new(),
        interactive: false,
        show_progress: false,
    };
    cli::run(cli, &mut io).await?;
    Ok(String::from_utf8(io.stdout).expect("stdout is UTF-8"))
}

/// `tokenauth --database URL ARGS`, with no tokenauth settings from the environment.
pub fn tokenauth(database: &str, args: &[&str]) -> Command {
    let mut command = bare(&["--database", database]);
    command.args(args);
    command
}

/// `tokenauth ARGS`, with no tokenauth settings from the environment and no
/// `--database`.
pub fn bare(args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TOKENAUTH_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "info");
    command
}

/// A database in `dir` named `name`, with a user `alice` (password `pw`).
pub fn database_with_alice(dir: &tempfile::TempDir, name: &str) -> String {
    let database = format!("sqlite://{}", dir.path().join(format!("{name}.db")).display());
    add_user(&database, "alice", "pw");
    database
}

/// `tokenauth user add USERNAME --password-stdin` on `database`, migrated first as an
/// operator does once (`tokenauth migrate`), which must succeed; what it printed.
pub fn add_user(database: &str, username: &str, password: &str) -> String {
    run_ok(tokenauth(database, &["migrate"]), "");
    run_ok(
        tokenauth(database, &["user", "add", username, "--password-stdin"]),
        &format!("{password}\n"),
    )
}

/// Runs `command` with `stdin` as its standard input, to completion.
pub fn run(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `command` with `stdin`, which must succeed; what it printed.
pub fn run_ok(command: Command, stdin: &str) -> String {
    let output = run(command, stdin);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// A running `tokenauth serve`, killed if the test fails before shutting it down, and
/// a thread collecting its standard error as it is written: unread, the pipe would
/// fill after 64 KiB of logs (an access line per request) and block the server.
pub struct Server(pub Child, Option<std::thread::JoinHandle<String>>);

impl Server {
    /// Starts `tokenauth serve --bind 127.0.0.1:0 ARGS` on `database`; the address it
    /// listens on, read from its first line.
    ///
    /// Without a drain unless `ARGS` give one (`--drain`): SIGTERM stops accepting at
    /// once, so that stopping a server does not add the 5 s default to every test
    /// (`connections` tests the drain).
    pub fn start(database: &str, args: &[&str]) -> (Self, String) {
        Self::start_with_env(database, args, &[])
    }

    /// [`Server::start`] with these environment variables (`RUST_LOG`, `TOKENAUTH_*`).
    pub fn start_with_env(database: &str, args: &[&str], env: &[(&str, &str)]) -> (Self, String) {
        let (server, mut lines) = Self::start_printing(database, args, env, 1);
        (server, lines.remove(0))
    }

    /// [`Server::start_with_env`], reading the first `lines` lines it prints (the
    /// first one's address first, then the others as printed).
    pub fn start_printing(
        database: &str,
        args: &[&str],
        env: &[(&str, &str)],
        lines: usize,
    ) -> (Self, Vec<String>) {
        let mut serve = vec!["serve", "--bind", "127.0.0.1:0"];
        serve.extend_from_slice(args);
        let mut child = tokenauth(database, &serve)
            .env("TOKENAUTH_DRAIN", "0s")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let logs = std::thread::spawn(move || {
            let mut logs = Vec::new();
            let _ = stderr.read_to_end(&mut logs);
            String::from_utf8_lossy(&logs).into_owned()
        });
        let mut server = Self(child, Some(logs));
        let mut stdout = BufReader::new(server.0.stdout.take().unwrap());
        let mut printed = Vec::new();
        for _ in 0..lines {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            printed.push(line.trim_end().to_owned());
        }
        let addr = printed[0]
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {:?}", printed[0]))
            .to_owned();
        printed[0] = addr;
        (server, printed)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Waits for the server to exit; panics if it has not within `bound` (polled: a
    /// bound check, not a measurement).
    pub fn exit_within(&mut self, bound: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server still runs after {bound:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server logged, once it has exited (this waits for the end of its
    /// standard error).
    pub fn logs(&mut self) -> String {
        self.1.take().expect("the logs are read once").join().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads from `stream` until the server closes it (EOF or reset), and returns what it
/// read; panics if the server has not closed it within `within`.
pub fn read_until_closed(stream: &mut TcpStream, within: Duration, what: &str) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut answer = Vec::new();
    let mut buf = [0; 16 * 1024];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .unwrap_or_else(|| panic!("{what}: still open after {within:?}; read {answer:?}"));
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return answer,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return answer,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "{what}: still open after {within:?}; read {:?}",
                    String::from_utf8_lossy(&answer)
                )
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Sends one HTTP/1.1 request to the server at `addr`; its status and body.
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let (status, _, body) = http_with_headers(addr, method, path, headers, body).await;
    (status, body)
}

/// [`http`], with the response's headers too.
pub async fn http_with_headers(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, axum::http::HeaderMap, String) {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the server accepts connections");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::builder().method(method).uri(path).header("host", addr);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// Tries to log in over HTTP (`POST /api-token-auth/`); the status and body.
pub async fn login(addr: &str, username: &str, password: &str) -> (u16, String) {
    let credentials = serde_json::json!({ "username": username, "password": password });
    http(
        addr,
        "POST",
        "/api-token-auth/",
        &[("content-type", "application/json")],
        &credentials.to_string(),
    )
    .await
}

/// Logs in over HTTP (`POST /api-token-auth/`), which must succeed; the JSON answer.
pub async fn obtain(addr: &str, username: &str, password: &str) -> serde_json::Value {
    let (status, body) = login(addr, username, password).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("a JSON answer")
}

/// The fixtures Django 5.2.19 + DRF 3.18.3 made (`tokenauth-django/tests/fixtures`).
pub const DJANGO_FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tokenauth-django/tests/fixtures");

/// The custom user models' fixtures (`tokenauth-django/tests/fixtures/custom-users`).
pub const CUSTOM_USERS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tokenauth-django/tests/fixtures/custom-users"
);

/// A copy, in `dir`, of the SQLite database Django made (the import only reads it,
/// but the fixture stays untouched even so); its `sqlite://` URL.
pub fn django_sqlite(dir: &tempfile::TempDir) -> String {
    let django_path = dir.path().join("django.sqlite3");
    std::fs::copy(format!("{DJANGO_FIXTURES}/django.sqlite3"), &django_path).unwrap();
    format!("sqlite://{}", django_path.display())
}

/// `tokenauth import-django --from DJANGO` into `database`, which must succeed; what
/// it printed.
/// `tokenauth import-django --from DJANGO` into `database`, migrated first (as admin
/// commands never change the schema), which must succeed; what it printed.
pub fn import_django(database: &str, django: &str) -> String {
    import_django_with(database, django, &[])
}

/// [`import_django`] with `options` (`--django-user-table ...`).
pub fn import_django_with(database: &str, django: &str, options: &[&str]) -> String {
    run_ok(tokenauth(database, &["migrate"]), "");
    let import = [options, &["import-django", "--from", django]].concat();
    run_ok(tokenauth(database, &import), "")
}

/// A token of alice's (user 1) issued 31 days ago: expired under the 30-day lifespan.
pub async fn expired_token(database: &str) -> String {
    use tokenauth::core::TokenAuth;
    use tokenauth_core::{ManualClock, TokenRequest, UserId};
    use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory};

    let pool = tokenauth_sqlx::sqlite::connect(database).await.unwrap();
    let auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool));
    let back_then = auth
        .clone()
        .with_clock(ManualClock::new(auth.now() - time::Duration::days(31)));
    let issued = back_then
        .issue(&UserId::from(1), TokenRequest::default())
        .await
        .unwrap();
    issued.token.expose_secret().to_owned()
}
