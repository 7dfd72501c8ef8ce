//! The cache in front of the store and the directory: what it saves, and that every
//! operation that ends a token or changes a user is seen by the very next request,
//! although the token was cached.

#[path = "../common/mod.rs"]
mod common;
// Following a revocation bus: what other processes end, and when the bus is silent.
mod follow;
// What is kept when more tokens are used than the cache holds.
mod eviction;

use std::sync::Arc;

use common::{
    CountingStore, EXPIRED, INVALID_TOKEN, MICRO, NEW_PASSWORD, PASSWORD, START, USER_INACTIVE, assert_err,
};
use time::Duration;
use tokenauth_core::store::{RevocationBus, UserAdmin};
use tokenauth_core::{
    AuthCache, AuthError, Cached, Issued, Lifespan, LocalBus, ManualClock, MemoryStore, MemoryUserDirectory,
    ObtainPolicy, OnLimit, Publisher, Revocation, RevokeReason, TokenAuth, TokenFormat, TokenLimit,
    TokenRequest, UserId,
};
use tokio::sync::{broadcast, watch};

type Auth = TokenAuth<Cached<CountingStore>, Cached<MemoryUserDirectory>>;

/// A cached service over a counting memory store, with alice, and a stopped clock.
async fn cached(cache: AuthCache) -> (Auth, ManualClock, UserId) {
    let clock = ManualClock::new(START);
    let users = MemoryUserDirectory::new();
    let alice = users.add_user("alice", PASSWORD, true).await.unwrap();
    let auth = TokenAuth::new(CountingStore::default(), users)
        .with_clock(clock.clone())
        .with_cache(cache);
    (auth, clock, alice)
}

async fn issue(auth: &Auth, user: &UserId) -> Issued {
    auth.issue(user, TokenRequest::default()).await.unwrap()
}

async fn works(auth: &Auth, token: &Issued) {
    let verified = auth
        .authenticate(token.token.expose_secret(), None)
        .await
        .unwrap_or_else(|e| panic!("the token should work: {e}"));
    assert_eq!(verified.token.id, token.info.id);
}

/// Authenticates `token` twice, so that it is certainly cached; then it must work
/// without another store lookup.
async fn cache_it(auth: &Auth, token: &Issued) {
    works(auth, token).await;
    let before = auth.store().inner().lookups();
    works(auth, token).await;
    assert_eq!(auth.store().inner().lookups(), before, "served from the cache");
}

/// `count` tokens of `user`, each certainly cached.
async fn cached_tokens(auth: &Auth, user: &UserId, count: usize) -> Vec<Issued> {
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let token = issue(auth, user).await;
        cache_it(auth, &token).await;
        tokens.push(token);
    }
    tokens
}

async fn invalid(auth: &Auth, token: &Issued) {
    assert_err!(
        auth.authenticate(token.token.expose_secret(), None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );
}

async fn inactive(auth: &Auth, token: &Issued) {
    assert_err!(
        auth.authenticate(token.token.expose_secret(), None).await,
        AuthError::UserInactive,
        USER_INACTIVE
    );
}

#[tokio::test]
async fn a_cached_token_costs_no_lookup_until_its_ttl() {
    let (auth, clock, alice) = cached(AuthCache::new(100).with_ttl(Duration::seconds(10))).await;
    let token = issue(&auth, &alice).await;
    works(&auth, &token).await;
    assert_eq!(auth.store().inner().lookups(), 1);
    for _ in 0..5 {
        works(&auth, &token).await;
    }
    assert_eq!(auth.store().inner().lookups(), 1, "every later request is a hit");
    clock.advance(Duration::seconds(10));
    works(&auth, &token).await;
    assert_eq!(
        auth.store().inner().lookups(),
        2,
        "past its TTL the entry is read again"
    );
}

/// Entries are timed by the service's clock, whichever of the clock and the cache was
/// set first.
#[tokio::test]
async fn entries_are_timed_by_the_service_clock_set_after_the_cache() {
    let clock = ManualClock::new(START);
    let users = MemoryUserDirectory::new();
    let alice = users.add_user("alice", PASSWORD, true).await.unwrap();
    let auth = TokenAuth::new(CountingStore::default(), users)
        .with_cache(AuthCache::new(100).with_ttl(Duration::seconds(10)))
        .with_clock(clock.clone());
    let token = issue(&auth, &alice).await;
    cache_it(&auth, &token).await;
    let lookups = auth.store().inner().lookups();
    clock.advance(Duration::seconds(9));
    works(&auth, &token).await;
    assert_eq!(
        auth.store().inner().lookups(),
        lookups,
        "fresh by the service's clock"
    );
    clock.advance(Duration::seconds(1));
    works(&auth, &token).await;
    assert_eq!(
        auth.store().inner().lookups(),
        lookups + 1,
        "past its TTL by the service's clock"
    );
}

/// The cache keeps lookups, not verdicts: expiry is decided with the clock on every
/// request.
#[tokio::test]
async fn expiry_is_decided_on_every_request_from_a_cached_record() {
    let (auth, clock, alice) = cached(AuthCache::new(100).with_ttl(Duration::days(365))).await;
    let token = issue(&auth, &alice).await;
    cache_it(&auth, &token).await;
    clock.advance(Duration::days(30) + MICRO);
    let lookups = auth.store().inner().lookups();
    assert_err!(
        auth.authenticate(token.token.expose_secret(), None).await,
        AuthError::Expired,
        EXPIRED
    );
    assert_eq!(
        auth.store().inner().lookups(),
        lookups,
        "decided on the cached record"
    );
}

#[tokio::test]
async fn logout_revoke_and_logout_all_end_a_cached_token_at_once() {
    let (auth, _clock, alice) = cached(AuthCache::default()).await;
    let tokens = cached_tokens(&auth, &alice, 5).await;
    auth.logout(&tokens[0].info).await.unwrap();
    invalid(&auth, &tokens[0]).await;
    assert!(auth.revoke(&tokens[1].info.id).await.unwrap());
    invalid(&auth, &tokens[1]).await;
    assert!(auth.revoke_own(&alice, &tokens[2].info.id).await.unwrap());
    invalid(&auth, &tokens[2]).await;
    works(&auth, &tokens[3]).await;
    auth.revoke_user_tokens(&alice, RevokeReason::LogoutAll)
        .await
        .unwrap();
    invalid(&auth, &tokens[3]).await;
    invalid(&auth, &tokens[4]).await;
}

/// A delete resent by the driver after a lost reply answers "nothing deleted" (its
/// first run deleted it): the token asked about still leaves every cache.
#[tokio::test]
async fn a_resent_delete_still_ends_the_cached_token() {
    let (auth, _clock, alice) = cached(AuthCache::default()).await;
    let tokens = cached_tokens(&auth, &alice, 4).await;
    let (published, _) = broadcast::channel(16);
    let mut heard = published.subscribe();
    let auth = auth.with_revocation_listener(move |r: &Revocation| {
        let _ = published.send(r.clone());
    });
    auth.store().inner().resend_deletes();

    auth.logout(&tokens[0].info).await.unwrap();
    invalid(&auth, &tokens[0]).await;
    assert!(auth.revoke(&tokens[1].info.id).await.unwrap(), "it existed");
    invalid(&auth, &tokens[1]).await;
    assert!(auth.revoke_own(&alice, &tokens[2].info.id).await.unwrap());
    invalid(&auth, &tokens[2]).await;
    auth.revoke_user_tokens(&alice, RevokeReason::LogoutAll)
        .await
        .unwrap();
    invalid(&auth, &tokens[3]).await;

    // Other processes hear the same: each token by digest, then the user.
    for token in &tokens[..3] {
        match heard.try_recv().unwrap() {
            Revocation::Tokens(ended) => assert_eq!(ended[0].digest, token.token.digest()),
            other => panic!("expected the token, heard {other:?}"),
        }
    }
    assert_eq!(heard.try_recv().unwrap(), Revocation::User(alice));
}

#[tokio::test]
async fn eviction_and_replace_end_a_cached_token_at_once() {
    let (auth, clock, alice) = cached(AuthCache::default()).await;
    let limited = auth
        .clone()
        .with_token_limit(Some(TokenLimit::new(1, OnLimit::EvictOldest)));
    let first = issue(&limited, &alice).await;
    cache_it(&limited, &first).await;
    clock.advance(Duration::seconds(1));
    let second = issue(&limited, &alice).await;
    invalid(&limited, &first).await;

    cache_it(&auth, &second).await;
    let replacing = auth.with_obtain_policy(ObtainPolicy::Replace);
    let third = replacing
        .obtain("alice", PASSWORD, TokenRequest::default())
        .await
        .unwrap();
    invalid(&replacing, &second).await;
    works(&replacing, &third).await;
}

#[tokio::test]
async fn a_password_change_or_revoke_everything_ends_a_cached_token_at_once() {
    let (auth, _clock, alice) = cached(AuthCache::default()).await;
    let token = issue(&auth, &alice).await;
    cache_it(&auth, &token).await;
    auth.change_password("alice", NEW_PASSWORD)
        .await
        .unwrap()
        .unwrap();
    invalid(&auth, &token).await;

    let token = issue(&auth, &alice).await;
    cache_it(&auth, &token).await;
    auth.revoke_everything(&alice).await.unwrap().unwrap();
    invalid(&auth, &token).await;
}

/// Deactivation keeps the token: it is refused while the user is inactive and works
/// again on reactivation, both on the next request.
#[tokio::test]
async fn deactivation_reactivation_and_deletion_are_seen_at_once() {
    let (auth, _clock, alice) = cached(AuthCache::default()).await;
    let token = issue(&auth, &alice).await;
    cache_it(&auth, &token).await;
    auth.set_active("alice", false).await.unwrap().unwrap();
    inactive(&auth, &token).await;
    inactive(&auth, &token).await;
    auth.set_active("alice", true).await.unwrap().unwrap();
    works(&auth, &token).await;
    cache_it(&auth, &token).await;
    auth.delete_user("alice").await.unwrap().unwrap();
    invalid(&auth, &token).await;
}

/// A change made to the users behind tokenauth's back (the app's own table) is seen by
/// the very next request once the app says so; until then the cache serves the user as
/// it was.
#[tokio::test]
async fn a_user_changed_elsewhere_is_seen_at_once_when_told() {
    let users = MemoryUserDirectory::new();
    let alice = users.add_user("alice", PASSWORD, true).await.unwrap();
    let auth = TokenAuth::new(CountingStore::default(), users.clone())
        .with_clock(ManualClock::new(START))
        .with_cache(AuthCache::default());
    let token = issue(&auth, &alice).await;
    cache_it(&auth, &token).await;

    users.set_active(&alice, false).await.unwrap().unwrap();
    works(&auth, &token).await;
    auth.user_changed(&alice);
    inactive(&auth, &token).await;

    users.set_active(&alice, true).await.unwrap().unwrap();
    auth.user_changed(&alice);
    cache_it(&auth, &token).await;
    // Deleted from the app's table (its tokens left in the store): DRF's "User
    // inactive or deleted."
    users.delete_user(&alice).await.unwrap().unwrap();
    works(&auth, &token).await;
    auth.user_changed(&alice);
    inactive(&auth, &token).await;
}

/// A cache put on after the service was cloned would leave the clones without it
/// (a logout through them would not reach it): refused, naming the fix.
#[tokio::test]
async fn a_cache_after_a_clone_is_refused() {
    let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
    let for_the_routes = auth.clone();
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        auth.with_cache(AuthCache::default())
    }))
    .expect_err("with_cache after a clone");
    let message = refused.downcast_ref::<String>().expect("a message");
    assert!(
        message.contains("1 clone(s) of this TokenAuth are alive")
            && message.contains("call with_cache before cloning"),
        "{message}"
    );
    // Once the clone is gone, nothing can diverge.
    let auth = for_the_routes;
    let cached = auth.with_cache(AuthCache::default());
    assert!(cached.list(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_purge_ends_a_cached_token_at_once() {
    let (auth, clock, alice) = cached(AuthCache::new(100).with_ttl(Duration::days(365))).await;
    let token = issue(&auth, &alice).await;
    cache_it(&auth, &token).await;
    clock.advance(Duration::days(40));
    assert_eq!(auth.purge(Duration::days(7), 100, |_| {}).await.unwrap(), 1);
    invalid(&auth, &token).await;
}

/// A lookup that read the token before it was revoked, and finishes after, must not
/// leave it in the cache: the next request is refused.
#[tokio::test]
async fn a_lookup_that_raced_a_revocation_caches_nothing() {
    let (auth, _clock, alice) = cached(AuthCache::default()).await;
    let token = issue(&auth, &alice).await;
    let revoking = auth.clone();
    let info = token.info.clone();
    auth.store().inner().after_next_lookup(async move {
        revoking.logout(&info).await.unwrap();
    });
    // The request began before the logout: it is answered with what it read.
    works(&auth, &token).await;
    invalid(&auth, &token).await;
}

/// Unknown well-formed tokens cost one store lookup each, and however many a client
/// tries, they cannot push valid tokens out.
#[tokio::test]
async fn a_scan_of_unknown_tokens_costs_one_lookup_each_and_evicts_no_valid_token() {
    let (auth, _clock, alice) = cached(AuthCache::new(16)).await;
    let token = issue(&auth, &alice).await;
    cache_it(&auth, &token).await;
    let format = TokenFormat::default();
    let unknown = format.generate();
    for _ in 0..3 {
        assert_err!(
            auth.authenticate(unknown.expose_secret(), None).await,
            AuthError::InvalidToken,
            INVALID_TOKEN
        );
    }
    let before = auth.store().inner().lookups();
    assert_eq!(before, 2, "the unknown token was looked up once");
    for _ in 0..2_000 {
        let guess = format.generate();
        assert!(auth.authenticate(guess.expose_secret(), None).await.is_err());
    }
    assert_eq!(
        auth.store().inner().lookups(),
        before + 2_000,
        "one lookup per unknown token"
    );
    works(&auth, &token).await;
    assert_eq!(
        auth.store().inner().lookups(),
        before + 2_000,
        "the valid token is still cached"
    );
}

/// With sliding expiry, the uses written by a flush are kept in the cached record:
/// a token in use does not expire from the cache's point of view.
#[tokio::test]
async fn written_uses_keep_a_cached_token_alive_under_sliding_expiry() {
    let (auth, clock, alice) = cached(AuthCache::new(100).with_ttl(Duration::days(1))).await;
    let auth = auth
        .with_lifespan("3h".parse::<Lifespan>().unwrap())
        .with_idle_timeout(Some("1h".parse::<Lifespan>().unwrap()));
    let token = issue(&auth, &alice).await;
    cache_it(&auth, &token).await;
    clock.advance(Duration::minutes(50));
    works(&auth, &token).await;
    assert_eq!(auth.flush_usage().await.unwrap(), 1);
    assert_eq!(auth.pending_usage(), 0);
    clock.advance(Duration::minutes(50));
    let lookups = auth.store().inner().lookups();
    works(&auth, &token).await;
    assert_eq!(
        auth.store().inner().lookups(),
        lookups,
        "from the cache, with the written use"
    );
}

/// The memory store behind the counting one still works without a cache (a sanity
/// check of the fixture).
#[tokio::test]
async fn without_a_cache_every_request_looks_up() {
    let users = MemoryUserDirectory::new();
    let alice = users.add_user("alice", PASSWORD, true).await.unwrap();
    let auth = TokenAuth::new(CountingStore::new(MemoryStore::new()), users).with_clock(START);
    let token = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    for _ in 0..3 {
        auth.authenticate(token.token.expose_secret(), None)
            .await
            .unwrap();
    }
    assert_eq!(auth.store().lookups(), 3);
}
