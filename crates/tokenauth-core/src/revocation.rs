//! The revocation signal: what ended, for caches.
//!
//! Every operation of [`TokenAuth`](crate::TokenAuth) that ends a token (logout,
//! logout-all, revoke by id, eviction, `replace`, a password change, deactivation,
//! deletion of a user, "revoke everything", the purge) tells the
//! [`RevocationListener`] what ended, after the store has committed it. A cache in
//! front of a store and a directory, in the same process, stays exactly coherent by
//! dropping what each [`Revocation`] names.
//!
//! Across processes the same signal travels through a [`RevocationBus`], implemented
//! by a backend with its engine's own mechanism (PostgreSQL `LISTEN/NOTIFY`, a log table
//! polled on SQLite, Redis pub/sub). [`LocalBus`] is the in-process one, for tests and
//! single-process apps.

use std::fmt;
use std::future::Future;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::store::Ended;
use crate::user::UserId;

/// Something that ended, as a cache needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    /// These tokens were deleted.
    Tokens(Vec<Ended>),
    /// Something about this user changed that can end its tokens without deleting them
    /// (a new credential version, deactivation, deletion): drop every cached token of
    /// the user, and the user.
    User(UserId),
    /// Anything may have changed (for example, a bus connection dropped and messages
    /// may have been missed): drop everything.
    Everything,
}

/// Told of every [`Revocation`], after it is committed. Called inline: keep it quick
/// (hand slow work, such as publishing, to a task).
pub trait RevocationListener: Send + Sync + 'static {
    /// Something ended.
    fn revoked(&self, revocation: &Revocation);
}

impl<F: Fn(&Revocation) + Send + Sync + 'static> RevocationListener for F {
    fn revoked(&self, revocation: &Revocation) {
        self(revocation);
    }
}

impl fmt::Debug for dyn RevocationListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RevocationListener")
    }
}

/// The cross-process revocation signal a backend implements, so that caches in every
/// instance drop what any instance ended.
///
/// - [`publish`](Self::publish) sends a revocation to every subscriber of every
///   process (including this one).
/// - [`subscribe`](Self::subscribe) receives them. Whenever revocations may have been
///   missed (the connection to the engine dropped and came back, or the receiver
///   lagged), the subscriber receives [`Revocation::Everything`] (or sees
///   [`broadcast::error::RecvError::Lagged`]) and must flush: a missed revocation must
///   never leave a token valid in a cache.
///
/// PostgreSQL implements it with `NOTIFY tokenauth_revocations, '<payload>'` and a
/// dedicated `LISTEN` connection; SQLite with rows in a log table, polled on a
/// connection of its own; Redis with `PUBLISH` and a `SUBSCRIBE` connection.
/// The delay between a commit and every instance's cache dropping the entry is the
/// backend's documented bound.
///
/// # Example
///
/// A bus within one process; one between processes does the same over its engine:
///
#[doc = concat!("```\n", include_str!("../doc/channel_bus.rs"), "```")]
pub trait RevocationBus: Send + Sync + 'static {
    /// What can go wrong publishing.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Sends `revocation` to every subscriber, in every process.
    fn publish(&self, revocation: &Revocation) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// A receiver of every revocation published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Revocation>;

    /// Whether revocations published elsewhere reach this process right now: `false`
    /// while the bus's connection to its engine is down or its delivery is late beyond
    /// the bus's bound, when messages may be missed. A cache following the bus
    /// ([`AuthCache::follow`](crate::AuthCache::follow)) serves nothing from memory
    /// meanwhile, and flushes when it turns `true` again.
    ///
    /// The default is always `true`: for buses that cannot miss a message, such as
    /// [`LocalBus`].
    fn connected(&self) -> watch::Receiver<bool> {
        // A sender that lives as long as the process: a closed channel would mean that
        // no one vouches for the bus any more, and a following cache would pause.
        static ALWAYS: std::sync::LazyLock<watch::Sender<bool>> =
            std::sync::LazyLock::new(|| watch::channel(true).0);
        ALWAYS.subscribe()
    }
}

/// Publishes what a service ends on a [`RevocationBus`], from a task: pass it to
/// [`TokenAuth::with_revocation_listener`](crate::TokenAuth::with_revocation_listener).
///
/// The listener is called inline, after the store committed; publishing takes a round
/// trip to the engine, so it is queued, and a task publishes in order. A failed publish
/// is retried (after 100 ms, then 400 ms), then logged and dropped: the caches of other
/// processes then keep the revoked entries until their TTL. Before a short-lived
/// process exits (a command-line tool), [`flush`](Self::flush) waits until everything
/// queued has been published.
///
/// Clones share the queue.
#[derive(Debug, Clone)]
pub struct Publisher {
    queue: mpsc::UnboundedSender<Job>,
}

#[derive(Debug)]
enum Job {
    Publish(Revocation),
    Flush(oneshot::Sender<()>),
}

impl Publisher {
    /// Starts publishing on `bus`, on a task of the current Tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn start<B: RevocationBus>(bus: B) -> Self {
        // Unbounded: revocations are rare next to requests, and dropping one would
        // leave a revoked token in other processes' caches.
        let (queue, mut jobs) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(job) = jobs.recv().await {
                match job {
                    Job::Publish(revocation) => publish_retrying(&bus, &revocation).await,
                    Job::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        Self { queue }
    }

    /// Waits until every revocation queued before this call has been published (or
    /// given up on).
    pub async fn flush(&self) {
        let (done, published) = oneshot::channel();
        if self.queue.send(Job::Flush(done)).is_ok() {
            let _ = published.await;
        }
    }
}

async fn publish_retrying<B: RevocationBus>(bus: &B, revocation: &Revocation) {
    let pauses = [100, 400];
    for attempt in 0..=pauses.len() {
        match bus.publish(revocation).await {
            Ok(()) => return,
            Err(error) if attempt < pauses.len() => {
                tracing::debug!(
                    error = &error as &dyn std::error::Error,
                    "publishing a revocation failed; retrying"
                );
                tokio::time::sleep(std::time::Duration::from_millis(pauses[attempt])).await;
            }
            Err(error) => tracing::warn!(
                error = &error as &dyn std::error::Error,
                "publishing a revocation failed; other processes' caches keep it until their TTL"
            ),
        }
    }
}

impl RevocationListener for Publisher {
    fn revoked(&self, revocation: &Revocation) {
        // The task ends only with the runtime: then there is nobody to publish to.
        let _ = self.queue.send(Job::Publish(revocation.clone()));
    }
}

/// A [`RevocationBus`] within one process, on a Tokio broadcast channel. Clones share
/// the channel.
#[derive(Debug, Clone)]
pub struct LocalBus {
    sender: broadcast::Sender<Revocation>,
}

impl LocalBus {
    /// A bus whose subscribers may fall `capacity` messages behind before they see
    /// `Lagged` (and must flush).
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity.max(1)).0,
        }
    }
}

impl Default for LocalBus {
    /// Room for 1024 messages.
    fn default() -> Self {
        Self::new(1024)
    }
}

impl RevocationBus for LocalBus {
    type Error = std::convert::Infallible;

    async fn publish(&self, revocation: &Revocation) -> Result<(), Self::Error> {
        // No subscriber is not an error: nothing is cached anywhere.
        let _ = self.sender.send(revocation.clone());
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.sender.subscribe()
    }
}

/// Publishing on a local bus is synchronous, so the bus is also a listener: pass it to
/// [`TokenAuth::with_revocation_listener`](crate::TokenAuth::with_revocation_listener).
impl RevocationListener for LocalBus {
    fn revoked(&self, revocation: &Revocation) {
        let _ = self.sender.send(revocation.clone());
    }
}

/// How a [`RevocationBus`] proves that it delivers: it publishes heartbeats of its own
/// through the very path its revocations take, every [`interval`](Self::interval) (a
/// quarter of the bound), and is connected only while the newest one it has **heard**
/// was **sent** less than three quarters of the bound ago. A bus whose path loses
/// messages (a partitioned cluster, a publisher and a subscriber on different servers,
/// a subscription silently dead) stops hearing them, and its caches pause, within the
/// bound; a bus that merely answers pings would go on serving.
///
/// Each value stamps the heartbeats it sends with the time since it was made, and
/// believes only those: a stamp from the future (a forged or foreign heartbeat) or one
/// that does not parse is ignored. The channel or payload should also carry a random
/// per-instance nonce, so that another instance's heartbeats are not heard as its own.
#[derive(Debug, Clone)]
pub struct Heartbeats {
    started: tokio::time::Instant,
    bound: std::time::Duration,
    newest: Option<tokio::time::Instant>,
}

impl Heartbeats {
    /// Heartbeats for a bus that vouches for delivery within `bound` (at least 40 ms).
    pub fn new(bound: std::time::Duration) -> Self {
        Self {
            started: tokio::time::Instant::now(),
            bound: bound.max(std::time::Duration::from_millis(40)),
            newest: None,
        }
    }

    /// How often to send one, and to check [`is_fresh`](Self::is_fresh): a quarter of
    /// the bound.
    pub fn interval(&self) -> std::time::Duration {
        self.bound / 4
    }

    /// The payload of a heartbeat sent now.
    pub fn stamp(&self) -> String {
        self.started.elapsed().as_micros().to_string()
    }

    /// A heartbeat of this bus was received carrying `payload`; whether the bus is
    /// fresh now.
    pub fn heard(&mut self, payload: &str) -> bool {
        let sent = payload
            .parse::<u64>()
            .ok()
            .and_then(|micros| self.started.checked_add(std::time::Duration::from_micros(micros)))
            .filter(|sent| *sent <= tokio::time::Instant::now());
        self.newest = self.newest.max(sent);
        self.is_fresh()
    }

    /// Whether a heartbeat sent less than three quarters of the bound ago was heard.
    pub fn is_fresh(&self) -> bool {
        self.newest
            .is_some_and(|sent| sent.elapsed() < self.bound * 3 / 4)
    }
}

#[cfg(test)]
mod heartbeat_tests {
    use std::time::Duration;

    use super::Heartbeats;

    #[tokio::test(start_paused = true)]
    async fn fresh_only_while_own_recent_heartbeats_are_heard() {
        let mut beats = Heartbeats::new(Duration::from_secs(1));
        assert!(!beats.is_fresh(), "nothing heard yet");
        let stamp = beats.stamp();
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(beats.heard(&stamp), "sent 100 ms ago");
        tokio::time::advance(Duration::from_millis(700)).await;
        assert!(!beats.is_fresh(), "the newest was sent 800 ms ago");
        // An old heartbeat arriving late does not make it fresh again.
        assert!(!beats.heard(&stamp));
    }

    #[tokio::test(start_paused = true)]
    async fn future_and_unreadable_stamps_are_ignored() {
        let mut beats = Heartbeats::new(Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(5)).await;
        // A stamp an hour ahead would keep a bus "fresh" for an hour.
        let future = Duration::from_secs(3605).as_micros().to_string();
        assert!(!beats.heard(&future));
        assert!(!beats.heard(&u64::MAX.to_string()));
        assert!(!beats.heard("soon"));
        let now = beats.stamp();
        assert!(beats.heard(&now));
        tokio::time::advance(Duration::from_millis(750)).await;
        assert!(!beats.is_fresh(), "the forged stamps kept nothing fresh");
    }
}
