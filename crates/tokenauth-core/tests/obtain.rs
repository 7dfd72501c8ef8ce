//! Obtaining a token with a password, against the rules of the original
//! (`drf-wire.md`): each login gets a new token, and every bad credential is refused
//! alike.

mod common;

use time::Duration;
use tokenauth_core::{ObtainError, TokenRequest};

use common::drf::service_with_alice;
use common::{BAD_CREDENTIALS, PASSWORD, named, used_now};

#[tokio::test]
async fn each_obtain_gives_a_new_token_and_all_stay_valid() {
    let (auth, clock, alice) = service_with_alice().await;
    let laptop = auth.obtain("alice", PASSWORD, named("laptop")).await.unwrap();
    clock.advance(Duration::minutes(1));
    let phone = auth.obtain("alice", PASSWORD, named("phone")).await.unwrap();

    assert_ne!(laptop.token.expose_secret(), phone.token.expose_secret());
    assert_ne!(laptop.info.id, phone.info.id);
    for issued in [&laptop, &phone] {
        let verified = auth
            .authenticate(issued.token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(verified.user.id, alice);
        assert_eq!(verified.token, used_now(&auth, &issued.info));
    }
    assert_eq!(
        auth.list(Some(&alice)).await.unwrap(),
        vec![used_now(&auth, &laptop.info), used_now(&auth, &phone.info)]
    );
}

#[tokio::test]
async fn obtain_refuses_bad_credentials_alike() {
    let (auth, _, _) = service_with_alice().await;
    auth.users().add_user("bob", PASSWORD, false).await.unwrap();

    for (username, password) in [
        ("alice", "wrong"),
        ("alice", ""),
        // Row 14: the password is not trimmed.
        ("alice", &format!("{PASSWORD} ")[..]),
        ("mallory", PASSWORD),
        ("", PASSWORD),
        // Inactive, with the right password.
        ("bob", PASSWORD),
        // Usernames are case-sensitive, and matched exactly (the HTTP layer trims).
        ("Alice", PASSWORD),
        ("ALICE", PASSWORD),
        (" alice", PASSWORD),
    ] {
        match auth.obtain(username, password, TokenRequest::default()).await {
            Err(err @ ObtainError::InvalidCredentials) => assert_eq!(err.to_string(), BAD_CREDENTIALS),
            other => panic!("{username:?}/{password:?}: expected InvalidCredentials, got {other:?}"),
        }
    }
    assert_eq!(auth.list(None).await.unwrap(), vec![]);

    // The right credentials still work afterwards.
    auth.obtain("alice", PASSWORD, TokenRequest::default())
        .await
        .unwrap();
}
