//! [`RedisBus`]: the revocation signal over Redis pub/sub.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::PubSub;
use serde::{Deserialize, Serialize};
use tokenauth_core::store::Ended;
use tokenauth_core::{Revocation, RevocationBus, RevocationListener, TokenDigest, TokenId, UserId};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::Error;
use crate::codec::{hex, unhex};
use crate::connection::{Connection, DEFAULT_TIMEOUT, Target};
use crate::keys::Keys;

/// How a [`RedisBus`] connects and watches its subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusOptions {
    /// How long connecting, publishing and each ping may take (default
    /// [`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    /// How often the subscription connection is pinged (default 1 s): a connection that
    /// does not answer within `timeout` is taken as lost, so a silently dead one is
    /// noticed within `ping_interval + timeout`.
    pub ping_interval: Duration,
    /// How many revocations a slow subscriber may fall behind before it sees `Lagged`
    /// (default 1024).
    pub capacity: usize,
}

impl BusOptions {
    /// These options with `timeout` for connecting, publishing and pings.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// These options with pings every `interval`.
    pub fn with_ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
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
            ping_interval: Duration::from_secs(1),
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
/// When the subscription connection is lost (it closes, or a ping goes unanswered),
/// subscribers receive [`Revocation::Everything`] at once, and again once the bus has
/// subscribed anew (it retries every node, with a growing pause up to 2 s): whatever
/// was published meanwhile was missed, so caches flush.
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
    _listener: Arc<Listener>,
}

impl fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBus")
            .field("channel", &self.channel)
            .field("subscribers", &self.sender.receiver_count())
            .finish_non_exhaustive()
    }
}

/// The subscription task, stopped on drop.
struct Listener(JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RedisBus {
    /// Connects to the server or cluster `url` names ([`Target::parse`]) and subscribes
    /// to `PREFIX:revocations`, with the default [`BusOptions`]. It returns once
    /// subscribed: from then on, every revocation published reaches its subscribers.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, Error> {
        Self::connect_with(&Target::parse(url)?, prefix, BusOptions::default()).await
    }

    /// [`connect`](Self::connect) to `target` with `options`.
    pub async fn connect_with(target: &Target, prefix: &str, options: BusOptions) -> Result<Self, Error> {
        let channel = Keys::new(prefix)?.channel();
        let publisher = Connection::open(target, options.timeout).await?;
        let urls = target.urls().to_vec();
        let first = subscribe_any(&urls, &channel, options.timeout).await?;
        let sender = broadcast::channel(options.capacity.max(1)).0;
        let (connected_tx, connected) = watch::channel(true);
        let task = tokio::spawn(listen(
            first,
            urls,
            channel.clone(),
            sender.clone(),
            connected_tx,
            options,
        ));
        Ok(Self {
            publisher,
            channel,
            sender,
            connected,
            _listener: Arc::new(Listener(task)),
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

    /// `false` from the moment the subscription is found lost (closed, or a ping
    /// unanswered within the timeout) until the bus has subscribed again: a cache
    /// following the bus serves nothing from memory meanwhile.
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

/// A subscription to `channel` on the first of `urls` that answers.
async fn subscribe_any(urls: &[String], channel: &str, timeout: Duration) -> Result<PubSub, Error> {
    let mut last = Error::Url("no URL");
    for url in urls {
        let attempt = async {
            let client = redis::Client::open(url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
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

/// Forwards what arrives on the subscription, and subscribes anew when it is lost,
/// telling subscribers to flush both when it is lost and when it is back.
async fn listen(
    first: PubSub,
    urls: Vec<String>,
    channel: String,
    sender: broadcast::Sender<Revocation>,
    connected: watch::Sender<bool>,
    options: BusOptions,
) {
    let mut pubsub = first;
    loop {
        forward(pubsub, &channel, &sender, options).await;
        tracing::warn!("revocation bus: subscription lost, reconnecting");
        connected.send_replace(false);
        let _ = sender.send(Revocation::Everything);
        let mut pause = Duration::from_millis(50);
        pubsub = loop {
            match subscribe_any(&urls, &channel, options.timeout).await {
                Ok(pubsub) => break pubsub,
                Err(error) => {
                    tracing::warn!(%error, "revocation bus: cannot subscribe");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        };
        tracing::info!("revocation bus: subscribed again");
        let _ = sender.send(Revocation::Everything);
        connected.send_replace(true);
    }
}

/// Forwards messages until the connection closes or a ping goes unanswered.
async fn forward(pubsub: PubSub, channel: &str, sender: &broadcast::Sender<Revocation>, options: BusOptions) {
    let (mut sink, mut stream) = pubsub.split();
    let mut pings = tokio::time::interval(options.ping_interval);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return };
                if message.get_channel_name() == channel {
                    // No subscriber is not an error: nothing is cached anywhere.
                    let _ = sender.send(decode(message.get_payload_bytes()));
                }
            }
            _ = pings.tick() => {
                let ping = tokio::time::timeout(options.timeout, sink.ping::<redis::Value>());
                if !matches!(ping.await, Ok(Ok(_))) {
                    return;
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
