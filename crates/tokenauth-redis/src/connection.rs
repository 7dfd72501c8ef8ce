//! One connection type for a single Redis server and a Redis Cluster, chosen by URL.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::Error;

/// How long connecting and each command may take before they fail (the store then
/// answers an error, which the server turns into a 503), unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where Redis is: one server, or the seed nodes of a cluster. `Debug` hides the URLs
/// (they can carry passwords).
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// One server (`redis://`, `rediss://`, `unix://`).
    Single(String),
    /// Seed nodes of a Redis Cluster, each a `redis://host:port` URL.
    Cluster(Vec<String>),
}

impl Target {
    /// Reads a URL: `redis://host:port[/db]` (or `rediss://`) for one server;
    /// `redis+cluster://host:port,host:port,...` (or `rediss+cluster://`) for a
    /// cluster, as is a comma-separated list of `redis://` URLs.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let url = url.trim();
        for (scheme, node_scheme) in [
            ("redis+cluster://", "redis://"),
            ("rediss+cluster://", "rediss://"),
        ] {
            if let Some(rest) = url.strip_prefix(scheme) {
                let nodes: Vec<String> = rest
                    .split(',')
                    .map(str::trim)
                    .filter(|node| !node.is_empty())
                    .map(|node| format!("{node_scheme}{node}"))
                    .collect();
                if nodes.is_empty() {
                    return Err(Error::Url("a cluster URL names no node"));
                }
                return Ok(Self::Cluster(nodes));
            }
        }
        if url.contains(',') {
            return Ok(Self::Cluster(
                url.split(',').map(|u| u.trim().to_owned()).collect(),
            ));
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://") {
            Ok(Self::Single(url.to_owned()))
        } else {
            Err(Error::Url("expected redis://, rediss:// or redis+cluster://"))
        }
    }

    /// The URLs of the server or of the seed nodes.
    pub fn urls(&self) -> &[String] {
        match self {
            Self::Single(url) => std::slice::from_ref(url),
            Self::Cluster(nodes) => nodes,
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Single(_) => f.write_str("Target::Single(..)"),
            Self::Cluster(nodes) => write!(f, "Target::Cluster({} nodes)", nodes.len()),
        }
    }
}

/// A multiplexed connection that reconnects by itself: to one server
/// ([`ConnectionManager`]) or to every node of a cluster ([`ClusterConnection`],
/// which routes each command to the node of its key's slot). Clones share it.
#[derive(Clone)]
pub(crate) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "Connection::Single",
            Self::Cluster(_) => "Connection::Cluster",
        })
    }
}

/// A node to scan: the only server, or one master of a cluster by address.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Only,
    Master { host: String, port: u16 },
}

impl Connection {
    /// Connects to `target`, waiting at most `timeout` for the connection and for each
    /// command.
    pub(crate) async fn open(target: &Target, timeout: Duration) -> Result<Self, Error> {
        match target {
            Target::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2);
                Ok(Self::Single(
                    client.get_connection_manager_with_config(config).await?,
                ))
            }
            Target::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .build()?;
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// The nodes holding keys: the server, or every master of the cluster.
    pub(crate) async fn nodes(&mut self) -> Result<Vec<Node>, Error> {
        let Self::Cluster(conn) = self else {
            return Ok(vec![Node::Only]);
        };
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
        let value = conn
            .route_command(redis::cmd("CLUSTER").arg("NODES").clone(), routing)
            .await?;
        let text: String = redis::FromRedisValue::from_redis_value(value)?;
        // `<id> <ip:port@cport[,hostname]> <flags> ...`, one line per node.
        let mut masters = Vec::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let (Some(addr), Some(flags)) = (fields.get(1), fields.get(2)) else {
                continue;
            };
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.iter().any(|f| f.starts_with("fail")) {
                continue;
            }
            let addr = addr.split(['@', ',']).next().unwrap_or_default();
            if let Some((host, port)) = addr.rsplit_once(':')
                && let Ok(port) = port.parse()
            {
                masters.push(Node::Master {
                    host: host.to_owned(),
                    port,
                });
            }
        }
        if masters.is_empty() {
            return Err(Error::Cluster("CLUSTER NODES lists no master"));
        }
        Ok(masters)
    }

    /// Runs `cmd` on `node` (a keyless command such as `SCAN`).
    pub(crate) async fn on_node<T: redis::FromRedisValue>(
        &mut self,
        node: &Node,
        cmd: Cmd,
    ) -> Result<T, Error> {
        let value = match (self, node) {
            (Self::Cluster(conn), Node::Master { host, port }) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                conn.route_command(cmd, routing).await?
            }
            (conn, _) => cmd.query_async::<Value>(conn).await?,
        };
        Ok(redis::FromRedisValue::from_redis_value(value)?)
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}
