// A revocation bus: the example of `RevocationBus`, compiled by its docs and run
// through the conformance suite. This one is within one process, on a Tokio broadcast
// channel (as the shipped `LocalBus`); a bus between processes does the same over its
// engine: `publish` sends to the engine, a task of its own receives from the engine and
// forwards to the channel, and `connected` says whether that task hears the engine now.

use tokenauth_core::Revocation;
use tokenauth_core::store::RevocationBus;
use tokio::sync::{broadcast, watch};

#[derive(Clone)]
struct ChannelBus {
    sender: broadcast::Sender<Revocation>,
    /// Whether revocations published elsewhere reach this process right now.
    connected: watch::Sender<bool>,
}

impl Default for ChannelBus {
    fn default() -> Self {
        Self {
            // A subscriber more than 1024 messages behind sees `Lagged`, and flushes.
            sender: broadcast::channel(1024).0,
            // Nothing can be missed within a process: always connected.
            connected: watch::channel(true).0,
        }
    }
}

impl RevocationBus for ChannelBus {
    type Error = std::convert::Infallible;

    async fn publish(&self, revocation: &Revocation) -> Result<(), Self::Error> {
        // No subscriber is no error: nothing is cached anywhere.
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

// In the bus crate's tests (tokenauth-conformance runs it on this very file):
// tokenauth_conformance::revocation_bus_conformance!(async {
//     let bus = ChannelBus::default();
//     tokenauth_conformance::BusPair { publisher: bus.clone(), subscriber: bus }
// });
