//! Sliding expiry and last-used tracking: uses renew a token up to its lifespan, are
//! buffered in memory and flushed once per token with their address, and count while
//! the flush that writes them is in flight.

mod common;

use time::Duration;
use tokenauth_core::store::TokenStore;
use tokenauth_core::{Issued, ManualClock, MemoryUserDirectory, TokenAuth, TokenRequest};

use common::{
    CountingStore, IP1, IP2, MICRO, PASSWORD, START, add_user, ids_of, is_expired, issue, service, sliding,
    span, stored, works,
};

// --- Sliding expiry --------------------------------------------------------------------

#[tokio::test]
async fn a_token_in_use_lives_until_its_lifespan_and_no_longer() {
    let (auth, clock) = service();
    let auth = sliding(auth);
    assert_eq!(auth.policy().idle_timeout(), Some(Duration::hours(1)));
    let alice = add_user(&auth, "alice").await;
    let token = issue(&auth, &alice).await;
    assert_eq!(token.info.expires, START + Duration::hours(1));

    // Used every 50 minutes: each use pushes the idle expiry forward, up to the cap.
    for step in 1..=3 {
        clock.advance(Duration::minutes(50));
        let verified = auth
            .authenticate(token.token.expose_secret(), None)
            .await
            .unwrap();
        let now = START + Duration::minutes(50 * step);
        assert_eq!(verified.token.last_used, Some(now));
        assert_eq!(
            verified.token.expires,
            (now + Duration::hours(1)).min(START + Duration::hours(3))
        );
    }
    // 150 minutes in; the last use was 30 minutes ago. At exactly the lifespan it works.
    clock.set(START + Duration::hours(3));
    let verified = auth
        .authenticate(token.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(verified.token.expires, START + Duration::hours(3));
    // One microsecond later it is dead, though it was used a microsecond ago.
    clock.advance(MICRO);
    is_expired(&auth, &token).await;

    // All of this came from the in-memory buffer: nothing was written yet.
    assert_eq!(stored(&auth, &token.info.id).await.last_used, None);
    assert_eq!(auth.pending_usage(), 1);
}

#[tokio::test]
async fn an_idle_token_dies_after_the_idle_timeout() {
    let (auth, clock) = service();
    let auth = sliding(auth);
    let alice = add_user(&auth, "alice").await;
    let idle = issue(&auth, &alice).await;
    let used = issue(&auth, &alice).await;

    clock.advance(Duration::minutes(30));
    works(&auth, &used).await;

    // Unused for the idle timeout and a microsecond: dead, well within its lifespan.
    clock.set(START + Duration::hours(1) + MICRO);
    is_expired(&auth, &idle).await;
    works(&auth, &used).await;

    // A refused use is not a use: it renews nothing.
    assert_eq!(
        auth.info(&stored(&auth, &idle.info.id).await).expires,
        START + Duration::hours(1)
    );

    // Exactly the idle timeout after the last use: still alive (`now <= expiry`).
    let boundary = issue(&auth, &alice).await;
    clock.advance(Duration::hours(1));
    works(&auth, &boundary).await;
}

#[tokio::test]
async fn flushed_usage_is_seen_by_another_process() {
    let (auth, clock) = service();
    let auth = sliding(auth);
    let alice = add_user(&auth, "alice").await;
    let token = issue(&auth, &alice).await;

    // Another process: same store and users, its own (empty) usage buffer.
    let other = sliding(TokenAuth::new(auth.store().clone(), auth.users().clone()).with_clock(clock.clone()));

    clock.advance(Duration::minutes(50));
    works(&auth, &token).await;
    assert_eq!(auth.pending_usage(), 1);
    assert_eq!(stored(&auth, &token.info.id).await.last_used, None);

    // Past the idle timeout since issue, 10 minutes after the use.
    clock.set(START + Duration::hours(1) + MICRO);
    works(&auth, &token).await; // this process knows of the use
    is_expired(&other, &token).await; // that one does not, yet
    assert_eq!(other.pending_usage(), 0);

    assert_eq!(auth.flush_usage().await.unwrap(), 1);
    assert_eq!(auth.pending_usage(), 0);
    let record = stored(&auth, &token.info.id).await;
    assert_eq!(record.last_used, Some(START + Duration::hours(1) + MICRO));
    assert_eq!(record.last_ip, None);

    works(&other, &token).await;
    assert_eq!(
        other.info(&record).expires,
        START + Duration::hours(2) + MICRO,
        "the other process computes the expiry from the flushed last use"
    );
}

#[tokio::test]
async fn a_flush_writes_each_token_once_however_often_it_was_used() {
    let clock = ManualClock::new(START);
    let store = CountingStore::default();
    let auth = TokenAuth::new(store.clone(), MemoryUserDirectory::new()).with_clock(clock.clone());
    let alice = auth.users().add_user("alice", PASSWORD, true).await.unwrap();
    let a = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let b = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let unused = auth.issue(&alice, TokenRequest::default()).await.unwrap();

    for _ in 0..5 {
        clock.advance(Duration::seconds(1));
        auth.authenticate(a.token.expose_secret(), None).await.unwrap();
    }
    for _ in 0..3 {
        clock.advance(Duration::seconds(1));
        auth.authenticate(b.token.expose_secret(), None).await.unwrap();
    }
    assert_eq!(auth.pending_usage(), 2);
    assert!(store.usage_writes().is_empty(), "no write per request");

    assert_eq!(auth.flush_usage().await.unwrap(), 2);
    let mut written = store.usage_writes();
    written.sort();
    let mut expected = ids_of(&[&a, &b]);
    expected.sort();
    assert_eq!(written, expected);

    for (token, last_used) in [
        (&a, Some(START + Duration::seconds(5))),
        (&b, Some(START + Duration::seconds(8))),
        (&unused, None),
    ] {
        let record = store.inner().find_by_id(&token.info.id).await.unwrap().unwrap();
        assert_eq!(record.last_used, last_used);
    }

    // Nothing new: nothing written.
    assert_eq!(auth.flush_usage().await.unwrap(), 0);
    assert_eq!(store.usage_writes().len(), 2);
}

#[tokio::test]
async fn usage_of_a_token_revoked_before_the_flush_is_dropped() {
    let (auth, clock) = service();
    let alice = add_user(&auth, "alice").await;
    let token = issue(&auth, &alice).await;
    clock.advance(Duration::seconds(1));
    works(&auth, &token).await;
    assert!(auth.revoke(&token.info.id).await.unwrap());
    assert_eq!(auth.flush_usage().await.unwrap(), 1);
    assert_eq!(auth.pending_usage(), 0);
    assert!(auth.store().find_by_id(&token.info.id).await.unwrap().is_none());
}

// --- Last used and IP ------------------------------------------------------------------

#[tokio::test]
async fn last_used_time_and_ip_are_recorded_and_flushed() {
    let (auth, clock) = service();
    let alice = add_user(&auth, "alice").await;
    let token = issue(&auth, &alice).await;
    assert_eq!(token.info.last_used, None);
    assert_eq!(token.info.last_ip, None);

    clock.advance(Duration::minutes(5));
    let verified = auth
        .authenticate(token.token.expose_secret(), Some(IP1))
        .await
        .unwrap();
    assert_eq!(verified.token.last_used, Some(START + Duration::minutes(5)));

    // Before the flush, the listing already shows the buffered time; the store does not.
    let listed = auth.list(Some(&alice)).await.unwrap();
    assert_eq!(listed[0].last_used, Some(START + Duration::minutes(5)));
    let record = stored(&auth, &token.info.id).await;
    assert_eq!((record.last_used, record.last_ip), (None, None));

    auth.flush_usage().await.unwrap();
    let record = stored(&auth, &token.info.id).await;
    assert_eq!(record.last_used, Some(START + Duration::minutes(5)));
    assert_eq!(record.last_ip, Some(IP1));
    let info = auth.info(&record);
    assert_eq!(info.last_used, Some(START + Duration::minutes(5)));
    assert_eq!(info.last_ip, Some(IP1));

    // A later use without a known address keeps the last known one.
    clock.advance(Duration::minutes(5));
    works(&auth, &token).await;
    auth.flush_usage().await.unwrap();
    let record = stored(&auth, &token.info.id).await;
    assert_eq!(record.last_used, Some(START + Duration::minutes(10)));
    assert_eq!(record.last_ip, Some(IP1));

    // A use from a new address replaces it.
    clock.advance(Duration::minutes(5));
    auth.authenticate(token.token.expose_secret(), Some(IP2))
        .await
        .unwrap();
    auth.flush_usage().await.unwrap();
    let record = stored(&auth, &token.info.id).await;
    assert_eq!(record.last_used, Some(START + Duration::minutes(15)));
    assert_eq!(record.last_ip, Some(IP2));
}

/// The token info of a request shows this request's use: time and address.
#[tokio::test]
async fn the_verified_token_shows_this_requests_address() {
    let (auth, _clock) = service();
    let alice = add_user(&auth, "alice").await;
    let issued = issue(&auth, &alice).await;
    let verified = auth
        .authenticate(issued.token.expose_secret(), Some(IP1))
        .await
        .unwrap();
    assert_eq!(
        (verified.token.last_used, verified.token.last_ip),
        (Some(auth.now()), Some(IP1))
    );
    let listed = auth.list(Some(&alice)).await.unwrap();
    assert_eq!(
        (listed[0].last_used, listed[0].last_ip),
        (Some(auth.now()), Some(IP1))
    );
}

// --- Uses being written ----------------------------------------------------------------

/// A service over `store` with a 10-minute idle timeout, and a token idle by the stored
/// record but alive by a use still buffered: issued 11 minutes ago, used 2 minutes ago.
async fn kept_alive_by_a_buffered_use<S: TokenStore>(
    store: S,
) -> (TokenAuth<S, MemoryUserDirectory>, Issued) {
    let clock = ManualClock::new(START);
    let auth = TokenAuth::new(store, MemoryUserDirectory::new())
        .with_clock(clock.clone())
        .with_idle_timeout(Some(span("10m")));
    let alice = auth.users().add_user("alice", PASSWORD, true).await.unwrap();
    let issued = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    clock.advance(Duration::minutes(9));
    auth.authenticate(issued.token.expose_secret(), None)
        .await
        .unwrap(); // a use at 9 minutes, buffered
    clock.advance(Duration::minutes(2)); // idle by the stored record, alive by the use
    (auth, issued)
}

/// A use stays visible to authentication while the flush that writes it is in flight:
/// a token kept alive by it never reads as expired in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_being_written_still_counts_for_idle_expiry() {
    let store = CountingStore::default();
    let (auth, issued) = kept_alive_by_a_buffered_use(store.clone()).await;
    let token = issued.token.expose_secret();

    let hold = store.hold_usage_writes().await;
    let flushing = tokio::spawn({
        let auth = auth.clone();
        async move { auth.flush_usage().await }
    });
    // Wait until the flush has reached the store, where it is held.
    while store.usage_writes().is_empty() {
        tokio::task::yield_now().await;
    }
    assert!(!flushing.is_finished());
    auth.authenticate(token, None)
        .await
        .expect("the use being written still counts");
    drop(hold);
    assert_eq!(flushing.await.unwrap().unwrap(), 1);
    assert_eq!(
        auth.pending_usage(),
        1,
        "the use during the flush is the next one to write"
    );
    auth.authenticate(token, None).await.unwrap();
}

/// A flush that lands between authentication's store read (which saw the old last use)
/// and its look at the buffer (which the flush cleared) does not make a token kept
/// alive by that use look expired: the buffer is read first.
#[tokio::test]
async fn a_flush_landing_mid_authentication_does_not_expire_a_live_token() {
    let store = CountingStore::default();
    let (auth, issued) = kept_alive_by_a_buffered_use(store.clone()).await;
    let token = issued.token.expose_secret();

    let flusher = auth.clone();
    store.after_next_lookup(async move {
        assert_eq!(flusher.flush_usage().await.unwrap(), 1);
    });
    let verified = auth
        .authenticate(token, None)
        .await
        .expect("the use written mid-request still counts");
    assert_eq!(verified.token.id, issued.info.id);
}
