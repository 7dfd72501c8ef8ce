//! Brute-force protection: the login throttle per username and per client address
//! (429 with DRF's body and `Retry-After`, no password work), the client address behind
//! trusted proxies, and the login events it feeds.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use common::*;
use governor::clock::FakeRelativeClock;
use http::{Request, header};
use serde_json::json;
use tokenauth::TrustedProxies;
use tokenauth::core::AuthEvent;
use tokenauth::routes::{LoginThrottle, Routes, ThrottleConfig};

const OFFICE: &str = "192.0.2.10:40000";

/// The obtain routes with `throttle` on `clock`.
fn app(fx: &Fixture, throttle: &str, clock: &FakeRelativeClock) -> Router {
    let config: ThrottleConfig = throttle.parse().unwrap();
    Routes::new(fx.auth.clone())
        .with_login_throttle(LoginThrottle::with_clock(config, clock.clone()))
        .router()
}

fn login(username: &str, password: &str, peer: &str) -> Request<Body> {
    from_peer(
        obtain_json(&json!({"username": username, "password": password})),
        peer,
    )
}

#[track_caller]
fn assert_throttled(response: &Response, seconds: u64) {
    let unit = if seconds == 1 { "second" } else { "seconds" };
    response.assert(
        429,
        &format!(r#"{{"detail":"Request was throttled. Expected available in {seconds} {unit}."}}"#),
    );
    assert_eq!(
        response.header(header::RETRY_AFTER),
        Some(seconds.to_string().as_str())
    );
}

/// Fifty wrong passwords for one username: the default lets ten through, then 429s that
/// cost no hash; the right password is throttled too; another user's login is not, and
/// does not refill the attacked username's bucket; time does.
#[tokio::test]
async fn wrong_passwords_for_one_username_are_throttled_by_default() {
    let fx = Fixture::new().await;
    let clock = FakeRelativeClock::default();
    let app = app(&fx, &ThrottleConfig::default().to_string(), &clock);
    let hashes = fx.auth.password_hasher().verifications();
    let mut refused = 0;
    for n in 0..50 {
        let response = send(&app, login(ALICE, &format!("guess {n}"), OFFICE)).await;
        if n < 10 {
            response.assert(400, BAD_CREDENTIALS);
        } else {
            assert_throttled(&response, 12);
            refused += 1;
        }
    }
    assert_eq!(refused, 40);
    assert_eq!(fx.auth.password_hasher().verifications(), hashes + 10);
    assert_throttled(&send(&app, login(ALICE, PASSWORD, OFFICE)).await, 12);

    // Another user, from the same address: logs in, and resets nothing.
    assert_eq!(send(&app, login(DAVE, PASSWORD, OFFICE)).await.status, 200);
    assert_throttled(&send(&app, login(ALICE, PASSWORD, OFFICE)).await, 12);

    clock.advance(Duration::from_secs(11));
    assert_throttled(&send(&app, login(ALICE, PASSWORD, OFFICE)).await, 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(send(&app, login(ALICE, PASSWORD, OFFICE)).await.status, 200);
    assert_throttled(&send(&app, login(ALICE, PASSWORD, OFFICE)).await, 12);
}

/// A few dozen people behind one office address log in at once, each mistyping once:
/// not throttled by the default (90 attempts within the burst of 100).
#[tokio::test]
async fn an_office_logging_in_at_once_is_not_throttled_by_default() {
    let fx = Fixture::new().await;
    let clock = FakeRelativeClock::default();
    let app = app(&fx, &ThrottleConfig::default().to_string(), &clock);
    for n in 0..45 {
        let username = format!("user{n}");
        fx.users.add_user(&username, PASSWORD, true).await.unwrap();
        // One mistyped password each, then the right one.
        send(&app, login(&username, "typo", OFFICE))
            .await
            .assert(400, BAD_CREDENTIALS);
        let response = send(&app, login(&username, PASSWORD, OFFICE)).await;
        assert_eq!(response.status, 200, "{username}: {}", response.body);
    }
}

/// One address spreading guesses over many usernames is held to its own limit; other
/// addresses are not affected, and a success does not refill it.
#[tokio::test]
async fn one_address_is_throttled_across_usernames() {
    let fx = Fixture::new().await;
    let clock = FakeRelativeClock::default();
    let app = app(&fx, "user=100/min,ip=60/min:3", &clock);
    send(&app, login("mallory", "x", OFFICE))
        .await
        .assert(400, BAD_CREDENTIALS);
    assert_eq!(send(&app, login(DAVE, PASSWORD, OFFICE)).await.status, 200);
    send(&app, login("eve", "x", OFFICE))
        .await
        .assert(400, BAD_CREDENTIALS);
    assert_throttled(&send(&app, login(ALICE, PASSWORD, OFFICE)).await, 1);
    assert_eq!(
        send(&app, login(ALICE, PASSWORD, "198.51.100.1:1")).await.status,
        200
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(send(&app, login(ALICE, PASSWORD, OFFICE)).await.status, 200);
}

#[tokio::test]
async fn off_throttles_nothing() {
    let fx = Fixture::new().await;
    let clock = FakeRelativeClock::default();
    let app = app(&fx, "off", &clock);
    for _ in 0..30 {
        send(&app, login(ALICE, "wrong", OFFICE))
            .await
            .assert(400, BAD_CREDENTIALS);
    }
}

/// `X-Forwarded-For` names the client only when the peer is a trusted proxy; the
/// address it gives is the one throttled and reported in the login events.
#[tokio::test]
async fn the_client_address_comes_from_trusted_proxies_only() {
    let fx = Fixture::new().await;
    let clock = FakeRelativeClock::default();
    let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
    let config: ThrottleConfig = "ip=1/min".parse().unwrap();
    let app: Router = Routes::new(fx.auth.clone())
        .with_login_throttle(LoginThrottle::with_clock(config, clock))
        .with_client_ip(move |parts| proxies.client_ip(parts))
        .router();
    let forwarded = |client: &str, peer: &str| {
        let mut request = login(ALICE, "wrong", peer);
        request
            .headers_mut()
            .insert("x-forwarded-for", format!("{client}, 10.9.9.9").parse().unwrap());
        request
    };
    // Through the proxy: each client has its own budget.
    send(&app, forwarded("203.0.113.1", "10.0.0.1:1"))
        .await
        .assert(400, BAD_CREDENTIALS);
    send(&app, forwarded("203.0.113.2", "10.0.0.1:1"))
        .await
        .assert(400, BAD_CREDENTIALS);
    assert_throttled(&send(&app, forwarded("203.0.113.1", "10.0.0.2:1")).await, 60);
    // From elsewhere the header is ignored: the peer is the client.
    send(&app, forwarded("203.0.113.3", "192.0.2.7:1"))
        .await
        .assert(400, BAD_CREDENTIALS);
    assert_throttled(&send(&app, forwarded("203.0.113.4", "192.0.2.7:1")).await, 60);

    let failed = |ip: &str| AuthEvent::LoginFailed {
        username: Some(ALICE.to_owned()),
        ip: Some(ip.parse().unwrap()),
    };
    // A throttled login is an event too, from the client the throttle counted.
    let throttled = |ip: &str| AuthEvent::LoginThrottled {
        ip: Some(ip.parse().unwrap()),
    };
    assert_eq!(
        fx.take_events(),
        [
            failed("203.0.113.1"),
            failed("203.0.113.2"),
            throttled("203.0.113.1"),
            failed("192.0.2.7"),
            throttled("192.0.2.7"),
        ]
    );
}
