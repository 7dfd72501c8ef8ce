//! One connection type for a single Redis server and a Redis Cluster, chosen by URL.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, TlsCertificates, Value};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::Error;

/// How long connecting and each command may take before they fail (the store then
/// answers an error, which the server turns into a 503), unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where Redis is (one server, or the seed nodes of a cluster) and which certificate
/// authorities a `rediss://` connection trusts. `Debug` hides the URLs (they can carry
/// passwords).
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    urls: Vec<String>,
    cluster: bool,
    /// PEM certificates that replace the system's roots, as libpq's `sslrootcert`.
    root_certificates: Option<Arc<[u8]>>,
}

impl Target {
    /// `host:port` of each node, comma-separated: no scheme, user, password or
    /// database number.
    pub(crate) fn addresses(&self) -> String {
        let address = |url: &str| {
            let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host)
                .to_owned()
        };
        self.urls
            .iter()
            .map(|url| address(url))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads a URL: `redis://host:port[/db]` (or `rediss://`) for one server;
    /// `redis+cluster://host:port,host:port,...` (or `rediss+cluster://`) for a
    /// cluster, as is a comma-separated list of `redis://` URLs.
    ///
    /// `rediss://` connections verify the server's certificate and name against the
    /// system's roots (those `SSL_CERT_FILE` or `SSL_CERT_DIR` name, else the
    /// platform's), or against [`with_root_certificates`](Self::with_root_certificates).
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
                return Ok(Self::new(nodes, true));
            }
        }
        if url.contains(',') {
            return Ok(Self::new(
                url.split(',').map(|u| u.trim().to_owned()).collect(),
                true,
            ));
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://") {
            Ok(Self::new(vec![url.to_owned()], false))
        } else {
            Err(Error::Url("expected redis://, rediss:// or redis+cluster://"))
        }
    }

    fn new(urls: Vec<String>, cluster: bool) -> Self {
        Self {
            urls,
            cluster,
            root_certificates: None,
        }
    }

    /// This target, trusting only the certificate authorities in `pem` (one or more PEM
    /// certificates: a deployment's own CA) instead of the system's roots. Refused
    /// unless every URL is `rediss://` (a CA for a plaintext connection is a
    /// misconfiguration) and `pem` holds at least one readable certificate.
    pub fn with_root_certificates(mut self, pem: &[u8]) -> Result<Self, Error> {
        if !self.urls.iter().all(|url| url.starts_with("rediss://")) {
            return Err(Error::Tls("a CA file needs rediss:// (TLS) URLs"));
        }
        let certificates = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::Tls("the CA file is not readable PEM"))?;
        if certificates.is_empty() {
            return Err(Error::Tls("the CA file holds no PEM certificate"));
        }
        self.root_certificates = Some(pem.into());
        Ok(self)
    }

    /// The URLs of the server or of the seed nodes.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// What redis-rs needs to open TLS connections with this target's roots.
    fn certificates(&self) -> Option<TlsCertificates> {
        self.root_certificates.as_ref().map(|pem| TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.to_vec()),
        })
    }

    /// A client for one server or node of this target.
    pub(crate) fn client(&self, url: &str) -> Result<redis::Client, Error> {
        install_crypto_provider();
        Ok(match self.certificates() {
            Some(certificates) => redis::Client::build_with_tls(url, certificates)?,
            None => redis::Client::open(url)?,
        })
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("nodes", &self.urls.len())
            .field("cluster", &self.cluster)
            .field("own_ca", &self.root_certificates.is_some())
            .finish()
    }
}

/// rustls needs one process-wide crypto provider. This crate builds with ring only, but
/// an application may enable another (aws-lc-rs) somewhere in its tree, and then rustls
/// cannot pick one by itself: install ring unless something already chose.
///
/// rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange;
/// aws-lc-rs has it, but sqlx offers aws-lc-rs only with a compiled-in root bundle,
/// not the system's roots (`SSL_CERT_FILE`) that deployments configure. An application
/// that installs aws-lc-rs first gets it here too.
#[allow(deprecated)]
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: there is a provider either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Node {
    Only,
    Master { host: String, port: u16 },
}

impl Connection {
    /// Connects to `target`, waiting at most `timeout` for the connection and for each
    /// command.
    pub(crate) async fn open(target: &Target, timeout: Duration) -> Result<Self, Error> {
        match target {
            Target {
                cluster: false, urls, ..
            } => {
                let client = target.client(&urls[0])?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2);
                Ok(Self::Single(
                    client.get_connection_manager_with_config(config).await?,
                ))
            }
            Target { urls, .. } => {
                install_crypto_provider();
                let mut builder = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout);
                if let Some(certificates) = target.certificates() {
                    builder = builder.certs(certificates);
                }
                let client = builder.build()?;
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// The nodes holding keys: the server, or every master of the cluster, in one order
    /// whichever node answers.
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
        // Each node lists the cluster in an order of its own, and the command goes to
        // any node: sorted, a scan resumed by its position in this list (the purge's)
        // goes on at the node where it stopped.
        masters.sort();
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
