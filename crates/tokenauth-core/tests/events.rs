//! The audit events: issue, use from a new address, renewal, rejected expiry, limits
//! and every kind of revocation.

mod common;

use time::{Duration, OffsetDateTime};
use tokenauth_core::{
    AuthEvent, Issued, ObtainPolicy, OnLimit, RevokeReason, TokenLimit, TokenRequest, UserId,
};

use common::{
    Events, IP1, IP2, MICRO, PASSWORD, START, add_user, is_expired, is_invalid, issue, login, recording,
    service, span, works,
};

/// The events recorded since the last call.
fn drain(events: &Events) -> Vec<AuthEvent> {
    std::mem::take(&mut *events.lock().unwrap())
}

#[tokio::test]
async fn events_for_issue_new_ips_and_logout() {
    let (auth, _clock) = service();
    let (auth, events) = recording(auth);
    let alice = add_user(&auth, "alice").await;

    let request = TokenRequest {
        name: Some("phone".to_owned()),
        ..TokenRequest::default()
    };
    let token = auth.obtain("alice", PASSWORD, request).await.unwrap();
    let id = token.info.id.clone();
    assert_eq!(
        drain(&events),
        [
            AuthEvent::Issued {
                token_id: id.clone(),
                user_id: alice.clone(),
                name: Some("phone".to_owned()),
            },
            AuthEvent::LoginSucceeded {
                user_id: alice.clone(),
                ip: None,
            },
        ]
    );

    let secret = token.token.expose_secret();
    auth.authenticate(secret, Some(IP1)).await.unwrap();
    auth.authenticate(secret, Some(IP1)).await.unwrap();
    auth.authenticate(secret, None).await.unwrap();
    auth.authenticate(secret, Some(IP2)).await.unwrap();
    assert_eq!(
        drain(&events),
        [
            AuthEvent::UsedFromNewIp {
                token_id: id.clone(),
                user_id: alice.clone(),
                ip: IP1,
                previous: None,
            },
            AuthEvent::UsedFromNewIp {
                token_id: id.clone(),
                user_id: alice.clone(),
                ip: IP2,
                previous: Some(IP1),
            },
        ]
    );

    // After a flush the stored address is the reference: the same address is not new.
    auth.flush_usage().await.unwrap();
    auth.authenticate(secret, Some(IP2)).await.unwrap();
    assert_eq!(drain(&events), []);
    auth.flush_usage().await.unwrap();
    auth.authenticate(secret, Some(IP1)).await.unwrap();
    assert_eq!(
        drain(&events),
        [AuthEvent::UsedFromNewIp {
            token_id: id.clone(),
            user_id: alice.clone(),
            ip: IP1,
            previous: Some(IP2),
        }]
    );

    let verified = auth.authenticate(secret, None).await.unwrap();
    auth.logout(&verified.token).await.unwrap();
    auth.logout(&verified.token).await.unwrap();
    is_invalid(&auth, &token).await;
    assert_eq!(
        drain(&events),
        [AuthEvent::Revoked {
            token_id: id,
            user_id: alice,
            reason: RevokeReason::Logout,
        }]
    );
}

#[tokio::test]
async fn events_for_renewal_and_expiry() {
    let (auth, clock) = service();
    let (auth, events) = recording(auth.with_idle_timeout(Some(span("1h"))));
    let alice = add_user(&auth, "alice").await;
    let token = issue(&auth, &alice).await;
    let id = token.info.id.clone();
    drain(&events);

    // One renewal per flush window, not per request.
    for _ in 0..3 {
        clock.advance(Duration::minutes(1));
        works(&auth, &token).await;
    }
    let renewed = |at: OffsetDateTime| AuthEvent::Renewed {
        token_id: id.clone(),
        user_id: alice.clone(),
        until: at + Duration::hours(1),
    };
    assert_eq!(drain(&events), [renewed(START + Duration::minutes(1))]);

    auth.flush_usage().await.unwrap();
    for _ in 0..3 {
        clock.advance(Duration::minutes(1));
        works(&auth, &token).await;
    }
    assert_eq!(drain(&events), [renewed(START + Duration::minutes(4))]);

    clock.advance(Duration::hours(1) + MICRO);
    is_expired(&auth, &token).await;
    is_expired(&auth, &token).await;
    let expired = AuthEvent::ExpiredRejected {
        token_id: id,
        user_id: alice,
    };
    assert_eq!(drain(&events), [expired.clone(), expired]);
}

#[tokio::test]
async fn no_renewal_events_without_sliding_expiry() {
    let (auth, clock) = service();
    let (auth, events) = recording(auth);
    let alice = add_user(&auth, "alice").await;
    let token = issue(&auth, &alice).await;
    drain(&events);
    clock.advance(Duration::minutes(1));
    works(&auth, &token).await;
    assert_eq!(drain(&events), []);
}

#[tokio::test]
async fn events_for_limits_and_revocations() {
    let (auth, clock) = service();
    let (auth, events) = recording(auth.with_token_limit(Some(TokenLimit::new(2, OnLimit::Reject))));
    let alice = UserId::from(1);

    let first = issue(&auth, &alice).await;
    clock.advance(Duration::seconds(1));
    let second = issue(&auth, &alice).await;
    drain(&events);

    assert!(auth.issue(&alice, TokenRequest::default()).await.is_err());
    assert_eq!(
        drain(&events),
        [AuthEvent::LimitReached {
            user_id: alice.clone(),
            max: 2,
            rejected: true,
        }]
    );

    // The same service (and hook) evicting instead.
    let evicting = auth
        .clone()
        .with_token_limit(Some(TokenLimit::new(2, OnLimit::EvictOldest)));
    clock.advance(Duration::seconds(1));
    let third = issue(&evicting, &alice).await;
    assert_eq!(
        drain(&events),
        [
            AuthEvent::LimitReached {
                user_id: alice.clone(),
                max: 2,
                rejected: false,
            },
            AuthEvent::Revoked {
                token_id: first.info.id.clone(),
                user_id: alice.clone(),
                reason: RevokeReason::Evicted,
            },
            AuthEvent::Issued {
                token_id: third.info.id.clone(),
                user_id: alice.clone(),
                name: None,
            },
        ]
    );

    // Revocations by id and by logout-all name their reason.
    assert!(auth.revoke_own(&alice, &second.info.id).await.unwrap());
    assert!(auth.revoke(&third.info.id).await.unwrap());
    assert!(!auth.revoke(&third.info.id).await.unwrap());
    let a = issue(&auth, &alice).await;
    clock.advance(Duration::seconds(1));
    let b = issue(&auth, &alice).await;
    drain(&events);
    assert_eq!(
        auth.revoke_user_tokens(&alice, RevokeReason::LogoutAll)
            .await
            .unwrap(),
        2
    );
    let revoked = |token: &Issued| AuthEvent::Revoked {
        token_id: token.info.id.clone(),
        user_id: alice.clone(),
        reason: RevokeReason::LogoutAll,
    };
    assert_eq!(drain(&events), [revoked(&a), revoked(&b)], "oldest first");
}

#[tokio::test]
async fn events_for_revocations_by_id() {
    let (auth, _clock) = service();
    let (auth, events) = recording(auth);
    let alice = UserId::from(1);
    let own = issue(&auth, &alice).await;
    let admin = issue(&auth, &alice).await;
    drain(&events);

    assert!(auth.revoke_own(&alice, &own.info.id).await.unwrap());
    assert!(auth.revoke(&admin.info.id).await.unwrap());
    assert!(!auth.revoke(&admin.info.id).await.unwrap());
    assert!(!auth.revoke_own(&alice, &own.info.id).await.unwrap());
    let by_id = |token: &Issued| AuthEvent::Revoked {
        token_id: token.info.id.clone(),
        user_id: alice.clone(),
        reason: RevokeReason::ById,
    };
    assert_eq!(drain(&events), [by_id(&own), by_id(&admin)]);
}

#[tokio::test]
async fn events_for_replace() {
    let (auth, clock) = service();
    let (auth, events) = recording(auth.with_obtain_policy(ObtainPolicy::Replace));
    let alice = add_user(&auth, "alice").await;
    let first = login(&auth, "alice").await;
    drain(&events);

    clock.advance(Duration::seconds(1));
    let second = login(&auth, "alice").await;
    assert_eq!(
        drain(&events),
        [
            AuthEvent::Revoked {
                token_id: first.info.id.clone(),
                user_id: alice.clone(),
                reason: RevokeReason::Replaced,
            },
            AuthEvent::Issued {
                token_id: second.info.id.clone(),
                user_id: alice.clone(),
                name: None,
            },
            AuthEvent::LoginSucceeded {
                user_id: alice,
                ip: None,
            },
        ]
    );
}
