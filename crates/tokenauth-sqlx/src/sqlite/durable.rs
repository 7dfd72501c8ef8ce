//! Durable writes: the writes that revoke commit with `synchronous = FULL`.
//!
//! In WAL mode, `synchronous = NORMAL` (what [`connect`](super::connect) sets, and a
//! common choice) syncs the write-ahead log only at checkpoints: a committed
//! transaction survives a crash of the process but can be rolled back by a power loss
//! or an operating-system crash. For a login that is harmless (the new token stops
//! working: the client logs in again), for a revocation it is not (the revoked token
//! works again). So every write that ends tokens (a delete, a new credential version,
//! a deactivation) runs on a connection switched to `FULL`, which syncs the log at
//! each commit, and everything in the log before it with it.
//!
//! SQLite cannot change the level inside a transaction, so the level is set on the
//! connection before the write and put back after it; `benches/durability.rs`
//! measures what this costs against `FULL` for everything.

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use crate::Error;

/// `PRAGMA synchronous` level `FULL`.
const FULL: i64 = 2;

/// A pool connection at `synchronous = FULL` (or stricter) until [`release`](Self::release).
///
/// If it is dropped without `release` (an error or a cancelled future in between), the
/// connection goes back to the pool still at `FULL`: slower commits on it, never less
/// durable ones.
#[derive(Debug)]
pub struct Durable {
    conn: PoolConnection<Sqlite>,
    /// The level to put back, if it was lower than `FULL`.
    restore: Option<i64>,
}

impl Durable {
    /// A connection from `pool`, switched to `FULL` if it was at a lower level.
    pub(super) async fn acquire(pool: &SqlitePool) -> Result<Self, Error> {
        let mut conn = pool.acquire().await?;
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await?;
        let restore = if level < FULL {
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *conn)
                .await?;
            Some(level)
        } else {
            None
        };
        Ok(Self { conn, restore })
    }

    /// Puts the connection's level back and returns it to the pool. The write has
    /// committed (or failed) by now, so a failure here is only logged.
    pub(super) async fn release(mut self) {
        if let Some(level) = self.restore {
            // `level` is an integer read from SQLite, not input.
            let pragma = format!("PRAGMA synchronous = {level}");
            if let Err(error) = sqlx::query(&pragma).execute(&mut *self.conn).await {
                tracing::warn!(%error, "could not restore the connection's synchronous level");
            }
        }
    }
}

impl Deref for Durable {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for Durable {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}
