//! The token-store suite's policy half: [`TokenAuth`]'s decisions applied through a
//! store under real concurrency (dozens of concurrent logins of one user under a
//! limit, `replace`, the cap on rows, a password change).

use time::Duration;

use tokenauth_core::store::{Capabilities, TokenStore, UserAdmin};
use tokenauth_core::{
    Clock, IssueError, Lifespan, ManualClock, ObtainError, ObtainPolicy, OnLimit, TokenAuth, TokenLimit,
    TokenRequest, User,
};

use crate::StoreSubject;
use crate::capabilities::SEVERAL_TOKENS;
use crate::subject::{Records, ids_of};
use crate::tokens::BASE;

/// A service over the subject's store and directory, in the subject's format, with a
/// fast hasher and a manual clock at [`BASE`]; user `alice` (password `pw`); how the
/// suite makes records for the store.
async fn service<S: TokenStore, D: UserAdmin>(
    s: StoreSubject<S, D>,
) -> (TokenAuth<S, D>, ManualClock, User, Records) {
    // Hashed cheaply too: a login verifies with the stored hash's own parameters, and
    // the concurrency cases log in dozens of times at once.
    let alice = s.user("alice").await;
    let format = s.format().clone();
    let (store, users, records) = s.into_parts();
    let clock = ManualClock::new(BASE);
    let auth = TokenAuth::new(store, users)
        .with_format(format)
        .with_password_hasher(super::fast_hasher())
        .with_clock(clock.clone());
    (auth, clock, alice, records)
}

/// Dozens of concurrent logins of one user under a limit: the limit holds, whether the
/// oldest are evicted or new ones refused.
pub async fn concurrent_logins_respect_the_limit<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let Some(s) = s.needs(SEVERAL_TOKENS).await else {
        return;
    };
    let (auth, _clock, alice, _) = service(s).await;
    let alice = alice.id;
    let evicting = auth
        .clone()
        .with_token_limit(Some(TokenLimit::new(5, OnLimit::EvictOldest)));
    let logins = (0..40).map(|_| evicting.obtain("alice", "pw", TokenRequest::default()));
    for result in futures_util::future::join_all(logins).await {
        result.expect("every login succeeds, evicting the oldest");
    }
    assert_eq!(auth.store().list(Some(&alice)).await.expect("list").len(), 5);

    let rejecting = auth.with_token_limit(Some(TokenLimit::new(8, OnLimit::Reject)));
    let logins = (0..40).map(|_| rejecting.obtain("alice", "pw", TokenRequest::default()));
    let results = futures_util::future::join_all(logins).await;
    let issued = results.iter().filter(|r| r.is_ok()).count();
    for result in &results {
        if let Err(error) = result {
            assert!(
                matches!(error, ObtainError::Issue(IssueError::LimitReached { max: 8 })),
                "{error:?}"
            );
        }
    }
    assert_eq!(issued, 3, "5 were held, 3 more fit under 8");
    assert_eq!(rejecting.store().list(Some(&alice)).await.expect("list").len(), 8);
}

/// Dozens of concurrent logins under `replace` leave exactly one token, and it works.
pub async fn concurrent_logins_under_replace_leave_one_token<S: TokenStore, D: UserAdmin>(
    s: StoreSubject<S, D>,
) {
    let (auth, _clock, alice, _) = service(s).await;
    let alice = alice.id;
    let auth = auth.with_obtain_policy(ObtainPolicy::Replace);
    let logins = (0..40).map(|_| auth.obtain("alice", "pw", TokenRequest::default()));
    let issued: Vec<_> = futures_util::future::join_all(logins)
        .await
        .into_iter()
        .map(|r| r.expect("login"))
        .collect();
    let left = auth.store().list(Some(&alice)).await.expect("list");
    assert_eq!(left.len(), 1);
    let survivor = issued
        .iter()
        .find(|i| i.info.id == left[0].id)
        .expect("the survivor was issued by one of the logins");
    auth.authenticate(survivor.token.expose_secret(), None)
        .await
        .expect("the last token works");
}

/// Logins asking for one-second lifespans cannot pile up rows: with a limit of 10,
/// sixty of them leave at most 20 rows, and the expired ones kept still answer
/// `Token has expired`.
pub async fn short_lived_logins_stay_under_the_row_cap<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let needed = Capabilities {
        several_tokens_per_user: true,
        own_lifespans: true,
        ..Capabilities::NONE
    };
    let Some(s) = s.needs(needed).await else { return };
    let (auth, clock, alice, _) = service(s).await;
    let alice = alice.id;
    let auth = auth.with_token_limit(Some(TokenLimit::new(10, OnLimit::EvictOldest)));
    let second = Lifespan::new(Duration::seconds(1)).expect("valid");
    let mut issued = Vec::new();
    for _ in 0..60 {
        let request = TokenRequest {
            lifespan: Some(second),
            ..TokenRequest::default()
        };
        issued.push(auth.obtain("alice", "pw", request).await.expect("login"));
        clock.advance(Duration::seconds(2));
    }
    let rows = auth.store().list(Some(&alice)).await.expect("list");
    assert_eq!(rows.len(), 20);
    let newest_expired = &issued[58];
    let error = auth
        .authenticate(newest_expired.token.expose_secret(), None)
        .await
        .expect_err("expired");
    assert_eq!(error.to_string(), "Token has expired");
}

/// A token of an older credential version fails, however late its creation time: the
/// version decides, not a clock. A password change deletes the older tokens too.
pub async fn a_password_change_ends_older_tokens<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let needed = Capabilities {
        credential_versions: true,
        ..Capabilities::NONE
    };
    let Some(s) = s.needs(needed).await else { return };
    let (auth, clock, alice, records) = service(s).await;
    let before = auth
        .obtain("alice", "pw", TokenRequest::default())
        .await
        .expect("login");
    let (user, revoked) = auth
        .change_password("alice", "new pw")
        .await
        .expect("change")
        .expect("alice exists");
    assert_eq!(revoked, 1);
    assert_ne!(user.credential_version, alice.credential_version);
    let error = auth
        .authenticate(before.token.expose_secret(), None)
        .await
        .expect_err("old token");
    assert_eq!(error.to_string(), "Invalid token");

    // A token of the old version that slipped in after the change (as a login racing
    // it would have, with a clock running late) is refused all the same.
    clock.advance(Duration::hours(1));
    let token = auth.format().generate();
    let mut slipped = records.record(&alice, 0);
    slipped.digest = token.digest();
    slipped.created = clock.now();
    records.add(auth.store(), slipped).await;
    let error = auth
        .authenticate(token.expose_secret(), None)
        .await
        .expect_err("old version");
    assert_eq!(error.to_string(), "Invalid token");

    let after = auth
        .obtain("alice", "new pw", TokenRequest::default())
        .await
        .expect("login");
    auth.authenticate(after.token.expose_secret(), None)
        .await
        .expect("a token of the new version works");
    // The new login deleted the slipped-in token of the old version.
    assert_eq!(ids_of(auth.store(), &alice.id).await, vec![after.info.id]);
}
