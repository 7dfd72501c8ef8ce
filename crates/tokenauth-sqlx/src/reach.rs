//! Opening a server's pool, and saying why when the server cannot be reached: sqlx's
//! pool retries a refused connection until its timeout and then reports only
//! `PoolTimedOut`, which names neither the server nor the cause.

use std::path::Path;
use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{ConnectOptions, Connection, Database, Pool};

use crate::{Error, Unreachable};

/// How long the one direct attempt that names the cause may take: refusals and
/// resolver errors come back at once, and the pool has already waited its timeout.
const PROBE: Duration = Duration::from_secs(1);

/// Where a server is, as errors name it: its socket's path, or `host:port` (never
/// the user or password).
pub(crate) fn address(socket: Option<&Path>, host: &str, port: u16) -> String {
    match socket {
        Some(socket) => socket.display().to_string(),
        None => format!("{host}:{port}"),
    }
}

/// A pool with `options` and `timeout` as its acquire timeout, one connection opened;
/// [`Error::Unreachable`] naming `address` and the cause if none can be.
pub(crate) async fn pool<DB: Database>(
    options: <DB::Connection as Connection>::Options,
    address: String,
    timeout: Duration,
) -> Result<Pool<DB>, Error> {
    let opened = PoolOptions::<DB>::new()
        .acquire_timeout(timeout)
        .connect_with(options.clone())
        .await;
    let cause = match opened {
        Ok(pool) => return Ok(pool),
        Err(sqlx::Error::Io(error)) => Unreachable::of(&error),
        // Why the pool found no connection within `timeout`: one direct attempt says.
        Err(sqlx::Error::PoolTimedOut) => {
            match tokio::time::timeout(PROBE.min(timeout), options.connect()).await {
                Err(_) => Unreachable::TimedOut(timeout),
                Ok(Err(sqlx::Error::Io(error))) => Unreachable::of(&error),
                // The server answered this time: what it said, or the pool's own verdict.
                Ok(Err(other)) => return Err(other.into()),
                Ok(Ok(_)) => return Err(sqlx::Error::PoolTimedOut.into()),
            }
        }
        Err(other) => return Err(other.into()),
    };
    Err(Error::Unreachable { address, cause })
}
