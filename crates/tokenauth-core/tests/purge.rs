//! The purge: it deletes, in batches, tokens expired for longer than the grace period,
//! idle ones included, counting uses not yet written.

mod common;

use time::Duration;
use tokenauth_core::store::TokenStore;
use tokenauth_core::{DEFAULT_PURGE_GRACE, UserId};

use common::{
    MICRO, START, add_user, is_expired, is_invalid, issue, lifespan_request, service, sliding, span, works,
};

#[tokio::test]
async fn purge_deletes_only_tokens_expired_longer_than_the_grace_in_batches() {
    let (auth, clock) = service();
    let alice = add_user(&auth, "alice").await;
    let bob = UserId::from(99);

    let mut dead = Vec::new();
    for i in 0..7 {
        let user = if i % 2 == 0 { &alice } else { &bob };
        dead.push(auth.issue(user, lifespan_request("1d")).await.unwrap());
    }
    let recent = auth.issue(&alice, lifespan_request("5d")).await.unwrap();
    let live = issue(&auth, &alice).await;
    assert_eq!(DEFAULT_PURGE_GRACE, Duration::days(7));

    // Exactly the grace after expiry: nothing goes yet.
    clock.set(START + Duration::days(1) + DEFAULT_PURGE_GRACE);
    assert_eq!(auth.purge(DEFAULT_PURGE_GRACE, 3, |_| {}).await.unwrap(), 0);
    is_expired(&auth, &dead[0]).await;

    clock.advance(MICRO);
    let mut progress = Vec::new();
    let purged = auth
        .purge(DEFAULT_PURGE_GRACE, 3, |total| progress.push(total))
        .await
        .unwrap();
    assert_eq!(purged, 7);
    assert_eq!(progress, [3, 6, 7]);

    for token in &dead {
        is_invalid(&auth, token).await;
    }
    // Expired three days ago: kept, so its client hears why.
    is_expired(&auth, &recent).await;
    works(&auth, &live).await;
    assert_eq!(auth.list(None).await.unwrap().len(), 2);

    assert_eq!(auth.purge(DEFAULT_PURGE_GRACE, 3, |_| {}).await.unwrap(), 0);
    assert_eq!(auth.purge_step(Duration::days(1), 10).await.unwrap(), 1);
    is_invalid(&auth, &recent).await;
    works(&auth, &live).await;
}

#[tokio::test]
async fn purge_counts_idle_expiry() {
    let (auth, clock) = service();
    let auth = sliding(auth);
    let alice = add_user(&auth, "alice").await;
    let idle = issue(&auth, &alice).await;
    let other = issue(&auth, &alice).await;

    clock.advance(Duration::minutes(30));
    // Used and flushed: its idle period restarts.
    works(&auth, &other).await;
    auth.flush_usage().await.unwrap();

    clock.set(START + Duration::hours(1) + DEFAULT_PURGE_GRACE + MICRO);
    assert_eq!(auth.purge(DEFAULT_PURGE_GRACE, 10, |_| {}).await.unwrap(), 1);
    assert!(auth.store().find_by_id(&idle.info.id).await.unwrap().is_none());
    assert!(auth.store().find_by_id(&other.info.id).await.unwrap().is_some());
}

/// The purge writes pending uses first: however short the grace, a token kept alive by
/// a use not yet written is not purged as idle.
#[tokio::test]
async fn the_purge_counts_uses_not_yet_written() {
    let (auth, clock) = service();
    let auth = auth.with_idle_timeout(Some(span("10m")));
    let alice = add_user(&auth, "alice").await;
    let issued = issue(&auth, &alice).await;
    clock.advance(Duration::minutes(9));
    works(&auth, &issued).await; // buffered, not written
    clock.advance(Duration::minutes(9)); // idle by the stored record since minute 10
    assert_eq!(auth.pending_usage(), 1);
    assert_eq!(auth.purge(Duration::ZERO, 100, |_| {}).await.unwrap(), 0);
    works(&auth, &issued).await;
    assert_eq!(auth.pending_usage(), 1, "the use just made is pending again");
}
