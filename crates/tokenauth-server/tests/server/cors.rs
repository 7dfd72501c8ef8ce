//! CORS (`--cors-origins`) on the real binary: preflights from allowed and other
//! origins, simple requests with `Origin`, `*`, off by default, a malformed origin
//! refused at start.

use axum::http::HeaderMap;

use crate::common::{Server, database_with_alice, http_with_headers, run, tokenauth};

const APP: &str = "https://app.example.com";
const OTHER: &str = "https://evil.example.net";

/// A browser's preflight for `POST path` with a JSON body and an Authorization header.
async fn preflight(addr: &str, path: &str, origin: &str) -> (u16, HeaderMap, String) {
    let headers = [
        ("origin", origin),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "authorization,content-type"),
    ];
    http_with_headers(addr, "OPTIONS", path, &headers, "").await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

/// The names of the `access-control-*` headers of a response.
fn cors_headers(headers: &HeaderMap) -> Vec<&str> {
    headers
        .keys()
        .map(|name| name.as_str())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

#[tokio::test]
async fn an_allowed_origin_gets_the_cors_headers_and_another_none() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "cors");
    let origins = format!("{APP}, http://localhost:5173");
    let (server, addr) = Server::start(&database, &["--cors-origins", &origins]);

    // Answered before the token layer (which would say 401) and the wrong-method
    // answer (405), on a login route and on a protected one.
    for path in ["/api-token-auth/", "/auth/me", "/auth/logout"] {
        let (status, headers, body) = preflight(&addr, path, APP).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            Some(APP),
            "{path}"
        );
        assert_eq!(header(&headers, "access-control-allow-credentials"), Some("true"));
        let methods = header(&headers, "access-control-allow-methods").unwrap();
        assert_eq!(methods, "GET,POST,DELETE");
        let allowed = header(&headers, "access-control-allow-headers").unwrap();
        assert_eq!(allowed, "authorization,content-type");
        assert_eq!(header(&headers, "access-control-max-age"), Some("3600"));
    }
    let (status, headers, _) = preflight(&addr, "/auth/me", "http://localhost:5173").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("http://localhost:5173")
    );

    // Another origin: refused, without a CORS header.
    let (status, headers, body) = preflight(&addr, "/auth/me", OTHER).await;
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"detail":"Origin not allowed."}"#)
    );
    assert_eq!(cors_headers(&headers), Vec::<&str>::new());

    // A simple request from an allowed origin: the answer may be read, and its
    // Retry-After and X-Request-Id too; from another origin: no CORS header.
    let (status, headers, _) = http_with_headers(&addr, "GET", "/auth/me", &[("origin", APP)], "").await;
    assert_eq!(status, 401);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(APP));
    assert_eq!(header(&headers, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(&headers, "access-control-expose-headers"),
        Some("retry-after,x-request-id")
    );
    let (status, headers, _) = http_with_headers(&addr, "GET", "/healthz", &[("origin", OTHER)], "").await;
    assert_eq!(status, 200);
    assert_eq!(cors_headers(&headers), Vec::<&str>::new());

    // An OPTIONS that is not a preflight is what it was without CORS.
    let (status, headers, _) = http_with_headers(&addr, "OPTIONS", "/healthz", &[("origin", APP)], "").await;
    assert_eq!(status, 405);
    assert_eq!(cors_headers(&headers), Vec::<&str>::new());
    drop(server);
}

#[tokio::test]
async fn any_origin_is_allowed_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "cors-any");
    let (server, addr) = Server::start_with_env(&database, &[], &[("TOKENAUTH_CORS_ORIGINS", "*")]);

    let (status, headers, _) = preflight(&addr, "/api-token-auth/", OTHER).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&headers, "access-control-allow-credentials"), None);
    assert_eq!(
        header(&headers, "access-control-allow-headers"),
        Some("authorization,content-type")
    );
    let (_, headers, _) = http_with_headers(&addr, "GET", "/healthz", &[("origin", OTHER)], "").await;
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    drop(server);
}

#[tokio::test]
async fn without_cors_origins_there_is_no_cors() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "cors-off");
    let (server, addr) = Server::start(&database, &[]);

    let (status, headers, body) = preflight(&addr, "/api-token-auth/", APP).await;
    assert_eq!(
        (status, body.as_str()),
        (405, r#"{"detail":"Method \"OPTIONS\" not allowed."}"#)
    );
    assert_eq!(cors_headers(&headers), Vec::<&str>::new());
    let (_, headers, _) = http_with_headers(&addr, "GET", "/healthz", &[("origin", APP)], "").await;
    assert_eq!(cors_headers(&headers), Vec::<&str>::new());
    drop(server);
}

#[test]
fn a_malformed_origin_is_refused_at_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "cors-bad");
    for bad in [
        "https://app.example.com/",
        "app.example.com",
        "*,https://app.example.com",
    ] {
        let output = run(tokenauth(&database, &["serve", "--cors-origins", bad]), "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("--cors-origins"), "{stderr}");
        assert!(stderr.contains("invalid CORS origin"), "{stderr}");
        assert!(stderr.contains(bad.split(',').next().unwrap()), "{stderr}");
        assert!(output.stdout.is_empty(), "it did not serve");
    }
}
