//! `serve --challenge` and `--realm` on the real binary: RFC 6750's challenges for
//! Bearer clients by default, DRF's for the others, either for everyone on request.

use crate::common;

use common::{Server, database_with_alice, http_with_headers, obtain, run, tokenauth};

/// Status, every `WWW-Authenticate` and body of `GET /auth/me` with `authorization`.
async fn me(addr: &str, authorization: Option<&str>) -> (u16, Vec<String>, String) {
    let headers: Vec<(&str, &str)> = authorization.map(|a| ("authorization", a)).into_iter().collect();
    let (status, headers, body) = http_with_headers(addr, "GET", "/auth/me", &headers, "").await;
    let challenges = headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (status, challenges, body)
}

fn seen(status: u16, challenge: &str, body: &str) -> (u16, Vec<String>, String) {
    (status, vec![challenge.to_owned()], body.to_owned())
}

const INVALID: &str = r#"{"detail":"Invalid token"}"#;
const NOT_PROVIDED: &str = r#"{"detail":"Authentication credentials were not provided."}"#;
const SPACES: &str = r#"{"detail":"Invalid token header. Token string should not contain spaces."}"#;

#[tokio::test]
async fn bearer_clients_get_rfc_6750_challenges_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "auto");
    let (_server, addr) = Server::start(&database, &[]);
    let token = obtain(&addr, "alice", "pw").await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, _, body) = me(&addr, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        me(&addr, Some("Bearer tka_nope")).await,
        seen(
            401,
            r#"Bearer realm="api", error="invalid_token", error_description="Invalid token""#,
            INVALID
        )
    );
    assert_eq!(
        me(&addr, Some("Bearer a b")).await,
        seen(
            400,
            r#"Bearer realm="api", error="invalid_request", error_description="Invalid token header. Token string should not contain spaces.""#,
            SPACES
        )
    );
    // Token clients, and clients without credentials, get DRF's answers.
    assert_eq!(
        me(&addr, Some("Token tka_nope")).await,
        seen(401, "Token", INVALID)
    );
    assert_eq!(me(&addr, Some("Token a b")).await, seen(401, "Token", SPACES));
    assert_eq!(me(&addr, None).await, seen(401, "Token", NOT_PROVIDED));
}

#[tokio::test]
async fn challenge_drf_and_rfc6750_apply_to_every_client() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "modes");
    {
        let (_server, addr) = Server::start(&database, &["--challenge", "drf"]);
        assert_eq!(
            me(&addr, Some("Bearer tka_nope")).await,
            seen(401, "Token", INVALID)
        );
        assert_eq!(me(&addr, Some("Bearer a b")).await, seen(401, "Token", SPACES));
    }
    // The mode through the environment, as a deployment would set it.
    let (_server, addr) = Server::start_with_env(
        &database,
        &["--realm", "Example API"],
        &[("TOKENAUTH_CHALLENGE", "rfc6750")],
    );
    assert_eq!(
        me(&addr, None).await,
        seen(401, r#"Bearer realm="Example API""#, NOT_PROVIDED)
    );
    assert_eq!(
        me(&addr, Some("Token tka_nope")).await,
        seen(
            401,
            r#"Bearer realm="Example API", error="invalid_token", error_description="Invalid token""#,
            INVALID
        )
    );
}

#[test]
fn invalid_challenge_or_realm_is_a_usage_error() {
    for (args, says) in [
        (
            &["--challenge", "bearer"][..],
            "invalid value 'bearer' for '--challenge <CHALLENGE>'",
        ),
        (&["--realm", "say \"hi\""][..], "invalid realm"),
        (&["--realm", ""][..], "invalid realm"),
    ] {
        let mut serve = vec!["serve", "--bind", "127.0.0.1:0"];
        serve.extend_from_slice(args);
        let output = run(tokenauth("sqlite::memory:", &serve), "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
