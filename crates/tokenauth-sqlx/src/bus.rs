//! What the SQL revocation buses share: the handles' state ([`Shared`]: the
//! subscribers' channel, the connected flag, the listening task started on first use
//! and stopped with the last handle), the heartbeat rule ([`Signal`]), and what the
//! polled logs (SQLite's, MySQL's) write and how a follower reads them back
//! ([`log_rows`], [`Signal::forward_log`]).

#[cfg(any(feature = "sqlite", feature = "mysql"))]
use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokenauth_core::Revocation;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
use tokenauth_core::UserId;
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

    /// Polls with `log` every interval until a poll fails (its error) or stalls past
    /// two intervals (as good as lost: `Ok`, to start over): each successful poll is
    /// the heartbeat stamped when it started, since a read that starts after a
    /// revocation committed sees it.
    #[cfg(any(feature = "sqlite", feature = "mysql"))]
    pub(crate) async fn poll(&mut self, log: &mut impl PolledLog) -> Result<(), crate::Error> {
        let mut every = tokio::time::interval(self.interval());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.check();
            let stamp = self.stamp();
            match tokio::time::timeout(self.interval() * 2, log.read(self)).await {
                Ok(Ok(())) => self.heard(&stamp),
                Ok(Err(error)) => return Err(error),
                Err(_) => return Ok(()),
            }
        }
    }

    /// Forwards the rows of a polled log read past `cursor` (in order, from one
    /// snapshot), skipping those `instance` published itself, and moves `cursor` past
    /// them. Numbers only ever grow one by one, and rows leave the log from its old
    /// end only: a first row past the next number means rows this follower never read
    /// are gone, and it sends a flush instead.
    #[cfg(any(feature = "sqlite", feature = "mysql"))]
    pub(crate) fn forward_log(&self, cursor: &mut i64, rows: &[LogRow], instance: &str) {
        let Some((first, _, _)) = rows.first() else {
            return;
        };
        let missed = *first != *cursor + 1;
        *cursor = rows.last().map_or(*cursor, |(seq, _, _)| *seq);
        if missed {
            tracing::warn!("revocation bus fell behind the log; flushing caches");
            // It covers every row read too: naming them would only make subscribers lag.
            self.send(Revocation::Everything);
            return;
        }
        let mut users = HashSet::new();
        for (_, user, origin) in rows {
            if origin.as_deref() == Some(instance) {
                // Our own: `publish` told this process's subscribers already.
                continue;
            }
            match user {
                Some(user) if users.insert(user.as_str()) => {
                    self.send(Revocation::User(UserId::new(user.clone())));
                }
                Some(_) => {}
                None => self.send(Revocation::Everything),
            }
        }
    }
}

/// A follower's connection to a polled log, and where it is in it.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) trait PolledLog: Sized + Send {
    /// The follower's own connection.
    type Connection: sqlx::Connection;

    /// Follows on `conn`, from the log's end (what came before is covered by the
    /// flush that connecting sends), skipping the rows `instance` publishes.
    fn open(
        conn: Self::Connection,
        instance: String,
    ) -> impl Future<Output = Result<Self, crate::Error>> + Send;

    /// Reads what was logged since the last read and forwards it to `signal`.
    fn read(&mut self, signal: &Signal) -> impl Future<Output = Result<(), crate::Error>> + Send;
}

/// What a polled log's task needs: how to connect, the heartbeat rule, and the bus's
/// name.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) struct Polling<O> {
    pub(crate) options: O,
    pub(crate) signal: Signal,
    pub(crate) instance: String,
}

/// A polled log's task: polls and forwards, and connects again (disconnected
/// meanwhile) when a poll fails, forever.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) async fn poll<L: PolledLog>(mut state: Polling<<L::Connection as sqlx::Connection>::Options>) {
    use sqlx::Connection;

    let mut backoff = Backoff::new();
    loop {
        match L::Connection::connect_with(&state.options).await {
            Ok(conn) => {
                backoff.reset();
                let served = match L::open(conn, state.instance.clone()).await {
                    Ok(mut log) => state.signal.poll(&mut log).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = served {
                    tracing::warn!(%error, "revocation bus cannot read the log; connecting again");
                }
            }
            Err(error) => tracing::warn!(%error, "revocation bus cannot connect to the database; retrying"),
        }
        state.signal.lost();
        backoff.wait().await;
    }
}

/// A row of a polled log: its number, the user whose tokens ended (none: everything),
/// and the bus that published it (none: the tables' triggers).
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) type LogRow = (i64, Option<String>, Option<String>);

/// The rows `revocation` is logged as in a polled log: its users, each once, or one
/// row of none for everything.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) fn log_rows(revocation: &Revocation) -> Vec<Option<&str>> {
    let mut seen = HashSet::new();
    match revocation {
        Revocation::Tokens(ended) => ended
            .iter()
            .map(|e| e.user_id.as_str())
            .filter(|user| seen.insert(*user))
            .map(Some)
            .collect(),
        Revocation::User(id) => vec![Some(id.as_str())],
        _ => vec![None],
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
