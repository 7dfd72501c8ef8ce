//! The token lifecycle (issue 3), through the public API of the core: obtain policies,
//! the per-user limit, per-token lifespans, sliding expiry, last-used tracking, logout
//! and sessions, scopes, revocation on password change, the purge, the audit events and
//! the background upkeep.
//!
//! Time only moves when a test moves its `ManualClock` (or, for the background upkeep,
//! tokio's paused clock); nothing sleeps. Password hashing is argon2id with production
//! parameters (tens of milliseconds per user), so each test creates as few users as it
//! can, and uses `issue` rather than `obtain` where the password is not the point.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokenauth_core::store::{Change, Committed, Ended, PurgeBounds, TokenDigest, TokenSet, Usage};
use tokenauth_core::{
    AuthError, AuthEvent, DEFAULT_MAX_TOKENS_PER_USER, DEFAULT_PURGE_GRACE, IssueError, Issued, Lifespan,
    LoginRecord, Maintenance, ManualClock, MemoryStore, MemoryUserDirectory, ObtainError, ObtainPolicy,
    OnLimit, RevokeReason, Scopes, TokenAuth, TokenId, TokenInfo, TokenLimit, TokenRecord, TokenRequest,
    TokenStore, User, UserDirectory, UserId,
};

type Auth = TokenAuth<MemoryStore, MemoryUserDirectory>;
type Events = Arc<Mutex<Vec<AuthEvent>>>;

const START: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "new horse battery staple";
const MICRO: Duration = Duration::microseconds(1);
const IP1: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const IP2: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

const INVALID_TOKEN: &str = "Invalid token";
const EXPIRED: &str = "Token has expired";
const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";
const LIMIT_2: &str = "Token limit reached: at most 2 active tokens per user. Log out on another device or revoke a token first.";

/// Asserts that `$result` is the error `$pat` and that its message is exactly `$msg`.
macro_rules! assert_err {
    ($result:expr, $pat:pat, $msg:expr $(,)?) => {
        match $result {
            Err(err @ $pat) => assert_eq!(err.to_string(), $msg),
            other => panic!("expected Err({}), got {:?}", stringify!($pat), other),
        }
    };
}

fn span(text: &str) -> Lifespan {
    text.parse().unwrap()
}

fn scopes(list: &str) -> Scopes {
    Scopes::parse(list).unwrap()
}

fn lifespan_request(lifespan: &str) -> TokenRequest {
    TokenRequest {
        lifespan: Some(span(lifespan)),
        ..TokenRequest::default()
    }
}

fn scope_request(list: &str) -> TokenRequest {
    TokenRequest {
        scopes: Some(scopes(list)),
        ..TokenRequest::default()
    }
}

/// A service with the defaults, an empty store and directory, and a stopped clock.
fn service() -> (Auth, ManualClock) {
    let clock = ManualClock::new(START);
    let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new()).with_clock(clock.clone());
    (auth, clock)
}

async fn add_user(auth: &Auth, username: &str) -> UserId {
    auth.users().add_user(username, PASSWORD, true).await.unwrap()
}

async fn login(auth: &Auth, username: &str) -> Issued {
    login_with(auth, username, PASSWORD).await
}

async fn login_with(auth: &Auth, username: &str, password: &str) -> Issued {
    auth.obtain(username, password, TokenRequest::default())
        .await
        .unwrap()
}

/// Changes alice's password to [`NEW_PASSWORD`]; how many older tokens were deleted.
async fn change_alices_password(auth: &Auth) -> usize {
    let (_, revoked) = auth
        .change_password("alice", NEW_PASSWORD)
        .await
        .unwrap()
        .expect("alice exists");
    revoked
}

async fn issue(auth: &Auth, user: &UserId) -> Issued {
    auth.issue(user, TokenRequest::default()).await.unwrap()
}

/// Whether the token authenticates now; panics on anything but success.
async fn works(auth: &Auth, issued: &Issued) {
    let verified = auth
        .authenticate(issued.token.expose_secret(), None)
        .await
        .unwrap_or_else(|e| panic!("token {} should work: {e}", issued.info.id));
    assert_eq!(verified.token.id, issued.info.id);
}

async fn is_invalid(auth: &Auth, issued: &Issued) {
    assert_err!(
        auth.authenticate(issued.token.expose_secret(), None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );
}

async fn is_expired(auth: &Auth, issued: &Issued) {
    assert_err!(
        auth.authenticate(issued.token.expose_secret(), None).await,
        AuthError::Expired,
        EXPIRED
    );
}

async fn stored(auth: &Auth, id: &TokenId) -> TokenRecord {
    auth.store()
        .find_by_id(id)
        .await
        .unwrap()
        .expect("the token is stored")
}

async fn stored_ids(auth: &Auth, user: &UserId) -> Vec<TokenId> {
    auth.list(Some(user))
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.id)
        .collect()
}

/// The ids of these tokens, in this order.
fn ids_of(tokens: &[&Issued]) -> Vec<TokenId> {
    tokens.iter().map(|t| t.info.id.clone()).collect()
}

/// A hook that records every event.
fn recording(auth: Auth) -> (Auth, Events) {
    recording_with(auth)
}

/// [`recording`] for a service over any store and directory.
fn recording_with<S: TokenStore, D: UserDirectory>(auth: TokenAuth<S, D>) -> (TokenAuth<S, D>, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let auth = auth.with_event_hook(move |event: &AuthEvent| sink.lock().unwrap().push(event.clone()));
    (auth, events)
}

/// The events recorded since the last call.
fn drain(events: &Events) -> Vec<AuthEvent> {
    std::mem::take(&mut *events.lock().unwrap())
}

// --- Obtain policies -------------------------------------------------------------------

#[tokio::test]
async fn new_policy_two_logins_give_two_working_tokens() {
    let (auth, clock) = service();
    assert_eq!(auth.obtain_policy(), ObtainPolicy::New);
    let alice = add_user(&auth, "alice").await;

    let phone = login(&auth, "alice").await;
    clock.advance(Duration::seconds(1));
    let laptop = login(&auth, "alice").await;

    assert_ne!(phone.info.id, laptop.info.id);
    assert_ne!(phone.token.expose_secret(), laptop.token.expose_secret());
    works(&auth, &phone).await;
    works(&auth, &laptop).await;
    assert_eq!(stored_ids(&auth, &alice).await, ids_of(&[&phone, &laptop]));
}

#[tokio::test]
async fn replace_policy_revokes_the_users_other_tokens_only() {
    let (auth, clock) = service();
    let auth = auth.with_obtain_policy(ObtainPolicy::Replace);
    let alice = add_user(&auth, "alice").await;
    add_user(&auth, "bob").await;

    let bobs = login(&auth, "bob").await;
    let first = login(&auth, "alice").await;
    clock.advance(Duration::seconds(1));
    let second = login(&auth, "alice").await;

    is_invalid(&auth, &first).await;
    works(&auth, &second).await;
    works(&auth, &bobs).await;
    assert_eq!(stored_ids(&auth, &alice).await, ids_of(&[&second]));

    // `issue` (administrators) ignores the obtain policy.
    let extra = issue(&auth, &alice).await;
    works(&auth, &second).await;
    works(&auth, &extra).await;
}

#[test]
fn policies_parse_from_settings() {
    assert_eq!("new".parse::<ObtainPolicy>(), Ok(ObtainPolicy::New));
    assert_eq!("replace".parse::<ObtainPolicy>(), Ok(ObtainPolicy::Replace));
    assert!("Replace".parse::<ObtainPolicy>().is_err());
    assert_eq!("reject".parse::<OnLimit>(), Ok(OnLimit::Reject));
    assert_eq!("evict_oldest".parse::<OnLimit>(), Ok(OnLimit::EvictOldest));
    assert_eq!("evict-oldest".parse::<OnLimit>(), Ok(OnLimit::EvictOldest));
    assert!("evict".parse::<OnLimit>().is_err());
}

// --- Limit per user --------------------------------------------------------------------

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_under_replace_leave_one_token() {
    let (auth, _clock) = service();
    let auth = auth.with_obtain_policy(ObtainPolicy::Replace);
    let alice = add_user(&auth, "alice").await;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let auth = auth.clone();
        tasks.spawn(async move { auth.obtain("alice", PASSWORD, TokenRequest::default()).await });
    }
    let mut issued = Vec::new();
    while let Some(result) = tasks.join_next().await {
        issued.push(result.unwrap().unwrap());
    }
    let remaining = stored_ids(&auth, &alice).await;
    assert_eq!(remaining.len(), 1);
    let mut working = 0;
    for token in &issued {
        if auth.authenticate(token.token.expose_secret(), None).await.is_ok() {
            working += 1;
            assert_eq!(token.info.id, remaining[0]);
        }
    }
    assert_eq!(working, 1);
}

// --- Variable lifespans ----------------------------------------------------------------

#[tokio::test]
async fn a_seven_day_token_dies_after_seven_days_while_the_default_lives_on() {
    let (auth, clock) = service();
    let alice = add_user(&auth, "alice").await;

    let week = auth.issue(&alice, lifespan_request("7d")).await.unwrap();
    let default = issue(&auth, &alice).await;
    assert_eq!(week.info.created, START);
    assert_eq!(week.info.expires, START + Duration::days(7));
    assert_eq!(default.info.expires, START + Duration::days(30));
    assert_eq!(
        stored(&auth, &week.info.id).await.expires,
        Some(START + Duration::days(7))
    );
    assert_eq!(stored(&auth, &default.info.id).await.expires, None);

    clock.advance(Duration::days(7));
    works(&auth, &week).await;
    clock.advance(MICRO);
    is_expired(&auth, &week).await;
    works(&auth, &default).await;

    clock.set(START + Duration::days(30));
    works(&auth, &default).await;
    clock.advance(MICRO);
    is_expired(&auth, &default).await;
}

#[tokio::test]
async fn a_lifespan_longer_than_the_maximum_is_refused_naming_it() {
    let (auth, _clock) = service();
    let alice = add_user(&auth, "alice").await;

    let message = "Ensure the lifespan is at most 30d (2592000 seconds).";
    match auth.issue(&alice, lifespan_request("60d")).await {
        Err(err @ IssueError::LifespanTooLong { max }) => {
            assert_eq!(max, Lifespan::DEFAULT);
            assert_eq!(err.to_string(), message);
            assert!(err.to_string().contains("30d"));
        }
        other => panic!("expected LifespanTooLong, got {other:?}"),
    }
    assert_err!(
        auth.obtain("alice", PASSWORD, lifespan_request("60d")).await,
        ObtainError::Issue(IssueError::LifespanTooLong { .. }),
        message,
    );
    assert!(stored_ids(&auth, &alice).await.is_empty());

    // Exactly the maximum is allowed.
    let max = auth.issue(&alice, lifespan_request("30d")).await.unwrap();
    assert_eq!(max.info.expires, START + Duration::days(30));

    // The maximum follows the configured lifespan.
    let short = auth.clone().with_lifespan(span("12h"));
    assert_err!(
        short.issue(&alice, lifespan_request("1d")).await,
        IssueError::LifespanTooLong { .. },
        "Ensure the lifespan is at most 12h (43200 seconds).",
    );
}

#[tokio::test]
async fn lowering_the_lifespan_applies_retroactively() {
    let (auth, clock) = service();
    let alice = add_user(&auth, "alice").await;
    let default = issue(&auth, &alice).await;
    let week = auth.issue(&alice, lifespan_request("7d")).await.unwrap();

    clock.advance(Duration::days(2));
    let lowered = auth.clone().with_lifespan(span("1d"));
    assert_eq!(lowered.policy().lifespan(), span("1d"));
    assert_eq!(auth.policy().lifespan(), Lifespan::DEFAULT);

    is_expired(&lowered, &default).await;
    is_expired(&lowered, &week).await;
    works(&auth, &default).await;
    works(&auth, &week).await;

    let info = lowered.info(&stored(&lowered, &week.info.id).await);
    assert_eq!(info.expires, START + Duration::days(1));
}

// --- Sliding expiry --------------------------------------------------------------------

fn sliding(auth: Auth) -> Auth {
    auth.with_lifespan(span("3h")).with_idle_timeout(Some(span("1h")))
}

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

    // Past the idle timeout since issue, 20 minutes after the use.
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

type CountingStore = tokenauth_core::conformance::CountingStore<MemoryStore>;

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

// --- Logout and sessions ---------------------------------------------------------------

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

// --- Scopes ----------------------------------------------------------------------------

#[tokio::test]
async fn scopes_are_granted_within_the_configured_set() {
    let (auth, _clock) = service();
    let auth = auth.with_scopes(scopes("read write"));
    assert_eq!(auth.grantable_scopes(), &scopes("write read"));
    let alice = add_user(&auth, "alice").await;

    let all = issue(&auth, &alice).await;
    assert_eq!(all.info.scopes, scopes("read write"));
    let verified = auth.authenticate(all.token.expose_secret(), None).await.unwrap();
    assert!(verified.token.scopes.contains("read") && verified.token.scopes.contains("write"));

    let read = auth.issue(&alice, scope_request("read")).await.unwrap();
    assert_eq!(read.info.scopes, scopes("read"));
    let verified = auth.authenticate(read.token.expose_secret(), None).await.unwrap();
    assert_eq!(verified.token.scopes.to_string(), "read");
    assert!(!verified.token.scopes.contains("write"));
    assert_eq!(stored(&auth, &read.info.id).await.scopes, scopes("read"));

    let err = auth.issue(&alice, scope_request("admin")).await.unwrap_err();
    assert!(
        matches!(&err, IssueError::ScopeNotGrantable { scope } if scope == "admin"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Scope \"admin\" cannot be granted.");
    let err = auth
        .obtain("alice", PASSWORD, scope_request("read admin"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ObtainError::Issue(IssueError::ScopeNotGrantable { scope }) if scope == "admin"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Scope \"admin\" cannot be granted.");
    // Refused requests store nothing.
    assert_eq!(stored_ids(&auth, &alice).await.len(), 2);
}

#[tokio::test]
async fn without_configured_scopes_none_can_be_requested() {
    let (auth, _clock) = service();
    assert!(auth.grantable_scopes().is_empty());
    let alice = UserId::from(1);

    let err = auth.issue(&alice, scope_request("read")).await.unwrap_err();
    assert!(
        matches!(&err, IssueError::ScopeNotGrantable { scope } if scope == "read"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Scope \"read\" cannot be granted.");
    let plain = issue(&auth, &alice).await;
    assert!(plain.info.scopes.is_empty());
    let none = auth.issue(&alice, scope_request("")).await.unwrap();
    assert!(none.info.scopes.is_empty());
}

// --- Password change -------------------------------------------------------------------

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

// --- Purge -----------------------------------------------------------------------------

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

// --- Events ----------------------------------------------------------------------------

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
        [AuthEvent::Issued {
            token_id: id.clone(),
            user_id: alice.clone(),
            name: Some("phone".to_owned()),
        }]
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
                user_id: alice,
                name: None,
            },
        ]
    );
}

// --- Background upkeep -----------------------------------------------------------------

/// Lets the spawned upkeep task run until it waits again.
async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn maintenance_flushes_on_schedule_purges_and_flushes_on_shutdown() {
    let (auth, clock) = service();
    let auth = auth.with_refresh_interval(span("60s"));
    assert_eq!(auth.refresh_interval(), Duration::seconds(60));
    let alice = add_user(&auth, "alice").await;
    let token = issue(&auth, &alice).await;
    let doomed = auth.issue(&alice, lifespan_request("1h")).await.unwrap();

    let schedule = Maintenance {
        purge_interval: Some(span("1h")),
        purge_grace: DEFAULT_PURGE_GRACE,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let upkeep = tokio::spawn({
        let auth = auth.clone();
        async move {
            auth.run_maintenance(schedule, async {
                stopped.await.ok();
            })
            .await;
        }
    });
    settle().await; // the first ticks fire at once: nothing to do yet
    assert!(!upkeep.is_finished());

    clock.advance(Duration::seconds(10));
    works(&auth, &token).await;
    assert_eq!(auth.pending_usage(), 1);
    tokio::time::advance(std::time::Duration::from_secs(30)).await;
    settle().await;
    assert_eq!(auth.pending_usage(), 1, "not yet a refresh interval");

    tokio::time::advance(std::time::Duration::from_secs(31)).await;
    settle().await;
    assert_eq!(auth.pending_usage(), 0);
    assert_eq!(
        stored(&auth, &token.info.id).await.last_used,
        Some(START + Duration::seconds(10))
    );

    // The hourly purge removes the long-expired token.
    clock.set(START + Duration::hours(1) + DEFAULT_PURGE_GRACE + MICRO);
    assert!(auth.store().find_by_id(&doomed.info.id).await.unwrap().is_some());
    tokio::time::advance(std::time::Duration::from_secs(3600)).await;
    settle().await;
    assert!(auth.store().find_by_id(&doomed.info.id).await.unwrap().is_none());

    // A use just before shutdown is written by the final flush.
    clock.set(START + Duration::days(1));
    works(&auth, &token).await;
    assert_eq!(auth.pending_usage(), 1);
    stop.send(()).unwrap();
    upkeep.await.unwrap();
    assert_eq!(auth.pending_usage(), 0);
    assert_eq!(
        stored(&auth, &token.info.id).await.last_used,
        Some(START + Duration::days(1))
    );
}

// ---------------------------------------------------------------------------------------
// Regressions found in review
// ---------------------------------------------------------------------------------------

/// Under sliding expiry, a token kept alive by uses not yet written still counts
/// against the limit: issue writes pending uses before counting.
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

type Race = Mutex<Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>>;

/// A directory that runs a race once: `race` right after a login has read the user it
/// verifies (so the login holds the old credential version), or `late_race` right
/// after the first read by id (the check an issue makes just before committing).
struct RacingDirectory {
    inner: MemoryUserDirectory,
    race: Race,
    late_race: Race,
}

impl RacingDirectory {
    fn new(inner: MemoryUserDirectory) -> Self {
        Self {
            inner,
            race: Mutex::new(None),
            late_race: Mutex::new(None),
        }
    }
}

async fn run_once(race: &Race) {
    let race = race.lock().unwrap().take();
    if let Some(race) = race {
        race.await;
    }
}

impl UserDirectory for RacingDirectory {
    type User = User;
    type Error = std::convert::Infallible;

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, Self::Error> {
        let user = self.inner.find_user(id).await?;
        run_once(&self.late_race).await;
        Ok(user)
    }

    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<User>>, Self::Error> {
        let login = self.inner.find_login(username).await?;
        run_once(&self.race).await;
        Ok(login)
    }
}

/// A service over a racing directory, and a second service on the same data for the
/// racing side to act through.
fn racing_service() -> (TokenAuth<MemoryStore, RacingDirectory>, Auth) {
    let clock = ManualClock::new(START);
    let (store, users) = (MemoryStore::new(), MemoryUserDirectory::new());
    let other = TokenAuth::new(store.clone(), users.clone()).with_clock(clock.clone());
    let auth = TokenAuth::new(store, RacingDirectory::new(users)).with_clock(clock);
    (auth, other)
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

/// A use stays visible to authentication while the flush that writes it is in flight:
/// a token kept alive by it never reads as expired in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_being_written_still_counts_for_idle_expiry() {
    let clock = ManualClock::new(START);
    let store = CountingStore::default();
    let auth = TokenAuth::new(store.clone(), MemoryUserDirectory::new())
        .with_clock(clock.clone())
        .with_idle_timeout(Some(span("10m")));
    let alice = auth.users().add_user("alice", PASSWORD, true).await.unwrap();
    let issued = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let token = issued.token.expose_secret();
    clock.advance(Duration::minutes(9));
    auth.authenticate(token, None).await.unwrap();
    clock.advance(Duration::minutes(2)); // 11 minutes after issue, 2 after the use

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
            [AuthEvent::Revoked {
                reason: RevokeReason::PasswordChanged,
                ..
            }]
        ),
        "{events:?}"
    );
}

// --- Faults of the previous contract, each pinned -----------------------------------------

/// A store whose next digest lookup, after reading the record, lets `then` run to
/// completion before returning it: the record it returns is as it was before.
#[derive(Clone, Default)]
struct PausingStore {
    inner: MemoryStore,
    then: Arc<Race>,
}

impl TokenStore for PausingStore {
    type Error = <MemoryStore as TokenStore>::Error;

    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Self::Error> {
        self.inner.token_set(user).await
    }
    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Self::Error> {
        self.inner.commit(user, expected, change).await
    }
    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Self::Error> {
        let record = self.inner.find_by_digest(digest).await?;
        run_once(&self.then).await;
        Ok(record)
    }
    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Self::Error> {
        self.inner.find_by_id(id).await
    }
    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Self::Error> {
        self.inner.list(user).await
    }
    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Self::Error> {
        self.inner.delete(id).await
    }
    async fn delete_for_user(
        &self,
        user: &UserId,
        keep: Option<&TokenId>,
    ) -> Result<Vec<Ended>, Self::Error> {
        self.inner.delete_for_user(user, keep).await
    }
    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Self::Error> {
        self.inner.record_usage(uses).await
    }
    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Self::Error> {
        self.inner.purge(bounds, limit).await
    }
}

/// A flush that lands between authentication's store read (which saw the old last use)
/// and its look at the buffer (which the flush cleared) does not make a token kept
/// alive by that use look expired: the buffer is read first.
#[tokio::test]
async fn a_flush_landing_mid_authentication_does_not_expire_a_live_token() {
    let clock = ManualClock::new(START);
    let store = PausingStore::default();
    let auth = TokenAuth::new(store.clone(), MemoryUserDirectory::new())
        .with_clock(clock.clone())
        .with_idle_timeout(Some(span("10m")));
    let alice = auth.users().add_user("alice", PASSWORD, true).await.unwrap();
    let issued = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let token = issued.token.expose_secret();
    clock.advance(Duration::minutes(9));
    auth.authenticate(token, None).await.unwrap(); // a use at 9 minutes, buffered
    clock.advance(Duration::minutes(2)); // idle by the stored record, alive by the use

    let flusher = auth.clone();
    *store.then.lock().unwrap() = Some(Box::pin(async move {
        assert_eq!(flusher.flush_usage().await.unwrap(), 1);
    }));
    let verified = auth
        .authenticate(token, None)
        .await
        .expect("the use written mid-request still counts");
    assert_eq!(verified.token.id, issued.info.id);
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

/// A scope the service no longer grants stops working on tokens that carry it, as a
/// lowered lifespan does; granting it again brings it back.
#[tokio::test]
async fn scopes_no_longer_granted_stop_working() {
    let (auth, _clock) = service();
    let wide = auth.with_scopes(scopes("read write admin"));
    let alice = add_user(&wide, "alice").await;
    let issued = issue(&wide, &alice).await;
    assert_eq!(issued.info.scopes, scopes("admin read write"));
    let narrow = wide.clone().with_scopes(scopes("read write"));
    let verified = narrow
        .authenticate(issued.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(verified.token.scopes, scopes("read write"));
    assert_eq!(
        narrow.list(Some(&alice)).await.unwrap()[0].scopes,
        scopes("read write")
    );
    let verified = wide
        .authenticate(issued.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(verified.token.scopes, scopes("admin read write"));
}

/// Stored and caller-supplied times at the edges of the calendar never make
/// arithmetic panic: expiries saturate.
#[tokio::test]
async fn times_at_the_edges_of_the_calendar_do_not_panic() {
    let last = time::PrimitiveDateTime::MAX.assume_utc();
    let first = time::PrimitiveDateTime::MIN.assume_utc();
    let (auth, clock) = service();
    let auth = auth.with_idle_timeout(Some(span("1d")));
    let alice = add_user(&auth, "alice").await;
    // Issued a second before the end of time, with a lifespan of its own.
    clock.set(last - Duration::seconds(1));
    let issued = auth.issue(&alice, lifespan_request("1d")).await.unwrap();
    assert_eq!(issued.info.expires, last);
    works(&auth, &issued).await;
    // The purge's bounds, from either end.
    assert_eq!(auth.purge(Duration::days(36_500), 10, |_| {}).await.unwrap(), 0);
    clock.set(first);
    assert_eq!(auth.purge(Duration::days(36_500), 10, |_| {}).await.unwrap(), 0);
    let error = auth.authenticate(issued.token.expose_secret(), None).await;
    assert!(error.is_ok(), "created in the future, so not expired: {error:?}");
}
