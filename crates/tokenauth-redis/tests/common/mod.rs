//! What the Redis tests share: the servers from the environment, a store under a
//! prefix of its own that deletes its keys when dropped.

#![allow(dead_code, unreachable_pub)]

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use tokenauth_core::store::{
    Change, Committed, Ended, PurgeBounds, TokenDigest, TokenRecord, TokenSet, TokenStore, Usage,
};
use tokenauth_core::{TokenId, UserId};
use tokenauth_redis::{DEFAULT_TIMEOUT, RedisStore, Target};

/// A server the tests run against.
#[derive(Debug, Clone, Copy)]
pub enum Server {
    /// `TOKENAUTH_TEST_REDIS_URL`.
    Single,
    /// `TOKENAUTH_TEST_REDIS_CLUSTER_URL`.
    Cluster,
}

impl Server {
    fn variable(self) -> &'static str {
        match self {
            Self::Single => "TOKENAUTH_TEST_REDIS_URL",
            Self::Cluster => "TOKENAUTH_TEST_REDIS_CLUSTER_URL",
        }
    }

    /// The URL, from the environment; panics when it is not set.
    pub fn url(self) -> String {
        let variable = self.variable();
        std::env::var(variable).unwrap_or_else(|_| {
            panic!(
                "{variable} is not set: point it at {} to run these tests",
                match self {
                    Self::Single => "a Redis server (such as redis://127.0.0.1:6379)",
                    Self::Cluster =>
                        "a Redis Cluster (such as redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002; .ci/redis-cluster starts one)",
                }
            )
        })
    }

    /// A store on this server under a fresh prefix; panics when it is unreachable.
    pub async fn store(self, prefix: &str) -> RedisStore {
        let url = self.url();
        let target = Target::parse(&url).unwrap_or_else(|error| panic!("{}: {error}", self.variable()));
        RedisStore::connect_to(&target, DEFAULT_TIMEOUT)
            .await
            .unwrap_or_else(|error| panic!("cannot reach Redis at {}: {error:?}", self.variable()))
            .with_prefix(prefix)
            .expect("a valid prefix")
    }
}

/// A prefix no other test or run uses.
pub fn unique_prefix() -> String {
    // RandomState is seeded from the system's randomness.
    format!(
        "tokenauth-test-{:016x}",
        RandomState::new().hash_one(std::process::id())
    )
}

/// The retention the tests' stores write with.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// A store under a prefix of its own, with a day's retention, deleting its keys on drop.
pub async fn fresh(server: Server) -> Temp {
    let prefix = unique_prefix();
    let store = server.store(&prefix).await.with_retention(Some(RETENTION));
    Temp { inner: store, server }
}

/// A [`RedisStore`] whose keys are deleted when it is dropped. It delegates every verb.
pub struct Temp {
    pub inner: RedisStore,
    pub server: Server,
}

impl Drop for Temp {
    /// Best effort: keys left behind by a crash expire with the retention.
    fn drop(&mut self) {
        let (server, prefix) = (self.server, self.inner.prefix().to_owned());
        // Drop runs inside the test's runtime, which cannot be blocked on: use a
        // runtime of its own, on a thread of its own.
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async { server.store(&prefix).await.delete_all_keys().await })
        })
        .join();
        if !matches!(deleted, Ok(Ok(_))) {
            eprintln!("could not delete the test keys under {}", self.inner.prefix());
        }
    }
}

impl TokenStore for Temp {
    type Error = tokenauth_redis::Error;

    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Self::Error> {
        self.inner.token_set(user).await
    }

    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Self::Error> {
        self.inner.commit(user, expected, change).await
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Self::Error> {
        self.inner.find_by_digest(digest).await
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Self::Error> {
        self.inner.find_by_id(id).await
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Self::Error> {
        self.inner.list(user).await
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Self::Error> {
        self.inner.delete(id).await
    }

    async fn delete_for_user(
        &self,
        user: &UserId,
        keep: Option<&TokenId>,
    ) -> Result<Vec<Ended>, Self::Error> {
        self.inner.delete_for_user(user, keep).await
    }

    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Self::Error> {
        self.inner.record_usage(uses).await
    }

    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Self::Error> {
        self.inner.purge(bounds, limit).await
    }
}

/// Inserts `record` through a commit on the version read just before.
pub async fn add(store: &impl TokenStore, record: &TokenRecord) {
    let version = store.token_set(&record.user_id).await.expect("token set").version;
    let insert = Change {
        delete: vec![],
        insert: Some(record.clone()),
    };
    let committed = store
        .commit(&record.user_id, version, insert)
        .await
        .expect("commit");
    assert_eq!(committed, Committed::Applied { ended: vec![] });
}

/// A raw connection to `server`'s first node, for looking at keys.
pub async fn raw(server: Server) -> redis::aio::MultiplexedConnection {
    let url = server.url();
    let first = Target::parse(&url).expect("a valid URL").urls()[0].clone();
    redis::Client::open(first)
        .expect("a valid URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

/// A Redis server of the test's own on a free port (plaintext, keeping nothing),
/// stopped on drop.
pub struct PrivateRedis {
    child: std::process::Child,
    port: u16,
}

impl PrivateRedis {
    /// Starts one; panics if `redis-server` is missing or does not listen within 10 s.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server listens"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
