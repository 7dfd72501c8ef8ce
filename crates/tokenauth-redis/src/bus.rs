//! [`RedisBus`]: the revocation signal over Redis pub/sub.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::PubSub;
use serde::{Deserialize, Serialize};
use tokenauth_core::store::{Ended, Heartbeats, RevocationBus, RevocationListener, TokenDigest};
use tokenauth_core::{Revocation, TokenId, UserId};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::Error;
use crate::codec::{hex, unhex};
use crate::connection::{Connection, DEFAULT_TIMEOUT, Target};
use crate::keys::Keys;

/// How a [`RedisBus`] connects and proves that it delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusOptions {
    /// How long connecting, subscribing and publishing may take (default
    /// [`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    /// The delivery bound (default 1 s): the bus is connected only while it hears its
    /// own heartbeats, sent every quarter of it through the path revocations take
    /// ([`Heartbeats`]).
    pub bound: Duration,
    /// How many revocations a slow subscriber may fall behind before it sees `Lagged`
    /// (default 1024).
    pub capacity: usize,
}

impl BusOptions {
    /// These options with `timeout` for connecting, subscribing and publishing.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// These options with the delivery bound `bound` (at least 40 ms).
    pub fn with_bound(mut self, bound: Duration) -> Self {
        self.bound = bound;
        self
    }

    /// These options with room for `capacity` revocations per subscriber.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }
}

impl Default for BusOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            bound: Duration::from_secs(1),
            capacity: 1024,
        }
    }
}

/// A [`RevocationBus`] on Redis pub/sub: [`publish`](RevocationBus::publish) sends a
/// `PUBLISH` on `PREFIX:revocations`; one `SUBSCRIBE` connection per bus forwards what
/// arrives to the subscribers of a Tokio broadcast channel. On a Redis Cluster the
/// same works unchanged, since a cluster delivers classic `PUBLISH` messages to the
/// subscribers of every node.
///
/// # Delivery, proven
///
/// The bus publishes a heartbeat of its own (on `PREFIX:heartbeat:NONCE`, a random
/// nonce per bus) through the same publishing connection every quarter of the bound,
/// and is [connected](RevocationBus::connected) only while it hears them
/// ([`Heartbeats`]): a bus whose messages stop arriving, whatever the cause (a
/// partitioned cluster, a publisher and a subscriber reaching different servers, a
/// dead subscription), pauses a following cache within the bound
/// ([`BusOptions::bound`], 1 s by default), instead of serving tokens whose revocations
/// it no longer receives. It [connects](Self::connect) once it has heard its first
/// heartbeat (or, if none comes within the timeout, disconnected, listening on).
///
/// When the subscription connection closes, or no heartbeat has been heard for the
/// timeout, subscribers receive [`Revocation::Everything`] at once, the bus subscribes
/// anew (it retries every node, with a growing pause up to 2 s), and it is connected
/// again, after another [`Revocation::Everything`], once it hears its heartbeat there.
///
/// Clones share the connection and the subscription, which ends when the last clone is
/// dropped. It is also a [`RevocationListener`]: passed to
/// `TokenAuth::with_revocation_listener`, it publishes each revocation from a task.
#[derive(Clone)]
pub struct RedisBus {
    publisher: Connection,
    channel: String,
    sender: broadcast::Sender<Revocation>,
    connected: watch::Receiver<bool>,
    _tasks: Arc<Tasks>,
}

impl fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBus")
            .field("channel", &self.channel)
            .field("subscribers", &self.sender.receiver_count())
            .field("connected", &*self.connected.borrow())
            .finish_non_exhaustive()
    }
}

/// The subscription and heartbeat tasks, stopped on drop.
struct Tasks([JoinHandle<()>; 2]);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl RedisBus {
    /// Connects to the server or cluster `url` names ([`Target::parse`]) and subscribes
    /// to `PREFIX:revocations`, with the default [`BusOptions`]. It returns once
    /// subscribed and, unless the timeout passes first, once it has heard its own first
    /// heartbeat: from then on, every revocation published reaches its subscribers.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, Error> {
        Self::connect_with(&Target::parse(url)?, prefix, BusOptions::default()).await
    }

    /// [`connect`](Self::connect) to `target` with `options`.
    pub async fn connect_with(target: &Target, prefix: &str, options: BusOptions) -> Result<Self, Error> {
        let keys = Keys::new(prefix)?;
        let channel = keys.channel();
        let heartbeat_channel = keys.heartbeat_channel(&format!("{:016x}", rand::random::<u64>()));
        let publisher = Connection::open(target, options.timeout).await?;
        let channels = [channel.clone(), heartbeat_channel.clone()];
        let first = subscribe_any(target, &channels, options.timeout).await?;
        let heartbeats = Heartbeats::new(options.bound);
        let sender = broadcast::channel(options.capacity.max(1)).0;
        let (connected_tx, mut connected) = watch::channel(false);
        let beating = tokio::spawn(beat(
            publisher.clone(),
            heartbeat_channel,
            heartbeats.clone(),
            options.timeout,
        ));
        let listening = tokio::spawn(
            Listening {
                target: target.clone(),
                channels,
                sender: sender.clone(),
                connected: connected_tx,
                heartbeats,
                options,
            }
            .run(first),
        );
        let heard = tokio::time::timeout(options.timeout, connected.wait_for(|up| *up))
            .await
            .is_ok_and(|up| up.is_ok());
        if !heard {
            tracing::warn!("revocation bus: no heartbeat heard yet; caches paused until one is");
        }
        Ok(Self {
            publisher,
            channel,
            sender,
            connected,
            _tasks: Arc::new(Tasks([beating, listening])),
        })
    }
}

impl RevocationBus for RedisBus {
    type Error = Error;

    async fn publish(&self, revocation: &Revocation) -> Result<(), Error> {
        let mut conn = self.publisher.clone();
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(encode(revocation))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.sender.subscribe()
    }

    /// `true` only while the bus hears its own recent heartbeats (see the type's
    /// docs): a cache following the bus serves nothing from memory otherwise.
    fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }
}

impl RevocationListener for RedisBus {
    /// Publishes from a task on the current Tokio runtime (a failure is logged: the
    /// other instances' buses are then most likely cut off too, and flush).
    fn revoked(&self, revocation: &Revocation) {
        let (bus, revocation) = (self.clone(), revocation.clone());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("revocation not published: no Tokio runtime");
            return;
        };
        runtime.spawn(async move {
            if let Err(error) = bus.publish(&revocation).await {
                tracing::warn!(%error, "revocation not published");
            }
        });
    }
}

/// Publishes a heartbeat on `channel` through `publisher` (the connection revocations
/// go through) every quarter of the bound.
async fn beat(publisher: Connection, channel: String, heartbeats: Heartbeats, timeout: Duration) {
    let mut every = tokio::time::interval(heartbeats.interval());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let mut conn = publisher.clone();
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(&channel).arg(heartbeats.stamp());
        // A heartbeat that cannot be sent in time is simply missing.
        if let Ok(Err(error)) = tokio::time::timeout(timeout, publish.query_async::<i64>(&mut conn)).await {
            tracing::debug!(%error, "revocation bus heartbeat not sent");
        }
    }
}

/// A subscription to `channels` on the first node of `target` that answers.
async fn subscribe_any(target: &Target, channels: &[String], timeout: Duration) -> Result<PubSub, Error> {
    let mut last = Error::Url("no URL");
    for url in target.urls() {
        let attempt = async {
            let client = target.client(url)?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channels).await?;
            Ok::<_, Error>(pubsub)
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(pubsub)) => return Ok(pubsub),
            Ok(Err(error)) => last = error,
            Err(elapsed) => {
                last = Error::Redis(std::io::Error::new(std::io::ErrorKind::TimedOut, elapsed).into())
            }
        }
    }
    Err(last)
}

/// What the subscription task holds.
struct Listening {
    target: Target,
    /// The revocation channel, then this bus's heartbeat channel.
    channels: [String; 2],
    sender: broadcast::Sender<Revocation>,
    connected: watch::Sender<bool>,
    heartbeats: Heartbeats,
    options: BusOptions,
}

impl Listening {
    /// Forwards what arrives on the subscription, and subscribes anew when it is lost,
    /// telling subscribers to flush when it is lost and when it is back.
    async fn run(mut self, first: PubSub) {
        let mut pubsub = first;
        loop {
            self.forward(pubsub).await;
            tracing::warn!("revocation bus: subscription lost, reconnecting");
            self.connected.send_replace(false);
            let _ = self.sender.send(Revocation::Everything);
            let mut pause = Duration::from_millis(50);
            pubsub = loop {
                match subscribe_any(&self.target, &self.channels, self.options.timeout).await {
                    Ok(pubsub) => break pubsub,
                    Err(error) => {
                        tracing::warn!(%error, "revocation bus: cannot subscribe");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(2));
                    }
                }
            };
            tracing::info!("revocation bus: subscribed again");
        }
    }

    /// Forwards messages until the connection closes or no heartbeat has been heard
    /// for the timeout; connected while the heartbeats are fresh.
    async fn forward(&mut self, pubsub: PubSub) {
        let (_sink, mut stream) = pubsub.split();
        let mut watchdog = tokio::time::interval(self.heartbeats.interval());
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = tokio::time::Instant::now();
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else { return };
                    let channel = message.get_channel_name();
                    if channel == self.channels[0] {
                        // No subscriber is not an error: nothing is cached anywhere.
                        let _ = self.sender.send(decode(message.get_payload_bytes()));
                    } else if channel == self.channels[1] {
                        let stamp = String::from_utf8_lossy(message.get_payload_bytes());
                        if self.heartbeats.heard(&stamp) {
                            last_heard = tokio::time::Instant::now();
                            if !*self.connected.borrow() {
                                // What was missed meanwhile may be anything.
                                let _ = self.sender.send(Revocation::Everything);
                                self.connected.send_replace(true);
                            }
                        }
                    }
                }
                _ = watchdog.tick() => {
                    if !self.heartbeats.is_fresh() && *self.connected.borrow() {
                        tracing::warn!("revocation bus: heartbeats late; caches paused");
                        self.connected.send_replace(false);
                    }
                    if last_heard.elapsed() > self.options.timeout.max(self.options.bound) {
                        // Silent for long: the subscription may be dead without a word.
                        return;
                    }
                }
            }
        }
    }
}

/// A revocation as published: JSON, with digests in hex.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Wire {
    Tokens(Vec<WireEnded>),
    User(String),
    Everything,
}

#[derive(Serialize, Deserialize)]
struct WireEnded {
    id: String,
    digest: String,
    user: String,
}

fn encode(revocation: &Revocation) -> String {
    let wire = match revocation {
        Revocation::Tokens(ended) => Wire::Tokens(
            ended
                .iter()
                .map(|e| WireEnded {
                    id: e.id.as_str().to_owned(),
                    digest: hex(e.digest.as_bytes()),
                    user: e.user_id.as_str().to_owned(),
                })
                .collect(),
        ),
        Revocation::User(user) => Wire::User(user.as_str().to_owned()),
        // `Everything`, and whatever a later core adds: the safe reading.
        _ => Wire::Everything,
    };
    serde_json::to_string(&wire).expect("a revocation serializes")
}

/// A published revocation; anything unreadable (a newer or foreign publisher) is
/// read as [`Revocation::Everything`], never ignored.
fn decode(payload: &[u8]) -> Revocation {
    let decoded = serde_json::from_slice::<Wire>(payload)
        .ok()
        .and_then(|wire| match wire {
            Wire::Tokens(ended) => ended
                .into_iter()
                .map(|e| {
                    Some(Ended {
                        id: e.id.parse::<TokenId>().ok()?,
                        digest: TokenDigest::from_bytes(unhex(&e.digest)?),
                        user_id: UserId::new(e.user),
                    })
                })
                .collect::<Option<Vec<_>>>()
                .map(Revocation::Tokens),
            Wire::User(user) => Some(Revocation::User(UserId::new(user))),
            Wire::Everything => Some(Revocation::Everything),
        });
    decoded.unwrap_or(Revocation::Everything)
}

#[cfg(test)]
mod tests {
    use tokenauth_core::TokenFormat;

    use super::*;

    #[test]
    fn revocations_round_trip_and_garbage_flushes() {
        let ended = Ended {
            id: TokenId::generate(),
            digest: TokenFormat::default().generate().digest(),
            user_id: UserId::new("7"),
        };
        for revocation in [
            Revocation::Tokens(vec![ended]),
            Revocation::User(UserId::new("a b")),
            Revocation::Everything,
        ] {
            assert_eq!(decode(encode(&revocation).as_bytes()), revocation);
        }
        assert_eq!(decode(b"{\"later\":1}"), Revocation::Everything);
        assert_eq!(decode(b"\xff"), Revocation::Everything);
    }
}
