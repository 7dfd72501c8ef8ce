//! `RedisBus` on a real Redis server and Redis Cluster: what one instance publishes,
//! another receives; a subscription connection that drops and comes back tells its
//! subscribers to flush.
//!
//! The servers come from `TOKENAUTH_TEST_REDIS_URL` and
//! `TOKENAUTH_TEST_REDIS_CLUSTER_URL`, as for `tests/redis.rs`; ignored by default.
//! The buses write no keys; each test uses a channel prefix of its own.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, unique_prefix};
use tokenauth_conformance::record;
use tokenauth_core::store::{Ended, RevocationBus, RevocationListener};
use tokenauth_core::{Revocation, UserId};
use tokenauth_redis::{BusOptions, RedisBus, Target};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

macro_rules! needs_redis {
    () => {
        "needs Redis: set TOKENAUTH_TEST_REDIS_URL and run with --ignored"
    };
}

macro_rules! needs_cluster {
    () => {
        "needs a Redis Cluster: set TOKENAUTH_TEST_REDIS_CLUSTER_URL and run with --ignored"
    };
}

async fn bus(url: &str, prefix: &str) -> RedisBus {
    RedisBus::connect(url, prefix)
        .await
        .unwrap_or_else(|error| panic!("cannot reach Redis for the bus: {error:?}"))
}

/// The next revocation, within 5 s.
async fn next(rx: &mut broadcast::Receiver<Revocation>) -> Revocation {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a revocation within 5 s")
        .expect("the bus is open")
}

fn ended(user: &str) -> Revocation {
    Revocation::Tokens(vec![Ended::from(&record(user, 0))])
}

/// What one bus publishes, every bus on the same prefix receives (the publisher's
/// own subscribers included); a bus on another prefix receives nothing.
async fn two_buses_agree(first: &str, second: &str) {
    let prefix = unique_prefix();
    let (a, b) = (bus(first, &prefix).await, bus(second, &prefix).await);
    let other = bus(first, &unique_prefix()).await;
    let (mut on_a, mut on_b, mut on_other) = (a.subscribe(), b.subscribe(), other.subscribe());
    let tokens = ended("alice");
    a.publish(&tokens).await.unwrap();
    assert_eq!(next(&mut on_b).await, tokens);
    assert_eq!(next(&mut on_a).await, tokens);
    // As a listener (what core calls), publishing from a task.
    let user = Revocation::User(UserId::new("bob"));
    b.revoked(&user);
    assert_eq!(next(&mut on_a).await, user);
    assert_eq!(next(&mut on_b).await, user);
    a.publish(&Revocation::Everything).await.unwrap();
    assert_eq!(next(&mut on_b).await, Revocation::Everything);
    assert!(on_other.try_recv().is_err(), "another prefix heard it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_redis!()]
async fn two_buses_on_one_server_agree() {
    let url = Server::Single.url();
    two_buses_agree(&url, &url).await;
}

/// On a cluster, the second bus subscribes on another node than the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_cluster!()]
async fn two_buses_on_one_cluster_agree() {
    let url = Server::Cluster.url();
    let target = Target::parse(&url).unwrap();
    assert!(
        target.is_cluster(),
        "TOKENAUTH_TEST_REDIS_CLUSTER_URL names a cluster"
    );
    let mut nodes = target.urls().to_vec();
    nodes.rotate_left(1);
    two_buses_agree(&url, &nodes.join(",")).await;
}

/// A TCP proxy in front of Redis whose connections can be cut.
struct Proxy {
    addr: SocketAddr,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        Self::start_split(upstream.clone(), upstream).await
    }

    /// A proxy that sends its first connection to `first` and every later one to `rest`.
    async fn start_split(first: String, rest: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let tracked = connections.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let upstream = if tracked.lock().unwrap().is_empty() {
                    first.clone()
                } else {
                    rest.clone()
                };
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tracked.lock().unwrap().push(task.abort_handle());
            }
        })
        .abort_handle();
        Self {
            addr,
            connections,
            accept,
        }
    }

    /// Closes every connection through the proxy; new ones are still accepted.
    fn cut(&self) {
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// A subscription cut under the bus: its subscribers hear `Everything` when it is lost
/// and again once it is back, it reports itself disconnected in between, and then receive what is published as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_redis!()]
async fn a_dropped_subscription_flushes_and_comes_back() {
    let url = Server::Single.url();
    let proxy = Proxy::start(shared_addr(&url)).await;
    let prefix = unique_prefix();
    let publisher = bus(&url, &prefix).await;
    let options = BusOptions::default().with_bound(Duration::from_millis(200));
    let proxied = Target::parse(&format!("redis://{}", proxy.addr)).unwrap();
    let listener = RedisBus::connect_with(&proxied, &prefix, options).await.unwrap();
    let mut rx = listener.subscribe();

    let before = Revocation::User(UserId::new("1"));
    publisher.publish(&before).await.unwrap();
    assert_eq!(next(&mut rx).await, before);

    let mut connected = listener.connected();
    assert!(*connected.borrow_and_update(), "subscribed: connected");
    proxy.cut();
    assert_eq!(next(&mut rx).await, Revocation::Everything, "lost: flush");
    assert!(!*connected.borrow(), "lost: a following cache must serve nothing");
    assert_eq!(next(&mut rx).await, Revocation::Everything, "back: flush");
    tokio::time::timeout(Duration::from_secs(10), connected.wait_for(|up| *up))
        .await
        .expect("connected again after subscribing anew")
        .expect("the bus is alive");
    let after = ended("2");
    publisher.publish(&after).await.unwrap();
    assert_eq!(next(&mut rx).await, after);
    assert!(rx.try_recv().is_err());
}

/// The `host:port` of the single server `url` names.
fn shared_addr(url: &str) -> String {
    let target = Target::parse(url).unwrap();
    assert!(!target.is_cluster(), "TOKENAUTH_TEST_REDIS_URL names one server");
    target.urls()[0]
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .rsplit('@')
        .next()
        .unwrap()
        .to_owned()
}

/// A bus whose publishing connection reaches another server than its subscription
/// (as behind a balancer, or in a partitioned cluster): its subscription answers pings,
/// but what it publishes never reaches it. It never hears its own heartbeats, so it
/// never says it is connected, and a cache following it stays paused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = needs_redis!()]
async fn a_bus_that_does_not_hear_what_it_publishes_is_never_connected() {
    let url = Server::Single.url();
    let elsewhere = common::PrivateRedis::start();
    // Connections in order: the bus's publisher (to the other server), then its
    // subscription (to the shared one).
    let proxy = Proxy::start_split(elsewhere.addr(), shared_addr(&url)).await;
    let proxied = Target::parse(&format!("redis://{}", proxy.addr)).unwrap();
    let options = BusOptions::default()
        .with_bound(Duration::from_millis(200))
        .with_timeout(Duration::from_secs(1));
    let prefix = unique_prefix();
    let split = RedisBus::connect_with(&proxied, &prefix, options).await.unwrap();
    let mut rx = split.subscribe();
    let connected = split.connected();
    for _ in 0..10 {
        assert!(!*connected.borrow(), "its own heartbeats never arrive");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Indeed: what it publishes is lost, while another bus's revocations arrive.
    split.publish(&ended("lost")).await.unwrap();
    let direct = bus(&url, &prefix).await;
    let heard = ended("heard");
    direct.publish(&heard).await.unwrap();
    // Resubscribing after a silence flushes; never the lost one.
    let mut received = next(&mut rx).await;
    while received == Revocation::Everything {
        received = next(&mut rx).await;
    }
    assert_eq!(received, heard);
    assert!(!*connected.borrow());
}

/// The revocation-bus suite, on two buses (as two servers hold them) under a prefix of
/// each case's own, on a Redis server and on a Redis Cluster.
mod conformance {
    use super::{Server, bus, unique_prefix};
    use tokenauth_conformance::BusPair;

    async fn pair(server: Server) -> BusPair<tokenauth_redis::RedisBus> {
        let (url, prefix) = (server.url(), unique_prefix());
        BusPair {
            publisher: bus(&url, &prefix).await,
            subscriber: bus(&url, &prefix).await,
        }
    }

    mod server {
        tokenauth_conformance::revocation_bus_conformance!(
            #[ignore = needs_redis!()];
            super::pair(super::Server::Single)
        );
    }

    mod cluster {
        tokenauth_conformance::revocation_bus_conformance!(
            #[ignore = needs_cluster!()];
            super::pair(super::Server::Cluster)
        );
    }
}
