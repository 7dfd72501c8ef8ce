//! Logout and sessions: logout ends the presented token, logout-all every token of the
//! user, a user revokes only their own tokens, and sessions list the live ones.

mod common;

use time::Duration;
use tokenauth_core::store::UserDirectory;
use tokenauth_core::{RevokeReason, TokenId, TokenInfo, TokenRequest, UserId};

use common::{
    MICRO, START, add_user, ids_of, is_expired, is_invalid, issue, lifespan_request, service, sliding,
    stored_ids, works,
};

#[tokio::test]
async fn logout_kills_only_the_presented_token() {
    let (auth, _clock) = service();
    let alice = add_user(&auth, "alice").await;
    let phone = issue(&auth, &alice).await;
    let laptop = issue(&auth, &alice).await;

    let verified = auth
        .authenticate(phone.token.expose_secret(), None)
        .await
        .unwrap();
    auth.logout(&verified.token).await.unwrap();
    is_invalid(&auth, &phone).await;
    works(&auth, &laptop).await;
    // Logging out twice is harmless.
    auth.logout(&verified.token).await.unwrap();
    assert_eq!(stored_ids(&auth, &alice).await, ids_of(&[&laptop]));
}

#[tokio::test]
async fn logout_all_kills_every_token_of_the_user_only() {
    let (auth, _clock) = service();
    let alice = add_user(&auth, "alice").await;
    let bob = UserId::from(99);
    let phone = issue(&auth, &alice).await;
    let laptop = issue(&auth, &alice).await;
    let bobs = issue(&auth, &bob).await;

    assert_eq!(
        auth.revoke_user_tokens(&alice, RevokeReason::LogoutAll)
            .await
            .unwrap(),
        2
    );
    is_invalid(&auth, &phone).await;
    is_invalid(&auth, &laptop).await;
    assert!(stored_ids(&auth, &alice).await.is_empty());
    assert_eq!(stored_ids(&auth, &bob).await, ids_of(&[&bobs]));
    assert_eq!(
        auth.revoke_user_tokens(&alice, RevokeReason::LogoutAll)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn revoke_own_refuses_another_users_token() {
    let (auth, _clock) = service();
    let alice = add_user(&auth, "alice").await;
    let bob = add_user(&auth, "bob").await;
    let bobs = issue(&auth, &bob).await;

    assert!(!auth.revoke_own(&alice, &bobs.info.id).await.unwrap());
    works(&auth, &bobs).await;
    assert!(!auth.revoke_own(&alice, &TokenId::generate()).await.unwrap());

    assert!(auth.revoke_own(&bob, &bobs.info.id).await.unwrap());
    is_invalid(&auth, &bobs).await;
    assert!(!auth.revoke_own(&bob, &bobs.info.id).await.unwrap());
}

#[tokio::test]
async fn sessions_list_only_live_tokens() {
    let (auth, clock) = service();
    let alice = add_user(&auth, "alice").await;
    let bob = UserId::from(99);

    let short = auth.issue(&alice, lifespan_request("1h")).await.unwrap();
    clock.advance(Duration::seconds(1));
    let revoked = issue(&auth, &alice).await;
    clock.advance(Duration::seconds(1));
    let named = TokenRequest {
        name: Some("laptop".to_owned()),
        ..TokenRequest::default()
    };
    let live = auth.issue(&alice, named).await.unwrap();
    issue(&auth, &bob).await;
    assert!(auth.revoke_own(&alice, &revoked.info.id).await.unwrap());

    let user = auth.users().find_user(&alice).await.unwrap().unwrap();
    let ids = |infos: Vec<TokenInfo>| infos.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(ids(auth.sessions(&user).await.unwrap()), ids_of(&[&short, &live]));

    clock.set(START + Duration::hours(1) + MICRO);
    let sessions = auth.sessions(&user).await.unwrap();
    assert_eq!(ids(sessions.clone()), ids_of(&[&live]));
    assert_eq!(sessions[0].name.as_deref(), Some("laptop"));
    assert_eq!(
        sessions[0].expires,
        START + Duration::seconds(2) + Duration::days(30)
    );
    // The expired one is still stored (and listed to administrators) until purged.
    assert_eq!(stored_ids(&auth, &alice).await, ids_of(&[&short, &live]));
}

#[tokio::test]
async fn sessions_follow_sliding_expiry_including_buffered_use() {
    let (auth, clock) = service();
    let auth = sliding(auth);
    let alice = add_user(&auth, "alice").await;
    let used = issue(&auth, &alice).await;
    let idle = issue(&auth, &alice).await;

    clock.advance(Duration::minutes(50));
    works(&auth, &used).await;
    clock.advance(Duration::minutes(20));

    let user = auth.users().find_user(&alice).await.unwrap().unwrap();
    let sessions = auth.sessions(&user).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, used.info.id);
    assert_eq!(sessions[0].expires, START + Duration::minutes(110));
    is_expired(&auth, &idle).await;
}
