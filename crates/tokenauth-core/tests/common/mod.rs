//! Helpers shared by the core's integration tests: the service fixture, users and
//! tokens, the checks on authentication, recorded events, and a store and a directory
//! that stage races.
//!
//! Time only moves when a test moves its `ManualClock` (or, for the background upkeep,
//! tokio's paused clock); nothing sleeps. Password hashing is argon2id with production
//! parameters (tens of milliseconds per user), so each test creates as few users as it
//! can, and uses `issue` rather than `obtain` where the password is not the point.

// Each test binary compiles this module but uses only some of its helpers.
#![allow(dead_code)]

pub(crate) mod drf;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokenauth_core::store::{LoginRecord, TokenRecord, TokenStore, UserDirectory};
use tokenauth_core::{
    AuthError, AuthEvent, Issued, Lifespan, ManualClock, MemoryStore, MemoryUserDirectory, TokenAuth,
    TokenId, TokenInfo, TokenRequest, User, UserId,
};

pub(crate) type Auth = TokenAuth<MemoryStore, MemoryUserDirectory>;
pub(crate) type Events = Arc<Mutex<Vec<AuthEvent>>>;

/// A memory store that counts lookups and usage writes.
pub(crate) type CountingStore = tokenauth_conformance::CountingStore<MemoryStore>;

pub(crate) const START: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const NEW_PASSWORD: &str = "new horse battery staple";
pub(crate) const MICRO: Duration = Duration::microseconds(1);
pub(crate) const IP1: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
pub(crate) const IP2: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

pub(crate) const INVALID_TOKEN: &str = "Invalid token";
pub(crate) const USER_INACTIVE: &str = "User inactive or deleted";
pub(crate) const EXPIRED: &str = "Token has expired";
pub(crate) const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

/// Asserts that `$result` is the error `$pat` and that its message is exactly `$msg`.
macro_rules! assert_err {
    ($result:expr, $pat:pat, $msg:expr $(,)?) => {
        match $result {
            Err(err @ $pat) => assert_eq!(err.to_string(), $msg),
            other => panic!("expected Err({}), got {:?}", stringify!($pat), other),
        }
    };
}
// Not every binary asserts errors itself (see `dead_code` above).
#[allow(unused_imports)]
pub(crate) use assert_err;

pub(crate) fn span(text: &str) -> Lifespan {
    text.parse().unwrap()
}

pub(crate) fn days(n: i64) -> Duration {
    Duration::days(n)
}

pub(crate) fn lifespan_request(lifespan: &str) -> TokenRequest {
    TokenRequest {
        lifespan: Some(span(lifespan)),
        ..TokenRequest::default()
    }
}

/// A request for a token labelled `name`.
pub(crate) fn named(name: &str) -> TokenRequest {
    TokenRequest {
        name: Some(name.to_owned()),
        ..TokenRequest::default()
    }
}

/// A service with the defaults, an empty store and directory, and a stopped clock.
pub(crate) fn service() -> (Auth, ManualClock) {
    service_at(START)
}

/// [`service`] with its clock stopped at `start`.
pub(crate) fn service_at(start: OffsetDateTime) -> (Auth, ManualClock) {
    let clock = ManualClock::new(start);
    let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new()).with_clock(clock.clone());
    (auth, clock)
}

/// Sliding expiry: a 3-hour lifespan, an hour's idle timeout.
pub(crate) fn sliding(auth: Auth) -> Auth {
    auth.with_lifespan(span("3h")).with_idle_timeout(Some(span("1h")))
}

pub(crate) async fn add_user(auth: &Auth, username: &str) -> UserId {
    auth.users().add_user(username, PASSWORD, true).await.unwrap()
}

pub(crate) async fn login(auth: &Auth, username: &str) -> Issued {
    login_with(auth, username, PASSWORD).await
}

pub(crate) async fn login_with(auth: &Auth, username: &str, password: &str) -> Issued {
    auth.obtain(username, password, TokenRequest::default())
        .await
        .unwrap()
}

/// Changes alice's password to [`NEW_PASSWORD`]; how many older tokens were deleted.
pub(crate) async fn change_alices_password(auth: &Auth) -> usize {
    let (_, revoked) = auth
        .change_password("alice", NEW_PASSWORD)
        .await
        .unwrap()
        .expect("alice exists");
    revoked
}

pub(crate) async fn issue(auth: &Auth, user: &UserId) -> Issued {
    auth.issue(user, TokenRequest::default()).await.unwrap()
}

/// Whether the token authenticates now; panics on anything but success.
pub(crate) async fn works(auth: &Auth, issued: &Issued) {
    let verified = auth
        .authenticate(issued.token.expose_secret(), None)
        .await
        .unwrap_or_else(|e| panic!("token {} should work: {e}", issued.info.id));
    assert_eq!(verified.token.id, issued.info.id);
}

pub(crate) async fn is_invalid(auth: &Auth, issued: &Issued) {
    assert_err!(
        auth.authenticate(issued.token.expose_secret(), None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );
}

pub(crate) async fn is_expired(auth: &Auth, issued: &Issued) {
    assert_err!(
        auth.authenticate(issued.token.expose_secret(), None).await,
        AuthError::Expired,
        EXPIRED
    );
}

/// `info` as it reads after a use at the clock's current time.
pub(crate) fn used_now(auth: &Auth, info: &TokenInfo) -> TokenInfo {
    TokenInfo {
        last_used: Some(auth.now()),
        ..info.clone()
    }
}

pub(crate) async fn stored(auth: &Auth, id: &TokenId) -> TokenRecord {
    auth.store()
        .find_by_id(id)
        .await
        .unwrap()
        .expect("the token is stored")
}

pub(crate) async fn stored_ids(auth: &Auth, user: &UserId) -> Vec<TokenId> {
    auth.list(Some(user))
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.id)
        .collect()
}

/// The ids of these tokens, in this order.
pub(crate) fn ids_of(tokens: &[&Issued]) -> Vec<TokenId> {
    tokens.iter().map(|t| t.info.id.clone()).collect()
}

/// A hook that records every event.
pub(crate) fn recording(auth: Auth) -> (Auth, Events) {
    recording_with(auth)
}

/// [`recording`] for a service over any store and directory.
pub(crate) fn recording_with<S: TokenStore, D: UserDirectory>(
    auth: TokenAuth<S, D>,
) -> (TokenAuth<S, D>, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let auth = auth.with_event_hook(move |event: &AuthEvent| sink.lock().unwrap().push(event.clone()));
    (auth, events)
}

/// Something to run once, in the middle of another operation.
pub(crate) type Race = Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>;

async fn run_once(race: &Race) {
    let race = race.lock().unwrap().take();
    if let Some(race) = race {
        race.await;
    }
}

/// A directory that runs a race once: `race` right after a login has read the user it
/// verifies (so the login holds the old credential version), or `late_race` right
/// after the first read by id (the check an issue makes just before committing).
pub(crate) struct RacingDirectory {
    inner: MemoryUserDirectory,
    pub(crate) race: Race,
    pub(crate) late_race: Race,
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
pub(crate) fn racing_service() -> (TokenAuth<MemoryStore, RacingDirectory>, Auth) {
    let clock = ManualClock::new(START);
    let (store, users) = (MemoryStore::new(), MemoryUserDirectory::new());
    let other = TokenAuth::new(store.clone(), users.clone()).with_clock(clock.clone());
    let auth = TokenAuth::new(store, RacingDirectory::new(users)).with_clock(clock);
    (auth, other)
}
