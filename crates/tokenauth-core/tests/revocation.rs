//! The revocation signal: every operation that ends a token tells the listener what
//! ended, after it is committed, so that a cache in front of any store can stay exactly
//! coherent in one process.

use std::sync::{Arc, Mutex};

use time::Duration;
use time::macros::datetime;
use tokenauth_core::store::{Ended, RevocationBus};
use tokenauth_core::{
    LocalBus, ManualClock, MemoryStore, MemoryUserDirectory, ObtainPolicy, OnLimit, Revocation, RevokeReason,
    TokenAuth, TokenLimit, TokenRequest, UserId,
};

type Auth = TokenAuth<MemoryStore, MemoryUserDirectory>;
type Heard = Arc<Mutex<Vec<Revocation>>>;

const PASSWORD: &str = "correct horse battery staple";

/// A service recording every revocation, with `alice` and `bob`, and a stopped clock.
async fn service() -> (Auth, Heard, ManualClock, UserId, UserId) {
    let heard: Heard = Arc::default();
    let sink = Arc::clone(&heard);
    let clock = ManualClock::new(datetime!(2026-01-01 00:00 UTC));
    let users = MemoryUserDirectory::new();
    let alice = users.add_user("alice", PASSWORD, true).await.unwrap();
    let bob = users.add_user("bob", PASSWORD, true).await.unwrap();
    let auth = TokenAuth::new(MemoryStore::new(), users)
        .with_clock(clock.clone())
        .with_revocation_listener(move |r: &Revocation| sink.lock().unwrap().push(r.clone()));
    (auth, heard, clock, alice, bob)
}

/// What was heard since the last call.
fn drain(heard: &Heard) -> Vec<Revocation> {
    std::mem::take(&mut *heard.lock().unwrap())
}

/// The tokens named by the one `Tokens` revocation heard.
fn ended(revocations: &[Revocation]) -> Vec<Ended> {
    match revocations {
        [Revocation::Tokens(ended)] => ended.clone(),
        other => panic!("expected one Tokens revocation, got {other:?}"),
    }
}

async fn issue(auth: &Auth, user: &UserId) -> tokenauth_core::Issued {
    auth.issue(user, TokenRequest::default()).await.unwrap()
}

/// Logout, revoke by id (own or any), and logout-all each name exactly the tokens
/// they deleted, with their digests; a no-op says nothing.
#[tokio::test]
async fn revocations_by_the_holder_or_an_administrator_name_what_ended() {
    let (auth, heard, _clock, alice, bob) = service().await;
    let (a1, a2, a3, b1) = (
        issue(&auth, &alice).await,
        issue(&auth, &alice).await,
        issue(&auth, &alice).await,
        issue(&auth, &bob).await,
    );
    assert_eq!(drain(&heard), vec![], "issuing ends nothing");

    auth.logout(&a1.info).await.unwrap();
    let gone = ended(&drain(&heard));
    assert_eq!(gone.len(), 1);
    assert_eq!(
        (&gone[0].id, gone[0].digest, &gone[0].user_id),
        (&a1.info.id, a1.token.digest(), &alice)
    );

    assert!(auth.revoke_own(&alice, &a2.info.id).await.unwrap());
    assert_eq!(ended(&drain(&heard))[0].digest, a2.token.digest());
    assert!(!auth.revoke_own(&alice, &b1.info.id).await.unwrap(), "not hers");
    assert!(!auth.revoke(&a2.info.id).await.unwrap(), "already gone");
    assert_eq!(drain(&heard), vec![], "nothing ended, nothing said");

    assert!(auth.revoke(&b1.info.id).await.unwrap());
    assert_eq!(ended(&drain(&heard))[0].digest, b1.token.digest());

    assert_eq!(
        auth.revoke_user_tokens(&alice, RevokeReason::LogoutAll)
            .await
            .unwrap(),
        1
    );
    assert_eq!(ended(&drain(&heard))[0].digest, a3.token.digest());
}

/// Evictions at the limit and replacements under `replace` name the tokens they
/// deleted.
#[tokio::test]
async fn evictions_and_replacements_name_what_ended() {
    let (auth, heard, clock, alice, _bob) = service().await;
    let limited = auth
        .clone()
        .with_token_limit(Some(TokenLimit::new(1, OnLimit::EvictOldest)));
    let first = issue(&limited, &alice).await;
    clock.advance(Duration::seconds(1));
    issue(&limited, &alice).await;
    assert_eq!(ended(&drain(&heard))[0].digest, first.token.digest());

    let replacing = auth.with_obtain_policy(ObtainPolicy::Replace);
    let current = replacing.list(Some(&alice)).await.unwrap();
    let login = replacing
        .obtain("alice", PASSWORD, TokenRequest::default())
        .await
        .unwrap();
    let gone = ended(&drain(&heard));
    assert_eq!(
        gone.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        vec![current[0].id.clone()]
    );
    assert_ne!(gone[0].id, login.info.id);
}

/// A password change, "revoke everything", deactivation and deletion first say the
/// user changed (its tokens fail from that commit on, deleted or not), then name the
/// tokens deleted.
#[tokio::test]
async fn changes_to_a_user_say_so_before_the_deletions() {
    let (auth, heard, _clock, alice, bob) = service().await;
    let token = issue(&auth, &alice).await;
    auth.change_password("alice", "new password")
        .await
        .unwrap()
        .unwrap();
    let heard_now = drain(&heard);
    assert_eq!(heard_now[0], Revocation::User(alice.clone()));
    assert_eq!(ended(&heard_now[1..])[0].digest, token.token.digest());

    let token = issue(&auth, &alice).await;
    auth.revoke_everything(&alice).await.unwrap().unwrap();
    let heard_now = drain(&heard);
    assert_eq!(heard_now[0], Revocation::User(alice.clone()));
    assert_eq!(ended(&heard_now[1..])[0].digest, token.token.digest());

    issue(&auth, &bob).await;
    auth.set_active("bob", false).await.unwrap().unwrap();
    assert_eq!(
        drain(&heard),
        vec![Revocation::User(bob.clone())],
        "kept, but refused"
    );
    auth.set_active("bob", true).await.unwrap().unwrap();
    assert_eq!(drain(&heard), vec![], "reactivation ends nothing");

    let (_, deleted) = auth.delete_user("bob").await.unwrap().unwrap();
    assert_eq!(deleted, 1);
    let heard_now = drain(&heard);
    assert_eq!(heard_now[0], Revocation::User(bob.clone()));
    assert_eq!(ended(&heard_now[1..]).len(), 1);
}

/// The purge names what it deleted, so a negative or positive cache entry can go too.
#[tokio::test]
async fn the_purge_names_what_it_deleted() {
    let (auth, heard, clock, alice, _bob) = service().await;
    let old = issue(&auth, &alice).await;
    clock.advance(Duration::days(40));
    let fresh = issue(&auth, &alice).await;
    assert_eq!(auth.purge(Duration::days(7), 100, |_| {}).await.unwrap(), 1);
    let gone = ended(&drain(&heard));
    assert_eq!(gone[0].digest, old.token.digest());
    assert_ne!(gone[0].id, fresh.info.id);
}

/// A local bus is a listener whose subscribers receive what the service ended.
#[tokio::test]
async fn a_local_bus_carries_revocations_to_subscribers() {
    let bus = LocalBus::default();
    let mut receiver = bus.subscribe();
    let users = MemoryUserDirectory::new();
    let alice = users.add_user("alice", PASSWORD, true).await.unwrap();
    let auth = TokenAuth::new(MemoryStore::new(), users).with_revocation_listener(bus.clone());
    let token = issue(&auth, &alice).await;
    auth.revoke(&token.info.id).await.unwrap();
    match receiver.try_recv().unwrap() {
        Revocation::Tokens(ended) => assert_eq!(ended[0].digest, token.token.digest()),
        other => panic!("{other:?}"),
    }
    bus.publish(&Revocation::Everything).await.unwrap();
    assert_eq!(receiver.try_recv().unwrap(), Revocation::Everything);
}
