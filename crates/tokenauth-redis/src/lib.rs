#![doc = include_str!("../README.md")]

mod bus;
mod codec;
mod connection;
mod keys;
mod scripts;
mod store;

pub use bus::{BusOptions, RedisBus};
pub use connection::{DEFAULT_TIMEOUT, Target};
pub use store::RedisStore;

/// What can go wrong in the Redis store or bus.
///
/// Messages name no key, digest or URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Redis answered an error, or could not be reached in time.
    #[error("redis error")]
    Redis(#[from] redis::RedisError),
    /// Redis could not be reached when the store connected: where, and why (the
    /// source: refused, timed out...).
    #[error("cannot reach Redis at {address}")]
    Unreachable {
        /// `host:port` of each node, never the user or password.
        address: String,
        /// Why.
        #[source]
        source: redis::RedisError,
    },
    /// The URL is not a Redis URL this crate understands.
    #[error("invalid Redis URL: {0}")]
    Url(&'static str),
    /// The key prefix is empty or holds braces or whitespace.
    #[error("a key prefix must be non-empty, without braces or whitespace")]
    Prefix,
    /// A token with this id or digest is already stored.
    #[error("a token with this id or digest is already stored")]
    Duplicate,
    /// A commit inserts a record of another user than the one it names.
    #[error("the inserted record belongs to another user")]
    WrongUser,
    /// The cluster's topology could not be read.
    #[error("cluster error: {0}")]
    Cluster(&'static str),
    /// The TLS settings cannot be used (the CA file, or a CA for a plaintext URL).
    #[error("TLS: {0}")]
    Tls(&'static str),
    /// A stored value cannot be read (written by something else under the prefix).
    #[error("unreadable stored {0}")]
    Corrupt(&'static str),
}

impl Error {
    /// Whether this error means Redis is unavailable for now rather than that something
    /// is wrong: it could not be reached or answered too late (I/O, a refused or dropped
    /// connection, a timeout), or it said so itself (`LOADING`, `CLUSTERDOWN`,
    /// `TRYAGAIN`, `MASTERDOWN`, `BUSY`, a slot moving between nodes). The store reports
    /// these as unavailable ([`TokenStore::is_unavailable`]), so that the web layer
    /// answers 503 and `Retry-After` instead of 500.
    ///
    /// [`TokenStore::is_unavailable`]: tokenauth_core::store::TokenStore::is_unavailable
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Redis(error) => {
                error.is_io_error()
                    || error.is_timeout()
                    || error.is_connection_dropped()
                    || error.is_connection_refusal()
                    || error.is_cluster_error()
                    || matches!(
                        error.code(),
                        Some("LOADING" | "CLUSTERDOWN" | "TRYAGAIN" | "MASTERDOWN" | "BUSY")
                    )
            }
            Self::Cluster(_) | Self::Unreachable { .. } => true,
            _ => false,
        }
    }
}

impl From<redis::ParsingError> for Error {
    fn from(error: redis::ParsingError) -> Self {
        Self::Redis(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_cannot_be_reached_is_unavailable() {
        // Port 1 on loopback: nothing listens there, the connection is refused.
        let error = RedisStore::connect("redis://127.0.0.1:1").await.unwrap_err();
        assert!(error.is_unavailable(), "{error:?}");
        assert_eq!(error.to_string(), "cannot reach Redis at 127.0.0.1:1");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(source.is_some_and(|cause| cause.contains("refused")), "{error:?}");
    }

    #[test]
    fn an_address_names_no_user_password_or_database() {
        let target = Target::parse("rediss://user:secret@10.0.0.1:6380/2").unwrap();
        assert_eq!(target.addresses(), "10.0.0.1:6380");
        let cluster = Target::parse("redis+cluster://:secret@a:7000,b:7001").unwrap();
        assert_eq!(cluster.addresses(), "a:7000,b:7001");
    }

    #[test]
    fn bugs_and_bad_input_are_not() {
        assert!(!Error::Duplicate.is_unavailable());
        assert!(!Error::Corrupt("record").is_unavailable());
        assert!(!Error::Prefix.is_unavailable());
    }
}
