//! The revocation signal between processes sharing a PostgreSQL database: `NOTIFY` to
//! publish, a dedicated `LISTEN` connection to receive.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokenauth_core::{Revocation, RevocationBus, UserId};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Error;

/// The channel revocations travel on.
pub const REVOCATION_CHANNEL: &str = "tokenauth_revocations";

/// The default bound of [`PgRevocationBus`]: 1 second.
pub const DEFAULT_BUS_BOUND: Duration = Duration::from_secs(1);

/// The most a `NOTIFY` payload carries, in bytes (PostgreSQL's limit is 8000).
const MAX_PAYLOAD: usize = 7_000;

/// How many revocations a subscriber may fall behind before it must flush.
const CAPACITY: usize = 4096;

/// A [`RevocationBus`] on PostgreSQL's `LISTEN`/`NOTIFY`: every process that shares the
/// database hears what any of them ended.
///
/// - [`publish`](RevocationBus::publish) sends `NOTIFY tokenauth_revocations` with a
///   small JSON payload naming the **users** concerned (`{"from":"…","users":["42"]}`),
///   or `{"from":"…","all":true}`: no token, digest or token id leaves the process.
///   Subscribers receive [`Revocation::User`] for each user (a cache drops the user
///   and all of its cached tokens, which costs that user's other tokens one lookup
///   each), or [`Revocation::Everything`].
/// - A task holds one dedicated connection (a pool of its own, with the main pool's
///   connect options) that `LISTEN`s, and forwards what arrives to the subscribers.
///
/// # The bound
///
/// The listener also `NOTIFY`s itself every quarter of the bound on a channel of its
/// own, and the bus is [connected](RevocationBus::connected) only while the newest of
/// these heartbeats it has heard was **sent** less than three quarters of the bound ago
/// (checked every quarter). PostgreSQL delivers notifications to a listener in commit
/// order, so every revocation notified before that heartbeat has been received. Hence a
/// cache following this bus ([`AuthCache::follow`](tokenauth_core::AuthCache::follow))
/// never serves a token whose revocation was notified more than the bound (default
/// [`DEFAULT_BUS_BOUND`], 1 s) ago: either the notification arrived and the entry is
/// gone, or the heartbeats stopped and the cache is paused (serving nothing from
/// memory). When the connection drops, the bus is disconnected at once, reconnects
/// (with a backoff up to 2 s), and is connected again (subscribers get
/// [`Revocation::Everything`]) once it hears its own heartbeat on the new connection.
///
/// What the bound does not cover: the notification is sent by the process that made the
/// change right after its commit ([`Publisher`](tokenauth_core::Publisher)); if that
/// process dies in between, or cannot reach the database for its retries, other caches
/// keep the entries until their TTL.
///
/// The channel is database-wide: deployments that share a database in different schemas
/// hear each other's revocations, which costs them lookups (their caches drop users of
/// the other deployment's ids too) but never serves a revoked token.
///
/// Clones share the connection; the tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct PgRevocationBus {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    sender: broadcast::Sender<Revocation>,
    connected: watch::Receiver<bool>,
    /// This bus's name in payloads and its heartbeat channel: random.
    instance: String,
    /// What the listening tasks need, until the first subscriber starts them: a
    /// process that only publishes (the command-line tool) never listens.
    idle: Mutex<Option<Listening>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().unwrap_or_else(|e| e.into_inner()).iter() {
            task.abort();
        }
    }
}

impl fmt::Debug for PgRevocationBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgRevocationBus")
            .field("connected", &*self.inner.connected.borrow())
            .finish_non_exhaustive()
    }
}

/// What travels in a `NOTIFY`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    from: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    users: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    all: bool,
}

impl PgRevocationBus {
    /// A bus on `pool`'s database with the [default bound](DEFAULT_BUS_BOUND).
    ///
    /// It listens from the first call to [`subscribe`](RevocationBus::subscribe) or
    /// [`connected`](RevocationBus::connected) on, on tasks of the Tokio runtime of
    /// that call; it starts disconnected and connects in the background. A bus that is
    /// only published on opens no `LISTEN` connection.
    pub fn new(pool: PgPool) -> Self {
        Self::with_bound(pool, DEFAULT_BUS_BOUND)
    }

    /// [`new`](Self::new) with another bound (at least 40 ms): shorter means more
    /// heartbeats (four per bound) and more pauses when the database is slow.
    pub fn with_bound(pool: PgPool, bound: Duration) -> Self {
        let bound = bound.max(Duration::from_millis(40));
        let instance = format!("{:016x}", rand_u64());
        let heartbeat_channel = format!("{REVOCATION_CHANNEL}_{instance}");
        let (sender, _) = broadcast::channel(CAPACITY);
        let (connected_tx, connected) = watch::channel(false);
        let listening = Listening {
            pool: pool.clone(),
            sender: sender.clone(),
            connected: connected_tx,
            instance: instance.clone(),
            heartbeat_channel,
            started: Instant::now(),
            bound,
        };
        Self {
            inner: Arc::new(Inner {
                pool,
                sender,
                connected,
                instance,
                idle: Mutex::new(Some(listening)),
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Starts listening, the first time.
    fn listen(&self) {
        let Some(listening) = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let pinger = ping(
            self.inner.pool.clone(),
            listening.heartbeat_channel.clone(),
            listening.started,
            listening.bound,
        );
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.push(tokio::spawn(pinger));
        tasks.push(tokio::spawn(listen(listening)));
    }

    fn payloads(&self, revocation: &Revocation) -> Vec<String> {
        let users: BTreeSet<&UserId> = match revocation {
            Revocation::Tokens(ended) => ended.iter().map(|e| &e.user_id).collect(),
            Revocation::User(id) => BTreeSet::from([id]),
            _ => return vec![self.encode(Vec::new(), true)],
        };
        let mut payloads = Vec::new();
        let mut chunk: Vec<String> = Vec::new();
        let mut size = 0;
        for user in users {
            let id = user.as_str();
            if id.len() > MAX_PAYLOAD / 2 {
                // Too long to name: everyone flushes instead.
                return vec![self.encode(Vec::new(), true)];
            }
            if size + id.len() + 8 > MAX_PAYLOAD {
                payloads.push(self.encode(std::mem::take(&mut chunk), false));
                size = 0;
            }
            // JSON escaping can at most double a user id's length (plus quotes).
            size += 2 * id.len() + 3;
            chunk.push(id.to_owned());
        }
        if !chunk.is_empty() {
            payloads.push(self.encode(chunk, false));
        }
        payloads
    }

    fn encode(&self, users: Vec<String>, all: bool) -> String {
        let payload = Payload {
            from: self.inner.instance.clone(),
            users,
            all,
        };
        serde_json::to_string(&payload).expect("a payload serializes")
    }
}

impl RevocationBus for PgRevocationBus {
    type Error = Error;

    async fn publish(&self, revocation: &Revocation) -> Result<(), Error> {
        // This process's subscribers hear it at once; the listener skips its echo.
        let _ = self.inner.sender.send(revocation.clone());
        for payload in self.payloads(revocation) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(REVOCATION_CHANNEL)
                .bind(&payload)
                .execute(&self.inner.pool)
                .await?;
        }
        Ok(())
    }

    /// Starts listening, if not yet (see [`new`](PgRevocationBus::new)).
    fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        let receiver = self.inner.sender.subscribe();
        self.listen();
        receiver
    }

    /// Starts listening, if not yet (see [`new`](PgRevocationBus::new)).
    fn connected(&self) -> watch::Receiver<bool> {
        self.listen();
        self.inner.connected.clone()
    }
}

/// Sends a heartbeat (the time it was sent, in microseconds since `started`) every
/// quarter of `bound`.
async fn ping(pool: PgPool, channel: String, started: Instant, bound: Duration) {
    let mut every = tokio::time::interval(bound / 4);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let sent = started.elapsed().as_micros().to_string();
        let notify = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&channel)
            .bind(&sent)
            .execute(&pool);
        // A heartbeat that cannot be sent in time is simply missing.
        if let Ok(Err(error)) = tokio::time::timeout(bound / 2, notify).await {
            tracing::debug!(%error, "revocation bus heartbeat failed");
        }
    }
}

struct Listening {
    pool: PgPool,
    sender: broadcast::Sender<Revocation>,
    connected: watch::Sender<bool>,
    instance: String,
    heartbeat_channel: String,
    started: Instant,
    bound: Duration,
}

/// Listens, forwards, watches the heartbeats, and reconnects, forever.
async fn listen(state: Listening) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match state.connect().await {
            Ok(listener) => {
                backoff = Duration::from_millis(100);
                state.serve(listener).await;
                tracing::warn!("revocation bus connection lost; reconnecting");
            }
            Err(error) => tracing::warn!(%error, "revocation bus cannot listen; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

impl Listening {
    async fn connect(&self) -> Result<PgListener, sqlx::Error> {
        // A pool of one of its own: the LISTEN connection is held for good, and must
        // not take one of the requests' connections.
        let options = PgPoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with((*self.pool.connect_options()).clone());
        let mut listener = PgListener::connect_with(&options).await?;
        listener.eager_reconnect(false);
        listener
            .listen_all([REVOCATION_CHANNEL, self.heartbeat_channel.as_str()])
            .await?;
        Ok(listener)
    }

    /// Serves one connection until it fails.
    async fn serve(&self, mut listener: PgListener) {
        let mut newest_heartbeat: Option<Instant> = None;
        let mut watchdog = tokio::time::interval(self.bound / 4);
        loop {
            tokio::select! {
                // `try_recv` is cancel-safe: a message is consumed only once complete.
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) if notification.channel() == self.heartbeat_channel => {
                        let sent = notification
                            .payload()
                            .parse::<u64>()
                            .ok()
                            .map(|micros| self.started + Duration::from_micros(micros));
                        newest_heartbeat = newest_heartbeat.max(sent);
                        if self.fresh(newest_heartbeat) && !*self.connected.borrow() {
                            // What was missed while disconnected may be anything.
                            let _ = self.sender.send(Revocation::Everything);
                            self.connected.send_replace(true);
                        }
                    }
                    Ok(Some(notification)) => self.forward(notification.payload()),
                    Ok(None) | Err(_) => break,
                },
                _ = watchdog.tick() => {
                    if !self.fresh(newest_heartbeat) && *self.connected.borrow() {
                        tracing::warn!("revocation bus heartbeats late; caches paused");
                        self.connected.send_replace(false);
                    }
                }
            }
        }
        self.connected.send_replace(false);
    }

    fn fresh(&self, heartbeat: Option<Instant>) -> bool {
        heartbeat.is_some_and(|sent| sent.elapsed() < self.bound * 3 / 4)
    }

    fn forward(&self, payload: &str) {
        let Ok(payload) = serde_json::from_str::<Payload>(payload) else {
            // Not ours, or garbled: whatever it meant, flushing is safe.
            tracing::warn!("unreadable revocation notification; flushing caches");
            let _ = self.sender.send(Revocation::Everything);
            return;
        };
        if payload.from == self.instance {
            // Our own: `publish` told this process's subscribers already.
            return;
        }
        if payload.all {
            let _ = self.sender.send(Revocation::Everything);
        }
        for user in payload.users {
            let _ = self.sender.send(Revocation::User(UserId::new(user)));
        }
    }
}

/// A random number: this bus's name, so that its heartbeats and payloads are its own.
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::process::id())
}
