//! `tokenauth serve --cache on` on SQLite: a cached token is refused on the very next
//! request after its logout, and the options are checked.

use crate::common;

use common::{Server, database_with_alice, http, obtain, run, tokenauth};

#[tokio::test]
async fn a_cached_token_is_refused_on_the_request_after_its_logout() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "cache");
    let (_server, addr) = Server::start(
        &database,
        &["--cache", "on", "--cache-ttl", "1h", "--cache-size", "100"],
    );
    let obtained = obtain(&addr, "alice", "pw").await;
    let authorization = format!("Token {}", obtained["token"].as_str().unwrap());
    let headers = [("authorization", authorization.as_str())];
    for _ in 0..3 {
        let (status, body) = http(&addr, "GET", "/auth/me", &headers, "").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = http(&addr, "POST", "/auth/logout", &headers, "").await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = http(&addr, "GET", "/auth/me", &headers, "").await;
    assert_eq!((status, body.as_str()), (401, r#"{"detail":"Invalid token"}"#));
}

#[test]
fn the_cache_switch_takes_on_or_off() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("switch.db").display());
    let refused = run(
        tokenauth(&database, &["serve", "--bind", "127.0.0.1:0", "--cache", "maybe"]),
        "",
    );
    assert_eq!(refused.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("invalid value 'maybe' for '--cache <on|off>'"),
        "{stderr}"
    );
}
