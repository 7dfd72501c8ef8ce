//! The revocation-bus suite: what every [`RevocationBus`] must deliver, so that the
//! caches of every process drop what any process ended.
//!
//! A bus may widen what it delivers, never narrow it: the contract is that nothing
//! revoked stays cached. It may carry ended tokens as their users
//! ([`Revocation::User`]: the PostgreSQL bus sends no token data), split a large
//! revocation into parts, or send [`Revocation::Everything`] at any time (after a
//! reconnection, when something may have been missed). The cases therefore wait until
//! what arrived *covers* what was published.

use std::time::Duration;

use tokenauth_core::store::{Ended, RevocationBus, TokenDigest};
use tokenauth_core::{Revocation, TokenId, UserId};
use tokio::sync::broadcast::{self, error::RecvError};

/// Two handles on one bus, as two processes hold them: what [`publisher`](Self::publisher)
/// publishes, every subscriber of [`subscriber`](Self::subscriber) must hear. An
/// in-process bus may pass two clones of one value; a bus over an engine should pass
/// two instances with connections of their own, as two servers would have.
#[derive(Debug)]
pub struct BusPair<B> {
    /// The handle revocations are published through.
    pub publisher: B,
    /// The handle of the other process, whose subscribers must hear them.
    pub subscriber: B,
}

/// How long a case waits for a message or a state before it fails. Generous: a bus
/// over an engine on a loaded test machine may take a while, and no case measures it.
const PATIENCE: Duration = Duration::from_secs(20);

/// Waits until `bus` says revocations reach it.
async fn until_connected<B: RevocationBus>(bus: &B) {
    let mut connected = bus.connected();
    tokio::time::timeout(PATIENCE, connected.wait_for(|up| *up))
        .await
        .expect("the bus says it is connected in time")
        .expect("the bus keeps its connection state");
}

/// Subscribes on the subscriber's side once both handles are connected.
async fn subscribed<B: RevocationBus>(pair: &BusPair<B>) -> broadcast::Receiver<Revocation> {
    until_connected(&pair.publisher).await;
    until_connected(&pair.subscriber).await;
    pair.subscriber.subscribe()
}

/// A user id no other case or process uses: buses over an engine are shared by every
/// test running on it at the same time.
fn unique_user(name: &str) -> UserId {
    UserId::new(format!("{name}-{}", TokenId::generate()))
}

/// An ended token of `user`, the `n`th.
fn ended(user: &str, n: u8) -> Ended {
    Ended {
        id: TokenId::generate(),
        digest: TokenDigest::from_bytes([n; 32]),
        user_id: unique_user(user),
    }
}

/// Whether `received` drops everything `published` names.
fn covers(received: &[Revocation], published: &Revocation) -> bool {
    let drops_user = |user: &UserId| {
        received.iter().any(|r| match r {
            Revocation::Everything => true,
            Revocation::User(id) => id == user,
            _ => false,
        })
    };
    let drops_token = |ended: &Ended| {
        drops_user(&ended.user_id)
            || received
                .iter()
                .any(|r| matches!(r, Revocation::Tokens(part) if part.contains(ended)))
    };
    match published {
        Revocation::Tokens(all) => all.iter().all(drops_token),
        Revocation::User(user) => drops_user(user),
        _ => received.contains(&Revocation::Everything),
    }
}

/// Receives until what arrived covers `published`.
async fn until_covered(receiver: &mut broadcast::Receiver<Revocation>, published: &Revocation) {
    let mut received = Vec::new();
    while !covers(&received, published) {
        let next = tokio::time::timeout(PATIENCE, receiver.recv())
            .await
            .unwrap_or_else(|_| panic!("{published:?} is covered in time; received {received:?}"));
        match next {
            Ok(revocation) => received.push(revocation),
            // Messages were missed: the subscriber must flush, which covers everything.
            Err(RecvError::Lagged(_)) => received.push(Revocation::Everything),
            Err(RecvError::Closed) => panic!("the bus closed its subscription"),
        }
    }
}

/// Both handles say they are connected (a bus that cannot prove delivery would keep
/// every following cache paused).
pub async fn both_handles_connect<B: RevocationBus>(pair: BusPair<B>) {
    until_connected(&pair.publisher).await;
    until_connected(&pair.subscriber).await;
}

/// Each kind of revocation reaches the other handle: ended tokens (of users with ids
/// of any shape), a user, and everything.
pub async fn every_kind_arrives<B: RevocationBus>(pair: BusPair<B>) {
    let mut receiver = subscribed(&pair).await;
    let kinds = [
        Revocation::Tokens(vec![ended("1", 1), ended("user:é \"2\"", 2)]),
        Revocation::User(unique_user("42")),
        Revocation::Everything,
    ];
    for revocation in &kinds {
        pair.publisher.publish(revocation).await.expect("publish");
        until_covered(&mut receiver, revocation).await;
    }
}

/// Revocations from one publisher arrive in the order they were published, none
/// missed.
pub async fn revocations_arrive_in_order<B: RevocationBus>(pair: BusPair<B>) {
    let mut receiver = subscribed(&pair).await;
    let users: Vec<UserId> = (0..50).map(|n| unique_user(&n.to_string())).collect();
    for user in &users {
        let revocation = Revocation::User(user.clone());
        pair.publisher.publish(&revocation).await.expect("publish");
    }
    let mut heard = Vec::new();
    while heard.len() < users.len() {
        let next = tokio::time::timeout(PATIENCE, receiver.recv())
            .await
            .expect("a revocation arrives in time");
        match next.expect("no revocation is missed") {
            Revocation::User(user) if users.contains(&user) => heard.push(user),
            // Another test's, or a flush the bus added.
            _ => {}
        }
    }
    assert_eq!(heard, users);
}

/// Every subscriber hears every revocation, on the other handle and on the
/// publisher's own (a process's own cache follows the bus too).
pub async fn every_subscriber_hears<B: RevocationBus>(pair: BusPair<B>) {
    let mut first = subscribed(&pair).await;
    let mut second = pair.subscriber.subscribe();
    let mut own = pair.publisher.subscribe();
    let revocation = Revocation::User(unique_user("7"));
    pair.publisher.publish(&revocation).await.expect("publish");
    for receiver in [&mut first, &mut second, &mut own] {
        until_covered(receiver, &revocation).await;
    }
}

/// A revocation too large for one message (a purge of many tokens of many users)
/// still ends every token it names.
pub async fn a_large_revocation_ends_every_token<B: RevocationBus>(pair: BusPair<B>) {
    let mut receiver = subscribed(&pair).await;
    let all: Vec<Ended> = (0..=255u8)
        .map(|n| {
            ended(
                &format!("{n} and a user id long enough to fill messages quickly"),
                n,
            )
        })
        .collect();
    let revocation = Revocation::Tokens(all);
    pair.publisher.publish(&revocation).await.expect("publish");
    until_covered(&mut receiver, &revocation).await;
}
