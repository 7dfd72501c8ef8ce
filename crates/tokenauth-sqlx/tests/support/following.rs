//! Following a polled revocation log from a test (SQLite's, MySQL's): wait for a bus's
//! state, for a revocation, for a connected follower.

use std::time::Duration;

use tokenauth_core::Revocation;
use tokenauth_core::store::RevocationBus;
use tokio::sync::broadcast;

/// How long each step may take: the bound (1 s) with room for a loaded machine.
pub(crate) const WITHIN: Duration = Duration::from_secs(10);

/// Waits until the bus's connected state is `state`.
pub(crate) async fn connected(bus: &impl RevocationBus, state: bool) {
    let mut watch = bus.connected();
    tokio::time::timeout(WITHIN, watch.wait_for(|now| *now == state))
        .await
        .unwrap_or_else(|_| panic!("the bus is not connected={state} after {WITHIN:?}"))
        .expect("the bus lives");
}

/// Receives until `wanted` arrives (or, for a flush, until the receiver lagged, which
/// makes a follower flush too); returns what came before it.
pub(crate) async fn receive(
    receiver: &mut broadcast::Receiver<Revocation>,
    wanted: &Revocation,
) -> Vec<Revocation> {
    let mut before = Vec::new();
    let found = tokio::time::timeout(WITHIN, async {
        loop {
            match receiver.recv().await {
                Ok(revocation) if &revocation == wanted => return,
                Ok(other) => before.push(other),
                Err(broadcast::error::RecvError::Lagged(_)) if wanted == &Revocation::Everything => return,
                Err(broadcast::error::RecvError::Lagged(_)) => before.push(Revocation::Everything),
                Err(broadcast::error::RecvError::Closed) => panic!("the bus closed"),
            }
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "{wanted:?} did not arrive within {WITHIN:?}; got {before:?}"
    );
    before
}

/// `bus`, subscribed and connected, with the flush of connecting received.
pub(crate) async fn following<B: RevocationBus>(bus: B) -> (B, broadcast::Receiver<Revocation>) {
    let mut received = bus.subscribe();
    assert!(
        !*bus.connected().borrow(),
        "disconnected until it has read the log"
    );
    connected(&bus, true).await;
    receive(&mut received, &Revocation::Everything).await;
    (bus, received)
}
