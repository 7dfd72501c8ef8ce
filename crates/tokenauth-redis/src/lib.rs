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
    /// A stored value cannot be read (written by something else under the prefix).
    #[error("unreadable stored {0}")]
    Corrupt(&'static str),
}

impl From<redis::ParsingError> for Error {
    fn from(error: redis::ParsingError) -> Self {
        Self::Redis(error.into())
    }
}
