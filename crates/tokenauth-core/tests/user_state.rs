//! The state of a token's user, against the rules of the original (`drf-wire.md`): the
//! token of an inactive or deleted user is refused, before its expiry is looked at.

mod common;

use tokenauth_core::{AuthError, TokenRequest, UserId};

use common::drf::{START, service, service_with_alice};
use common::{EXPIRED, INVALID_TOKEN, PASSWORD, USER_INACTIVE, assert_err, days};

#[tokio::test]
async fn inactive_user_is_refused_before_expiry() {
    let (auth, clock, alice) = service_with_alice().await;
    let issued = auth
        .obtain("alice", PASSWORD, TokenRequest::default())
        .await
        .unwrap();
    let secret = issued.token.expose_secret();

    assert!(auth.set_active("alice", false).await.unwrap().is_some());
    assert_err!(
        auth.authenticate(secret, None).await,
        AuthError::UserInactive,
        USER_INACTIVE
    );

    // Row 37: an expired token of a deactivated user is `User inactive or deleted`.
    clock.advance(days(31));
    assert_err!(
        auth.authenticate(secret, None).await,
        AuthError::UserInactive,
        USER_INACTIVE
    );

    // Reactivated: the same token is back, and expired.
    assert!(auth.set_active("alice", true).await.unwrap().is_some());
    assert_err!(auth.authenticate(secret, None).await, AuthError::Expired, EXPIRED);
    clock.set(START);
    assert_eq!(auth.authenticate(secret, None).await.unwrap().user.id, alice);

    // An unknown token is `Invalid token` even for an inactive user: it is checked first.
    assert!(auth.set_active("alice", false).await.unwrap().is_some());
    assert!(auth.revoke(&issued.info.id).await.unwrap());
    assert_err!(
        auth.authenticate(secret, None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );

    assert!(auth.set_active("nobody", false).await.unwrap().is_none());
}

#[tokio::test]
async fn a_token_of_a_deleted_user_is_refused() {
    let (auth, clock) = service();
    let issued = auth
        .issue(&UserId::new("42"), TokenRequest::default())
        .await
        .unwrap();
    assert_err!(
        auth.authenticate(issued.token.expose_secret(), None).await,
        AuthError::UserInactive,
        USER_INACTIVE
    );
    clock.advance(days(31));
    assert_err!(
        auth.authenticate(issued.token.expose_secret(), None).await,
        AuthError::UserInactive,
        USER_INACTIVE
    );
}
