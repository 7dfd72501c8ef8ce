//! A cache following a revocation bus: what another process ends reaches it, and a
//! bus that cannot vouch for delivery pauses it.

use super::*;

/// Two services on one store stand for two processes: what one ends reaches the
/// other's cache through the bus.
#[tokio::test]
async fn revocations_published_by_another_process_reach_a_following_cache() {
    let (here, _clock, alice) = cached(AuthCache::default()).await;
    let bus = LocalBus::default();
    let _following = here.store().cache().follow(&bus);
    let publisher = Publisher::start(bus.clone());
    let there = TokenAuth::new(here.store().inner().clone(), here.users().inner().clone())
        .with_clock(START)
        .with_revocation_listener(publisher.clone());
    let token = issue(&here, &alice).await;
    cache_it(&here, &token).await;
    there.logout(&token.info).await.unwrap();
    publisher.flush().await;
    settle(&here).await;
    invalid(&here, &token).await;

    let token = issue(&here, &alice).await;
    cache_it(&here, &token).await;
    there
        .change_password("alice", NEW_PASSWORD)
        .await
        .unwrap()
        .unwrap();
    publisher.flush().await;
    settle(&here).await;
    invalid(&here, &token).await;
}

/// Lets the following task apply what it received.
async fn settle(auth: &Auth) {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let _ = auth;
}

/// A bus whose connection a test turns off and on.
#[derive(Clone)]
struct TestBus {
    sender: broadcast::Sender<Revocation>,
    connected: Arc<watch::Sender<bool>>,
}

impl RevocationBus for TestBus {
    type Error = std::convert::Infallible;

    async fn publish(&self, revocation: &Revocation) -> Result<(), Self::Error> {
        let _ = self.sender.send(revocation.clone());
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.sender.subscribe()
    }

    fn connected(&self) -> watch::Receiver<bool> {
        self.connected.subscribe()
    }
}

/// While the bus is disconnected, nothing is served from (or kept in) the cache; when
/// it reconnects, the cache starts empty.
#[tokio::test]
async fn a_disconnected_bus_pauses_the_cache_and_a_reconnection_flushes_it() {
    let (auth, _clock, alice) = cached(AuthCache::default()).await;
    let bus = TestBus {
        sender: broadcast::channel(16).0,
        connected: Arc::new(watch::channel(true).0),
    };
    let cache = auth.store().cache().clone();
    let _following = cache.follow(&bus);
    let token = issue(&auth, &alice).await;
    cache_it(&auth, &token).await;

    bus.connected.send_replace(false);
    settle(&auth).await;
    assert!(cache.is_paused());
    let before = auth.store().inner().lookups();
    works(&auth, &token).await;
    works(&auth, &token).await;
    assert_eq!(
        auth.store().inner().lookups(),
        before + 2,
        "every request goes to the store"
    );

    bus.connected.send_replace(true);
    settle(&auth).await;
    assert!(!cache.is_paused());
    cache_it(&auth, &token).await;
    bus.publish(&Revocation::Everything).await.unwrap();
    settle(&auth).await;
    assert!(cache.is_empty(), "everything flushed");
}

/// A bus whose listening task died (its `connected` sender dropped, revocations still
/// open) vouches for nothing any more: the cache pauses instead of serving on.
#[tokio::test]
async fn a_bus_whose_listener_died_pauses_the_cache() {
    let (auth, _clock, _alice) = cached(AuthCache::default()).await;
    let (connected, _) = watch::channel(true);
    let bus = TestBus {
        sender: broadcast::channel(16).0,
        connected: Arc::new(connected),
    };
    let cache = auth.store().cache().clone();
    let _following = cache.follow(&bus);
    settle(&auth).await;
    assert!(!cache.is_paused());
    let TestBus { sender, connected } = bus;
    drop(connected);
    settle(&auth).await;
    assert!(
        cache.is_paused(),
        "the last word of a dead listener does not stand"
    );
    drop(sender);
}

/// A receiver that fell behind may have missed revocations: it flushes, and counts
/// what it missed (the server's `tokenauth_revocation_bus_missed_total`).
#[tokio::test]
async fn a_lagging_follower_flushes() {
    let (auth, _clock, alice) = cached(AuthCache::default()).await;
    let bus = LocalBus::new(1);
    let cache = auth.store().cache().clone();
    let _following = cache.follow(&bus);
    let token = issue(&auth, &alice).await;
    cache_it(&auth, &token).await;
    assert_eq!((cache.len(), cache.stats().lagged), (1, 0));
    // Sent before the follower runs (this test's runtime has one thread): the bus keeps
    // the last one.
    let nobody = UserId::new("nobody");
    for _ in 0..3 {
        bus.publish(&Revocation::User(nobody.clone())).await.unwrap();
    }
    settle(&auth).await;
    assert_eq!((cache.len(), cache.stats().lagged), (0, 2));
}

/// Dropping the follower leaves nothing served from a cache nobody keeps coherent.
#[tokio::test]
async fn a_cache_no_longer_following_its_bus_is_paused() {
    let (auth, _clock, _alice) = cached(AuthCache::default()).await;
    let bus = LocalBus::default();
    let following = auth.store().cache().follow(&bus);
    assert!(!auth.store().cache().is_paused());
    drop(following);
    assert!(auth.store().cache().is_paused());
}
