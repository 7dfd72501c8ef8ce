//! Secrets stay out of `Debug` output: no token, token body or digest in any value a
//! caller can print.

mod common;

use std::fmt::Debug;

use tokenauth_core::store::TokenStore;

use common::PASSWORD;
use common::drf::service_with_alice;
use common::named;

fn assert_no_secret(value: &impl Debug, secret: &str, digest: &tokenauth_core::store::TokenDigest) {
    let text = format!("{value:?}");
    let alternate = format!("{value:#?}");
    let body = &secret[4..];
    let hex: String = digest.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    for text in [&text, &alternate] {
        assert!(!text.contains(secret), "secret in {text}");
        assert!(!text.contains(body), "secret body in {text}");
        assert!(!text.to_lowercase().contains(&hex), "digest in {text}");
    }
}

#[tokio::test]
async fn debug_output_never_contains_the_token() {
    let (auth, _, alice) = service_with_alice().await;
    let issued = auth.obtain("alice", PASSWORD, named("phone")).await.unwrap();
    let secret = issued.token.expose_secret();
    let digest = issued.token.digest();

    let record = auth.store().find_by_id(&issued.info.id).await.unwrap().unwrap();
    let verified = auth.authenticate(secret, None).await.unwrap();
    assert_no_secret(&issued, secret, &digest);
    assert_no_secret(&issued.token, secret, &digest);
    assert_no_secret(&record, secret, &digest);
    assert_no_secret(&digest, secret, &digest);
    assert_no_secret(&auth, secret, &digest);
    // The in-memory store's `Debug` shows its digest index (raw digest bytes), but
    // never a token.
    let store = format!("{:?}", auth.store());
    assert!(
        !store.contains(secret) && !store.contains(&secret[4..]),
        "{store}"
    );
    assert_no_secret(&verified, secret, &digest);
    assert_no_secret(&auth.list(Some(&alice)).await.unwrap(), secret, &digest);
    assert_eq!(format!("{:?}", issued.token), "PlainToken(..)");

    // The parts that are not secret are shown.
    let shown = format!("{issued:?}");
    assert!(shown.contains(issued.info.id.as_str()), "{shown}");
    assert!(shown.contains("phone"), "{shown}");
}
