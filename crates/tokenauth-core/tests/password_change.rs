//! Password change: it deletes every token of an older credential version at once, and
//! a login racing it neither gets a token that outlives it nor deletes one issued after.

mod common;

use std::sync::{Arc, Mutex};

use time::Duration;
use tokenauth_core::store::UserDirectory;
use tokenauth_core::{AuthEvent, ObtainError, ObtainPolicy, RevokeReason, TokenRequest};

use common::{
    BAD_CREDENTIALS, NEW_PASSWORD, PASSWORD, add_user, assert_err, change_alices_password, ids_of,
    is_invalid, issue, login, login_with, racing_service, recording_with, service, stored_ids, works,
};

#[tokio::test]
async fn a_password_change_kills_every_older_token_at_once() {
    let (auth, clock) = service();
    let alice = add_user(&auth, "alice").await;
    let bob = add_user(&auth, "bob").await;
    let phone = login(&auth, "alice").await;
    let laptop = issue(&auth, &alice).await;
    let bobs = issue(&auth, &bob).await;

    clock.advance(Duration::minutes(1));
    works(&auth, &phone).await;
    assert_eq!(change_alices_password(&auth).await, 2);

    // The very next request is refused: no window, nothing to flush or wait for.
    is_invalid(&auth, &phone).await;
    is_invalid(&auth, &laptop).await;
    works(&auth, &bobs).await;
    let user = auth.users().find_user(&alice).await.unwrap().unwrap();
    assert_eq!(user.credential_version, 1);
    assert!(auth.sessions(&user).await.unwrap().is_empty());
    // Deleted by the change itself.
    assert!(stored_ids(&auth, &alice).await.is_empty());

    assert_err!(
        auth.obtain("alice", PASSWORD, TokenRequest::default()).await,
        ObtainError::InvalidCredentials,
        BAD_CREDENTIALS,
    );
    // A token issued at the instant of the change, or after, works.
    let same_instant = issue(&auth, &alice).await;
    works(&auth, &same_instant).await;
    clock.advance(Duration::seconds(1));
    let fresh = login_with(&auth, "alice", NEW_PASSWORD).await;
    works(&auth, &fresh).await;
    assert_eq!(
        auth.sessions(&user)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        ids_of(&[&same_instant, &fresh])
    );
}

/// A password change deletes the tokens of the old credential version and keeps those
/// of the new one, whatever the clock says about their creation times.
#[tokio::test]
async fn a_password_change_deletes_only_tokens_of_older_versions() {
    let (auth, clock) = service();
    let auth = auth.with_token_limit(None);
    let alice = add_user(&auth, "alice").await;
    let old = login(&auth, "alice").await;
    assert_eq!(change_alices_password(&auth).await, 1);
    // The clock runs backwards: creation times would say the new token is older.
    clock.advance(-Duration::hours(1));
    let new = login_with(&auth, "alice", NEW_PASSWORD).await;
    assert_eq!(
        auth.revoke_everything(&alice).await.unwrap().map(|(_, n)| n),
        Some(1)
    );
    is_invalid(&auth, &old).await;
    is_invalid(&auth, &new).await;
    let newest = login_with(&auth, "alice", NEW_PASSWORD).await;
    works(&auth, &newest).await;
    assert_eq!(stored_ids(&auth, &alice).await, vec![newest.info.id.clone()]);
}

/// A login whose password check passed just before a password change gets no token:
/// its token would otherwise outlive the change.
#[tokio::test]
async fn a_login_racing_a_password_change_is_refused() {
    let (auth, other) = racing_service();
    let alice = other.users().add_user("alice", PASSWORD, true).await.unwrap();
    let racer = other.clone();
    *auth.users().race.lock().unwrap() = Some(Box::pin(async move {
        change_alices_password(&racer).await;
    }));
    let result = auth.obtain("alice", PASSWORD, TokenRequest::default()).await;
    assert!(
        matches!(result, Err(ObtainError::InvalidCredentials)),
        "{result:?}"
    );
    assert_eq!(
        auth.list(Some(&alice)).await.unwrap(),
        vec![],
        "no token was issued"
    );
}

/// Under `replace`, a login that verified the old password cannot delete a token
/// issued under the new one by a login that finished first.
#[tokio::test]
async fn a_stale_login_under_replace_keeps_newer_tokens() {
    let (auth, other) = racing_service();
    let auth = auth.with_obtain_policy(ObtainPolicy::Replace);
    let other = other.with_obtain_policy(ObtainPolicy::Replace);
    let alice = other.users().add_user("alice", PASSWORD, true).await.unwrap();
    let racer = other.clone();
    let newer = Arc::new(Mutex::new(None));
    let newer_slot = Arc::clone(&newer);
    *auth.users().race.lock().unwrap() = Some(Box::pin(async move {
        change_alices_password(&racer).await;
        let issued = login_with(&racer, "alice", NEW_PASSWORD).await;
        *newer_slot.lock().unwrap() = Some(issued);
    }));
    let result = auth.obtain("alice", PASSWORD, TokenRequest::default()).await;
    assert!(
        matches!(result, Err(ObtainError::InvalidCredentials)),
        "{result:?}"
    );
    let newer = newer.lock().unwrap().take().expect("the racing login ran");
    works(&other, &newer).await;
    assert_eq!(stored_ids(&other, &alice).await, vec![newer.info.id.clone()]);
}

/// A token committed just after a password change it raced is withdrawn, with an
/// event, and the login refused.
#[tokio::test]
async fn a_token_issued_just_after_a_racing_password_change_is_withdrawn() {
    let (auth, other) = racing_service();
    let alice = other.users().add_user("alice", PASSWORD, true).await.unwrap();
    let racer = other.clone();
    *auth.users().late_race.lock().unwrap() = Some(Box::pin(async move {
        change_alices_password(&racer).await;
    }));
    let (auth, events) = recording_with(auth);
    let result = auth.obtain("alice", PASSWORD, TokenRequest::default()).await;
    assert!(
        matches!(result, Err(ObtainError::InvalidCredentials)),
        "{result:?}"
    );
    assert_eq!(auth.list(Some(&alice)).await.unwrap(), vec![]);
    let events = events.lock().unwrap().clone();
    assert!(
        matches!(
            events.as_slice(),
            [
                AuthEvent::Revoked {
                    reason: RevokeReason::PasswordChanged,
                    ..
                },
                AuthEvent::LoginFailed {
                    username: Some(username),
                    ip: None,
                },
            ] if username == "alice"
        ),
        "{events:?}"
    );
}
