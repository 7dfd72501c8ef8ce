//! Asking about a token without using it (`inspect`, for RFC 7662 introspection), and
//! revoking a token by its value (`revoke_by_value`, for RFC 7009 revocation and an
//! operator holding a leaked token).

mod common;

use std::sync::{Arc, Mutex};

use time::Duration;
use tokenauth_core::store::UserAdmin;
use tokenauth_core::{AuthError, AuthEvent, Revocation, RevokeReason, TokenAuth, TokenFormat};

use common::{
    CountingStore, EXPIRED, INVALID_TOKEN, MICRO, START, USER_INACTIVE, add_user, assert_err, is_expired,
    is_invalid, issue, recording, service, sliding, stored, works,
};

#[tokio::test]
async fn inspecting_records_no_use_and_slides_nothing() {
    let (auth, clock) = service();
    let (auth, events) = recording(sliding(auth));
    let alice = add_user(&auth, "alice").await;
    let token = issue(&auth, &alice).await;
    events.lock().unwrap().clear();

    // Inspected every 50 minutes: the answer is the token's, and nothing moves.
    clock.advance(Duration::minutes(50));
    let seen = auth.inspect(token.token.expose_secret()).await.unwrap();
    assert_eq!(seen.user.username, "alice");
    assert_eq!(seen.token.id, token.info.id);
    assert_eq!(seen.token.created, START);
    assert_eq!(seen.token.last_used, None);
    assert_eq!(
        seen.token.expires,
        START + Duration::hours(1),
        "not pushed forward"
    );
    assert_eq!(auth.pending_usage(), 0, "no use buffered");
    assert_eq!(stored(&auth, &token.info.id).await.last_used, None);
    assert_eq!(*events.lock().unwrap(), [], "an inspection is no event");

    // An hour without a use: dead, however often it was inspected.
    clock.set(START + Duration::hours(1) + MICRO);
    assert_err!(
        auth.inspect(token.token.expose_secret()).await,
        AuthError::Expired,
        EXPIRED
    );
    is_expired(&auth, &token).await;
}

#[tokio::test]
async fn inspecting_counts_the_uses_not_yet_written() {
    let (auth, clock) = service();
    let auth = sliding(auth);
    let alice = add_user(&auth, "alice").await;
    let token = issue(&auth, &alice).await;

    clock.advance(Duration::minutes(30));
    works(&auth, &token).await;
    assert_eq!(auth.pending_usage(), 1);
    // 80 minutes in, 50 after the last use (buffered, not written): alive until 90.
    clock.advance(Duration::minutes(50));
    let seen = auth.inspect(token.token.expose_secret()).await.unwrap();
    assert_eq!(seen.token.last_used, Some(START + Duration::minutes(30)));
    assert_eq!(seen.token.expires, START + Duration::minutes(90));
    assert_eq!(auth.pending_usage(), 1, "still the one use");
}

#[tokio::test]
async fn inspecting_refuses_what_authentication_refuses() {
    let (auth, clock) = service();
    let alice = add_user(&auth, "alice").await;
    let bob = add_user(&auth, "bob").await;
    let carol = add_user(&auth, "carol").await;

    let unknown = TokenFormat::default().generate();
    assert_err!(
        auth.inspect(unknown.expose_secret()).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );
    assert_err!(
        auth.inspect("tka_garbage").await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );

    let revoked = issue(&auth, &alice).await;
    assert!(auth.revoke(&revoked.info.id).await.unwrap());
    assert_err!(
        auth.inspect(revoked.token.expose_secret()).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );

    let inactive = issue(&auth, &bob).await;
    auth.users().set_active(&bob, false).await.unwrap();
    assert_err!(
        auth.inspect(inactive.token.expose_secret()).await,
        AuthError::UserInactive,
        USER_INACTIVE
    );

    let everything = issue(&auth, &carol).await;
    auth.revoke_everything(&carol).await.unwrap();
    assert_err!(
        auth.inspect(everything.token.expose_secret()).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );

    let expired = issue(&auth, &alice).await;
    clock.advance(Duration::days(30) + MICRO);
    assert_err!(
        auth.inspect(expired.token.expose_secret()).await,
        AuthError::Expired,
        EXPIRED
    );
}

#[tokio::test]
async fn revoking_by_value_ends_the_token_as_logout_does() {
    let heard: Arc<Mutex<Vec<Revocation>>> = Arc::default();
    let sink = Arc::clone(&heard);
    let (auth, clock) = service();
    let (auth, events) =
        recording(auth.with_revocation_listener(move |r: &Revocation| sink.lock().unwrap().push(r.clone())));
    let alice = add_user(&auth, "alice").await;
    let leaked = issue(&auth, &alice).await;
    let other = issue(&auth, &alice).await;
    events.lock().unwrap().clear();

    let revoked = auth.revoke_by_value(leaked.token.expose_secret()).await.unwrap();
    assert_eq!(revoked.map(|info| info.id), Some(leaked.info.id.clone()));
    is_invalid(&auth, &leaked).await;
    works(&auth, &other).await;
    assert!(matches!(
        events.lock().unwrap().as_slice(),
        [AuthEvent::Revoked { token_id, reason: RevokeReason::ByValue, .. }, ..] if *token_id == leaked.info.id
    ));
    match heard.lock().unwrap().as_slice() {
        [Revocation::Tokens(ended)] => {
            assert_eq!(ended.len(), 1);
            assert_eq!(ended[0].digest, leaked.token.digest());
        }
        other => panic!("expected one Tokens revocation, got {other:?}"),
    }

    // Gone already, never issued: nothing to revoke, nothing announced.
    heard.lock().unwrap().clear();
    assert_eq!(
        auth.revoke_by_value(leaked.token.expose_secret()).await.unwrap(),
        None
    );
    let unknown = TokenFormat::default().generate();
    assert_eq!(auth.revoke_by_value(unknown.expose_secret()).await.unwrap(), None);
    assert_eq!(*heard.lock().unwrap(), []);

    // An expired token is still stored: it is deleted too.
    clock.advance(Duration::days(30) + MICRO);
    assert!(
        auth.revoke_by_value(other.token.expose_secret())
            .await
            .unwrap()
            .is_some()
    );
    is_invalid(&auth, &other).await;
}

#[tokio::test]
async fn revoking_garbage_by_value_never_reaches_the_store() {
    let store = CountingStore::default();
    let auth = TokenAuth::new(store.clone(), tokenauth_core::MemoryUserDirectory::new());
    for garbage in ["", "tka_", "not a token", "tka_garbage\u{0}", &"x".repeat(10_000)] {
        assert_eq!(auth.revoke_by_value(garbage).await.unwrap(), None, "{garbage:?}");
    }
    assert_eq!(store.lookups(), 0);
}
