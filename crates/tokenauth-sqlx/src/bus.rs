//! What the SQL revocation buses share: the handles' state ([`Shared`]: the
//! subscribers' channel, the connected flag, the listening task started on first use
//! and stopped with the last handle), and the heartbeat rule ([`Signal`]).

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokenauth_core::Revocation;
use tokenauth_core::store::Heartbeats;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// The default bound of the SQL buses: 1 second.
pub const DEFAULT_BUS_BOUND: Duration = Duration::from_secs(1);

/// How many revocations a subscriber may fall behind before it must flush.
const CAPACITY: usize = 4096;

/// The state every handle of one bus shares. `L` is what the listening task needs,
/// kept until the first subscriber starts it: a process that only publishes (the
/// command-line tool) never listens. Dropping it stops the task.
pub(crate) struct Shared<L> {
    sender: broadcast::Sender<Revocation>,
    connected: watch::Receiver<bool>,
    /// This bus's name, so that it can tell its own messages: random.
    instance: String,
    idle: Mutex<Option<L>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl<L> Drop for Shared<L> {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().unwrap_or_else(|e| e.into_inner()) {
            task.abort();
        }
    }
}

impl<L> Shared<L> {
    /// A bus with delivery proven within `bound`; `listening` builds what its task will
    /// need from the [`Signal`] it drives and the bus's instance name.
    pub(crate) fn new(bound: Duration, listening: impl FnOnce(Signal, &str) -> L) -> Self {
        let instance = format!("{:016x}", rand_u64());
        let (sender, _) = broadcast::channel(CAPACITY);
        let (connected_tx, connected) = watch::channel(false);
        let signal = Signal {
            sender: sender.clone(),
            connected: connected_tx,
            heartbeats: Heartbeats::new(bound),
        };
        Self {
            idle: Mutex::new(Some(listening(signal, &instance))),
            sender,
            connected,
            instance,
            task: Mutex::new(None),
        }
    }

    /// This bus's instance name.
    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    /// Changes what the task will start with, if it has not started yet.
    #[cfg(feature = "postgres")]
    pub(crate) fn configure(&self, change: impl FnOnce(&mut L)) {
        if let Some(listening) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            change(listening);
        }
    }

    /// Starts the listening task `run`, the first time, on the current Tokio runtime.
    pub(crate) fn start<F>(&self, run: impl FnOnce(L) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(listening) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(tokio::spawn(run(listening)));
    }

    /// Tells this process's subscribers at once (the listener skips the echo).
    pub(crate) fn send_local(&self, revocation: &Revocation) {
        let _ = self.sender.send(revocation.clone());
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.sender.subscribe()
    }

    pub(crate) fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    pub(crate) fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }
}

/// The listening side's half: forwards to the subscribers, and keeps the heartbeat
/// rule: connected only while [`Heartbeats`] says the newest proof of delivery is
/// fresh, with a flush ([`Revocation::Everything`]) whenever it becomes connected
/// again, since what was missed meanwhile may be anything.
pub(crate) struct Signal {
    sender: broadcast::Sender<Revocation>,
    connected: watch::Sender<bool>,
    heartbeats: Heartbeats,
}

impl Signal {
    /// How often to prove delivery (and to check the proof): a quarter of the bound.
    pub(crate) fn interval(&self) -> Duration {
        self.heartbeats.interval()
    }

    /// The stamp of a proof started now.
    pub(crate) fn stamp(&self) -> String {
        self.heartbeats.stamp()
    }

    /// A proof stamped `stamp` came back: connected if it is fresh.
    pub(crate) fn heard(&mut self, stamp: &str) {
        if self.heartbeats.heard(stamp) && !*self.connected.borrow() {
            let _ = self.sender.send(Revocation::Everything);
            self.connected.send_replace(true);
        }
    }

    /// Disconnected if the newest proof is no longer fresh.
    pub(crate) fn check(&self) {
        if !self.heartbeats.is_fresh() && *self.connected.borrow() {
            tracing::warn!("revocation bus heartbeats late; caches paused");
            self.connected.send_replace(false);
        }
    }

    /// The connection is gone: disconnected at once.
    pub(crate) fn lost(&self) {
        self.connected.send_replace(false);
    }

    /// Forwards `revocation` to the subscribers.
    pub(crate) fn send(&self, revocation: Revocation) {
        let _ = self.sender.send(revocation);
    }
}

/// Waits before connecting again: 100 ms, doubling up to 2 s.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Self {
        Self(Duration::from_millis(100))
    }

    /// Connected: the next failure waits the shortest pause again.
    pub(crate) fn reset(&mut self) {
        *self = Self::new();
    }

    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
    }
}

/// A random number: a bus's name, so that its heartbeats and messages are its own.
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::process::id())
}
