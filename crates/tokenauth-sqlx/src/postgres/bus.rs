//! The revocation signal between processes sharing a PostgreSQL database: `NOTIFY` to
//! publish, a dedicated `LISTEN` connection to receive.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokenauth_core::store::RevocationBus;
use tokenauth_core::{Revocation, UserId};
use tokio::sync::{broadcast, watch};

use crate::Error;
pub use crate::bus::DEFAULT_BUS_BOUND;
use crate::bus::{Backoff, Shared, Signal};

/// The channel revocations travel on.
pub const REVOCATION_CHANNEL: &str = "tokenauth_revocations";

/// The most a `NOTIFY` payload carries, in bytes (PostgreSQL's limit is 8000).
const MAX_PAYLOAD: usize = 7_000;

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
///   connect options, or [`with_listen_options`](Self::with_listen_options)' when
///   the pool goes through a transaction-pooling PgBouncer, which cannot `LISTEN`)
///   that `LISTEN`s, and forwards what arrives to the subscribers.
/// - The tables' triggers (migration `20261201000000`) notify the same channel inside
///   every transaction that deletes tokens or changes a user's credentials, so a
///   revocation is announced atomically with its commit, whoever made it.
///
/// # The bound
///
/// The listener also `NOTIFY`s itself, on its own connection, every quarter of the
/// bound on a channel of its own, and the bus is [connected](RevocationBus::connected)
/// only while the newest of these heartbeats it has heard was **sent** less than three
/// quarters of the bound ago ([`Heartbeats`](tokenauth_core::store::Heartbeats); a
/// saturated request pool cannot delay them). PostgreSQL delivers notifications to a
/// listener in commit order, so every revocation notified before that heartbeat has
/// been received. Hence a cache following this bus
/// ([`AuthCache::follow`](tokenauth_core::AuthCache::follow)) never serves a token whose revocation was notified more than the bound (default
/// [`DEFAULT_BUS_BOUND`], 1 s) ago: either the notification arrived and the entry is
/// gone, or the heartbeats stopped and the cache is paused (serving nothing from
/// memory). When the connection drops, the bus is disconnected at once, reconnects
/// (with a backoff up to 2 s), and is connected again (subscribers get
/// [`Revocation::Everything`]) once it hears its own heartbeat on the new connection.
///
/// Revocations of tokenauth's own tables are announced by the triggers in the committing
/// transaction. What [`publish`](RevocationBus::publish) sends (an application's own
/// user table, say) is sent after the commit: if the process dies in between, other
/// caches keep the entries until their TTL.
///
/// The channel is database-wide: deployments that share a database in different schemas
/// hear each other's revocations, which costs them lookups (their caches drop users of
/// the other deployment's ids too) but never serves a revoked token.
///
/// Clones share the connection; the tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct PostgresRevocationBus {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// Its instance name is the `from` of payloads and names its heartbeat channel.
    shared: Shared<Listening>,
}

impl fmt::Debug for PostgresRevocationBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresRevocationBus")
            .field("connected", &self.inner.shared.is_connected())
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

impl PostgresRevocationBus {
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
        let shared = Shared::new(bound, |signal, instance| Listening {
            listen_options: (*pool.connect_options()).clone(),
            signal,
            instance: instance.to_owned(),
            heartbeat_channel: format!("{REVOCATION_CHANNEL}_{instance}"),
        });
        Self {
            inner: Arc::new(Inner { pool, shared }),
        }
    }

    /// This bus, opening its `LISTEN` connection with `options` instead of the pool's
    /// connect options: for a pool that goes through a transaction-pooling PgBouncer,
    /// which cannot hold a `LISTEN`, give the database's direct address here. Takes
    /// effect if the bus has not started listening yet.
    pub fn with_listen_options(self, options: PgConnectOptions) -> Self {
        self.inner
            .shared
            .configure(|listening| listening.listen_options = options);
        self
    }

    /// Starts listening, the first time.
    fn listen(&self) {
        self.inner.shared.start(listen);
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
            // Its length as JSON, escapes included (a control character takes six bytes),
            // a comma and room for the envelope.
            let encoded = serde_json::to_string(id).map_or(usize::MAX, |json| json.len() + 1);
            if encoded > MAX_PAYLOAD / 2 {
                // Too long to name: everyone flushes instead.
                return vec![self.encode(Vec::new(), true)];
            }
            if size + encoded > MAX_PAYLOAD {
                payloads.push(self.encode(std::mem::take(&mut chunk), false));
                size = 0;
            }
            size += encoded;
            chunk.push(id.to_owned());
        }
        if !chunk.is_empty() {
            payloads.push(self.encode(chunk, false));
        }
        payloads
    }

    fn encode(&self, users: Vec<String>, all: bool) -> String {
        let payload = Payload {
            from: self.inner.shared.instance().to_owned(),
            users,
            all,
        };
        serde_json::to_string(&payload).expect("a payload serializes")
    }
}

impl RevocationBus for PostgresRevocationBus {
    type Error = Error;

    async fn publish(&self, revocation: &Revocation) -> Result<(), Error> {
        // This process's subscribers hear it at once; the listener skips its echo.
        self.inner.shared.send_local(revocation);
        for payload in self.payloads(revocation) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(REVOCATION_CHANNEL)
                .bind(&payload)
                .execute(&self.inner.pool)
                .await?;
        }
        Ok(())
    }

    /// Starts listening, if not yet (see [`new`](PostgresRevocationBus::new)).
    fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        let receiver = self.inner.shared.subscribe();
        self.listen();
        receiver
    }

    /// Starts listening, if not yet (see [`new`](PostgresRevocationBus::new)).
    fn connected(&self) -> watch::Receiver<bool> {
        self.listen();
        self.inner.shared.connected()
    }
}

struct Listening {
    listen_options: PgConnectOptions,
    signal: Signal,
    instance: String,
    heartbeat_channel: String,
}

/// Listens, forwards, watches the heartbeats, and reconnects, forever.
async fn listen(mut state: Listening) {
    let mut backoff = Backoff::new();
    loop {
        match state.connect().await {
            Ok(listener) => {
                backoff.reset();
                state.serve(listener).await;
                tracing::warn!("revocation bus connection lost; reconnecting");
            }
            Err(error) => tracing::warn!(%error, "revocation bus cannot listen; retrying"),
        }
        backoff.wait().await;
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
            .connect_lazy_with(self.listen_options.clone());
        let mut listener = PgListener::connect_with(&options).await?;
        listener.eager_reconnect(false);
        listener
            .listen_all([REVOCATION_CHANNEL, self.heartbeat_channel.as_str()])
            .await?;
        Ok(listener)
    }

    /// Serves one connection until it fails: forwards what arrives, and sends the
    /// heartbeats on this same connection.
    async fn serve(&mut self, mut listener: PgListener) {
        let mut every = tokio::time::interval(self.signal.interval());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                // `try_recv` is cancel-safe: a message is consumed only once complete.
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) if notification.channel() == self.heartbeat_channel => {
                        self.signal.heard(notification.payload());
                    }
                    Ok(Some(notification)) => self.forward(notification.payload()),
                    Ok(None) | Err(_) => break,
                },
                _ = every.tick() => {
                    self.signal.check();
                    // Notifications that arrive meanwhile wait in the listener's buffer.
                    let notify = sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(&self.heartbeat_channel)
                        .bind(self.signal.stamp())
                        .execute(&mut listener);
                    match tokio::time::timeout(self.signal.interval() * 2, notify).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => {
                            tracing::debug!(%error, "revocation bus heartbeat failed");
                            break;
                        }
                        // In an unknown state mid-query: start over on a new connection.
                        Err(_) => break,
                    }
                }
            }
        }
        self.signal.lost();
    }

    fn forward(&self, payload: &str) {
        let Ok(payload) = serde_json::from_str::<Payload>(payload) else {
            // Not ours, or garbled: whatever it meant, flushing is safe.
            tracing::warn!("unreadable revocation notification; flushing caches");
            self.signal.send(Revocation::Everything);
            return;
        };
        if payload.from == self.instance {
            // Our own: `publish` told this process's subscribers already.
            return;
        }
        if payload.all {
            self.signal.send(Revocation::Everything);
        }
        for user in payload.users {
            self.signal.send(Revocation::User(UserId::new(user)));
        }
    }
}

#[cfg(test)]
mod tests {
    use tokenauth_core::{Revocation, UserId};

    use super::*;

    /// PostgreSQL refuses a `NOTIFY` payload of 8000 bytes or more. A control character
    /// takes six bytes in JSON (`\u0001`): user ids made of them still fit, split over
    /// several payloads.
    #[tokio::test]
    async fn payloads_fit_whatever_the_ids_escape_to() {
        let pool = PgPoolOptions::new()
            .connect_lazy("postgres://tokenauth@127.0.0.1:1/none")
            .unwrap();
        let bus = PostgresRevocationBus::new(pool);
        for ids in [
            (0..10)
                .map(|i| format!("{i}{}", "\u{1}".repeat(500)))
                .collect::<Vec<_>>(),
            (0..2000).map(|i| format!("user-{i}")).collect(),
        ] {
            for user in &ids {
                let payloads = bus.payloads(&Revocation::User(UserId::new(user.clone())));
                assert!(payloads.iter().all(|p| p.len() < 8000));
            }
            let ended = ids
                .iter()
                .map(|user| tokenauth_core::store::Ended {
                    id: tokenauth_core::TokenId::generate(),
                    digest: tokenauth_core::TokenFormat::default().generate().digest(),
                    user_id: UserId::new(user.clone()),
                })
                .collect();
            let payloads = bus.payloads(&Revocation::Tokens(ended));
            assert!(payloads.len() > 1, "split");
            for payload in &payloads {
                assert!(payload.len() < 8000, "{} bytes", payload.len());
            }
            let named: usize = payloads
                .iter()
                .map(|p| serde_json::from_str::<Payload>(p).unwrap().users.len())
                .sum();
            assert_eq!(named, ids.len(), "every user named");
        }
    }
}
