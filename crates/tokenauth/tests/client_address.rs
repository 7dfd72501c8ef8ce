//! The client address the layer records as each token's `last_ip`: from the peer the
//! server saw (axum's `ConnectInfo`, or a plain `SocketAddr` extension), or from the
//! app's own rule; never from forwarding headers.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use time::Duration;
use tokenauth::TokenAuthLayer;
use tokenauth::core::AuthEvent;

#[tokio::test]
async fn the_client_address_from_connect_info_is_recorded_and_new_ones_are_reported() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    let record = fx.record(&token).await;
    fx.take_events();

    send(
        &app,
        from_peer(get_token("/protected", &token), "203.0.113.7:51000"),
    )
    .await
    .assert_user(ALICE);
    assert_eq!(
        fx.take_events(),
        [AuthEvent::UsedFromNewIp {
            token_id: record.id.clone(),
            user_id: record.user_id.clone(),
            ip: "203.0.113.7".parse().unwrap(),
            previous: None,
        }]
    );
    // The same address again is not news; neither is a request without an address.
    fx.clock.advance(Duration::minutes(5));
    send(
        &app,
        from_peer(get_token("/protected", &token), "203.0.113.7:51001"),
    )
    .await
    .assert_user(ALICE);
    send(&app, get_token("/protected", &token))
        .await
        .assert_user(ALICE);
    assert_eq!(fx.take_events(), []);

    // Nothing is written until the flush.
    assert_eq!(fx.record(&token).await.last_ip, None);
    assert_eq!(fx.auth.flush_usage().await.unwrap(), 1);
    let stored = fx.record(&token).await;
    assert_eq!(stored.last_ip, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(stored.last_used, Some(START + Duration::minutes(5)));

    // An IPv4 client of a dual-stack listener is recorded as IPv4.
    send(
        &app,
        from_peer(get_token("/protected", &token), "[::ffff:198.51.100.2]:443"),
    )
    .await
    .assert_user(ALICE);
    assert_eq!(
        fx.take_events(),
        [AuthEvent::UsedFromNewIp {
            token_id: record.id.clone(),
            user_id: record.user_id.clone(),
            ip: "198.51.100.2".parse().unwrap(),
            previous: Some("203.0.113.7".parse().unwrap()),
        }]
    );
    fx.auth.flush_usage().await.unwrap();
    assert_eq!(
        fx.record(&token).await.last_ip,
        Some("198.51.100.2".parse().unwrap())
    );
}

#[tokio::test]
async fn forwarded_headers_are_not_trusted() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;
    fx.take_events();

    let mut request = from_peer(get_token("/protected", &token), "192.0.2.10:40000");
    for (name, value) in [
        ("x-forwarded-for", "198.51.100.99"),
        ("forwarded", "for=198.51.100.99"),
        ("x-real-ip", "198.51.100.99"),
    ] {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    send(&app, request).await.assert_user(ALICE);
    fx.auth.flush_usage().await.unwrap();
    assert_eq!(
        fx.record(&token).await.last_ip,
        Some("192.0.2.10".parse().unwrap())
    );

    // Without `ConnectInfo`, the headers still give no address.
    let other = fx.obtain(ALICE).await;
    let mut request = get_token("/protected", &other);
    request
        .headers_mut()
        .insert("x-forwarded-for", "198.51.100.99".parse().unwrap());
    send(&app, request).await.assert_user(ALICE);
    fx.auth.flush_usage().await.unwrap();
    assert_eq!(fx.record(&other).await.last_ip, None);
    assert!(
        !fx.take_events()
            .iter()
            .any(|e| matches!(e, AuthEvent::UsedFromNewIp { ip, .. } if ip.to_string() == "198.51.100.99")),
        "a forwarded address was believed"
    );
}

#[tokio::test]
async fn a_plain_socket_addr_extension_is_the_peer_too() {
    let fx = Fixture::new().await;
    let app = fx.app();
    let token = fx.obtain(ALICE).await;

    let mut request = get_token("/protected", &token);
    let peer: SocketAddr = "192.0.2.44:5000".parse().unwrap();
    request.extensions_mut().insert(peer);
    send(&app, request).await.assert_user(ALICE);
    fx.auth.flush_usage().await.unwrap();
    assert_eq!(
        fx.record(&token).await.last_ip,
        Some("192.0.2.44".parse().unwrap())
    );
}

#[tokio::test]
async fn with_client_ip_replaces_the_rule() {
    let fx = Fixture::new().await;
    let token = fx.obtain(ALICE).await;
    // A proxy of the app's own that writes the client address to `x-client-ip`.
    let app = axum::Router::new()
        .route("/protected", axum::routing::get(|| async { "ok" }))
        .layer(TokenAuthLayer::new(fx.auth.clone()).with_client_ip(|parts| {
            parts
                .headers
                .get("x-client-ip")?
                .to_str()
                .ok()?
                .parse::<IpAddr>()
                .ok()
        }));

    let mut request = from_peer(get_token("/protected", &token), "10.0.0.1:80");
    request
        .headers_mut()
        .insert("x-client-ip", "198.51.100.5".parse().unwrap());
    send(&app, request).await.assert(200, "ok");
    fx.auth.flush_usage().await.unwrap();
    assert_eq!(
        fx.record(&token).await.last_ip,
        Some("198.51.100.5".parse().unwrap())
    );
}
