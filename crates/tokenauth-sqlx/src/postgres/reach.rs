//! Opening the pool, and saying why when the server cannot be reached: sqlx's pool
//! retries a refused connection until its timeout and then reports only
//! `PoolTimedOut`, which names neither the server nor the cause.

use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::{Error, Unreachable};

/// How long the one direct attempt that names the cause may take: refusals and
/// resolver errors come back at once, and the pool has already waited its timeout.
const PROBE: Duration = Duration::from_secs(1);

/// A pool on `url` with `timeout` as its acquire timeout, one connection opened;
/// its connections carry `application_name=tokenauth` unless the URL names one.
pub(super) async fn pool(url: &str, timeout: Duration) -> Result<PgPool, Error> {
    let options = named(url.parse()?);
    let opened = PgPoolOptions::new()
        .acquire_timeout(timeout)
        .connect_with(options.clone())
        .await;
    match opened {
        Ok(pool) => Ok(pool),
        Err(sqlx::Error::Io(error)) => Err(unreachable(&options, Unreachable::of(&error))),
        Err(sqlx::Error::PoolTimedOut) => Err(probe(&options, timeout).await),
        Err(other) => Err(other.into()),
    }
}

/// `options`, with `application_name=tokenauth` unless they name one: an operator
/// then tells tokenauth's connections apart in `pg_stat_activity`.
pub fn named(options: PgConnectOptions) -> PgConnectOptions {
    if options.get_application_name().is_some() {
        return options;
    }
    options.application_name("tokenauth")
}

/// Why the pool found no connection within `timeout`: one direct attempt says.
async fn probe(options: &PgConnectOptions, timeout: Duration) -> Error {
    match tokio::time::timeout(PROBE.min(timeout), options.connect()).await {
        Err(_) => unreachable(options, Unreachable::TimedOut(timeout)),
        Ok(Err(sqlx::Error::Io(error))) => unreachable(options, Unreachable::of(&error)),
        // The server answered this time: what it said, or the pool's own verdict.
        Ok(Err(other)) => other.into(),
        Ok(Ok(_)) => sqlx::Error::PoolTimedOut.into(),
    }
}

fn unreachable(options: &PgConnectOptions, cause: Unreachable) -> Error {
    let address = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    Error::Unreachable { address, cause }
}
