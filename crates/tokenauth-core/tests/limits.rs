//! The per-user token limit: `reject` refuses, `evict_oldest` revokes the oldest, `None`
//! allows any number; only live tokens count, also under concurrent logins.

mod common;

use time::Duration;
use tokenauth_core::{
    DEFAULT_MAX_TOKENS_PER_USER, IssueError, ObtainError, OnLimit, TokenLimit, TokenRequest,
};

use common::{
    MICRO, NEW_PASSWORD, PASSWORD, add_user, assert_err, change_alices_password, ids_of, is_expired,
    is_invalid, issue, login, login_with, service, span, stored, stored_ids, works,
};

const LIMIT_2: &str = "Token limit reached: at most 2 active tokens per user. Log out on another device or revoke a token first.";

#[tokio::test]
async fn the_default_limit_is_documented() {
    let (auth, _clock) = service();
    assert_eq!(DEFAULT_MAX_TOKENS_PER_USER, 100);
    assert_eq!(
        auth.token_limit(),
        Some(TokenLimit::new(DEFAULT_MAX_TOKENS_PER_USER, OnLimit::EvictOldest))
    );
}

#[tokio::test]
async fn reject_refuses_the_third_login_and_expired_tokens_do_not_count() {
    let (auth, clock) = service();
    let auth = auth.with_token_limit(Some(TokenLimit::new(2, OnLimit::Reject)));
    let alice = add_user(&auth, "alice").await;

    let one = login(&auth, "alice").await;
    let two = login(&auth, "alice").await;
    assert_err!(
        auth.obtain("alice", PASSWORD, TokenRequest::default()).await,
        ObtainError::Issue(IssueError::LimitReached { max: 2 }),
        LIMIT_2,
    );
    assert_err!(
        auth.issue(&alice, TokenRequest::default()).await,
        IssueError::LimitReached { max: 2 },
        LIMIT_2,
    );
    // Nothing was stored or removed.
    works(&auth, &one).await;
    works(&auth, &two).await;
    assert_eq!(stored_ids(&auth, &alice).await.len(), 2);

    // Once both have expired they no longer count, though they are still stored.
    clock.advance(Duration::days(30) + MICRO);
    is_expired(&auth, &one).await;
    let three = login(&auth, "alice").await;
    let four = login(&auth, "alice").await;
    works(&auth, &three).await;
    works(&auth, &four).await;
    assert!(matches!(
        auth.obtain("alice", PASSWORD, TokenRequest::default()).await,
        Err(ObtainError::Issue(IssueError::LimitReached { max: 2 }))
    ));
    assert_eq!(stored_ids(&auth, &alice).await.len(), 4);
}

#[tokio::test]
async fn evict_oldest_revokes_the_oldest_and_keeps_the_rest() {
    let (auth, clock) = service();
    let auth = auth.with_token_limit(Some(TokenLimit::new(2, OnLimit::EvictOldest)));
    let alice = add_user(&auth, "alice").await;

    let oldest = login(&auth, "alice").await;
    clock.advance(Duration::seconds(1));
    let middle = login(&auth, "alice").await;
    clock.advance(Duration::seconds(1));
    let newest = login(&auth, "alice").await;

    is_invalid(&auth, &oldest).await;
    works(&auth, &middle).await;
    works(&auth, &newest).await;
    assert_eq!(stored_ids(&auth, &alice).await, ids_of(&[&middle, &newest]));
}

#[tokio::test]
async fn no_limit_allows_many_tokens() {
    let (auth, _clock) = service();
    let auth = auth.with_token_limit(None);
    assert_eq!(auth.token_limit(), None);
    let alice = add_user(&auth, "alice").await;

    let count = DEFAULT_MAX_TOKENS_PER_USER + 20;
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        tokens.push(issue(&auth, &alice).await);
    }
    for token in &tokens {
        works(&auth, token).await;
    }
    assert_eq!(stored_ids(&auth, &alice).await.len(), count);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_cannot_overshoot_a_reject_limit() {
    let (auth, _clock) = service();
    let auth = auth.with_token_limit(Some(TokenLimit::new(3, OnLimit::Reject)));
    let alice = add_user(&auth, "alice").await;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let auth = auth.clone();
        tasks.spawn(async move { auth.obtain("alice", PASSWORD, TokenRequest::default()).await });
    }
    let (mut issued, mut rejected) = (Vec::new(), 0);
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(token) => issued.push(token),
            Err(ObtainError::Issue(IssueError::LimitReached { max: 3 })) => rejected += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!((issued.len(), rejected), (3, 5));
    assert_eq!(stored_ids(&auth, &alice).await.len(), 3);
    for token in &issued {
        works(&auth, token).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_issues_under_evict_oldest_leave_exactly_the_limit() {
    let (auth, _clock) = service();
    let auth = auth.with_token_limit(Some(TokenLimit::new(3, OnLimit::EvictOldest)));
    let alice = add_user(&auth, "alice").await;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (auth, alice) = (auth.clone(), alice.clone());
        tasks.spawn(async move { auth.issue(&alice, TokenRequest::default()).await });
    }
    let mut issued = Vec::new();
    while let Some(result) = tasks.join_next().await {
        issued.push(result.unwrap().unwrap());
    }
    assert_eq!(issued.len(), 16);
    assert_eq!(stored_ids(&auth, &alice).await.len(), 3);
}

/// Under sliding expiry, a token kept alive by uses not yet written still counts
/// against the limit: issue counts the buffered uses without writing them (they wait
/// for the flush).
#[tokio::test]
async fn the_limit_counts_tokens_kept_alive_by_unwritten_uses() {
    let (auth, clock) = service();
    let auth = auth
        .with_idle_timeout(Some(span("1h")))
        .with_token_limit(Some(TokenLimit::new(1, OnLimit::Reject)));
    let alice = add_user(&auth, "alice").await;
    let first = issue(&auth, &alice).await;
    clock.advance(Duration::minutes(59));
    works(&auth, &first).await;
    clock.advance(Duration::minutes(2));
    // 61 minutes after issue, 2 after its last use: live, and at the limit.
    let second = auth.issue(&alice, TokenRequest::default()).await;
    assert!(
        matches!(second, Err(IssueError::LimitReached { max: 1 })),
        "{second:?}"
    );
    assert_eq!(
        auth.pending_usage(),
        1,
        "the login wrote nothing: renewals wait for the flush"
    );
    assert_eq!(stored(&auth, &first.info.id).await.last_used, None);
    works(&auth, &first).await;
}

/// Tokens killed by a password change do not count against a `reject` limit.
#[tokio::test]
async fn dead_tokens_from_before_a_password_change_do_not_block_logins() {
    let (auth, clock) = service();
    let auth = auth.with_token_limit(Some(TokenLimit::new(2, OnLimit::Reject)));
    let alice = add_user(&auth, "alice").await;
    let first = login(&auth, "alice").await;
    let second = login(&auth, "alice").await;
    clock.advance(Duration::seconds(1));
    change_alices_password(&auth).await;
    clock.advance(Duration::seconds(1));
    let fresh = login_with(&auth, "alice", NEW_PASSWORD).await;
    works(&auth, &fresh).await;
    is_invalid(&auth, &first).await;
    is_invalid(&auth, &second).await;
    assert_eq!(stored_ids(&auth, &alice).await, vec![fresh.info.id.clone()]);
}
