//! The lookups authentication makes (a token by digest, a user by id), read on the
//! calling thread through `rusqlite` connections of their own to the pool's file.
//!
//! sqlx runs each SQLite connection on a worker thread: every query is a message to
//! that thread and a wake-up back, which cost a request far more than SQLite's own
//! work (docs/BENCHMARKS.md). These reads take microseconds when the pages are in
//! the cache, and under WAL a reader never waits for a writer, so running them on
//! the runtime's thread blocks it no longer than the thread hop would. They never
//! wait for a lock either (busy timeout zero): whenever this path cannot answer (a
//! lock, a value of an unexpected type, a file it cannot open, a closed pool, an
//! in-memory database) the caller asks the pool, which answers exactly as before,
//! waiting up to the store's timeout off the thread and mapping `SQLITE_BUSY` to
//! unavailable.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Params};
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::OnceCell;

use super::statements::FIND_BY_DIGEST_WITH_USER;
use crate::rows::{JoinedUser, Row, UserRow, row_key};
use crate::statements::Statements;

/// Idle connections kept; more are opened when more threads read at once, and the
/// extra ones closed after use. Reads never await, so each thread holds at most one.
const IDLE: usize = 16;

/// Read-only connections to the file of a pool, used one at a time by whichever
/// thread takes one. Clones share them.
#[derive(Clone, Default)]
pub struct Reader {
    /// The pool's file, asked of SQLite on first use: `None` if it has none (an
    /// in-memory database, which another connection cannot open).
    files: Arc<OnceCell<Option<Files>>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

struct Files {
    path: Arc<Path>,
    idle: Mutex<Vec<Connection>>,
}

impl Reader {
    /// The token row with `digest`; `None` if this path cannot answer.
    pub(super) async fn token(&self, pool: &SqlitePool, digest: &[u8]) -> Option<Option<Row<i64>>> {
        let files = self.files(pool).await?;
        files.read(<Sqlite as Statements>::FIND_BY_DIGEST, [digest], token_row)
    }

    /// The token row with `digest` and its user's row, in one query (one read
    /// transaction, where two reads would take SQLite's file locks twice); `None` if
    /// this path cannot answer.
    pub(super) async fn token_with_user(
        &self,
        pool: &SqlitePool,
        digest: &[u8],
    ) -> Option<Option<(Row<i64>, JoinedUser)>> {
        let files = self.files(pool).await?;
        let found = files.read(FIND_BY_DIGEST_WITH_USER, [digest], |row| {
            let token = token_row(row)?;
            let user: Option<i64> = row.get(10)?;
            let user = match user {
                Some(id) => Some((id, row.get(11)?, row.get(12)?, row.get(13)?)),
                None => None,
            };
            Ok((token, user))
        })?;
        Some(found.map(|(token, row)| {
            let key = row_key(&token.2);
            let joined = JoinedUser {
                file: Arc::clone(&files.path),
                key,
                row,
            };
            (token, joined)
        }))
    }

    /// Whether this reader reads the database file `file` (and has read it already).
    pub(super) fn reads_file(&self, file: &Path) -> bool {
        matches!(self.files.get(), Some(Some(files)) if *files.path == *file)
    }

    /// The user row with primary key `id`; `None` if this path cannot answer.
    pub(super) async fn user(&self, pool: &SqlitePool, id: i64) -> Option<Option<UserRow>> {
        let files = self.files(pool).await?;
        files.read(<Sqlite as Statements>::FIND_USER, [id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
    }

    /// The pool's file; `None` if the pool is closed (it answers `PoolClosed`, as
    /// before), has no file, or could not say (asked again next time).
    async fn files(&self, pool: &SqlitePool) -> Option<&Files> {
        if pool.is_closed() {
            return None;
        }
        let files = self
            .files
            .get_or_try_init(|| async {
                // SQLite's own answer, whatever the URL said (`:memory:`, `mode=memory`,
                // a `file:` URI): the path of the main database, empty if in memory.
                let list: Vec<(i64, String, String)> =
                    sqlx::query_as("PRAGMA database_list").fetch_all(pool).await?;
                let path = list
                    .into_iter()
                    .find(|(_, name, _)| name == "main")
                    .map(|(_, _, file)| file)
                    .filter(|file| !file.is_empty());
                Ok::<_, sqlx::Error>(path.map(|path| Files {
                    path: Path::new(&path).into(),
                    idle: Mutex::new(Vec::new()),
                }))
            })
            .await
            .ok()?;
        files.as_ref()
    }
}

/// A token row, from its first ten columns (`token_columns!`' order).
fn token_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row<i64>> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
    ))
}

impl Files {
    /// At most one row of `sql`; `None` if this path cannot answer it.
    fn read<T>(
        &self,
        sql: &str,
        params: impl Params,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Option<Option<T>> {
        let conn = match self.take() {
            Ok(conn) => conn,
            Err(error) => {
                tracing::debug!(%error, "cannot open a read connection; reading through the pool");
                return None;
            }
        };
        // The statement is reset when `query_row` returns, so no read transaction
        // stays open on an idle connection (it would pin an old snapshot).
        let read = conn
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_row(params, row).optional());
        self.give_back(conn);
        match read {
            Ok(found) => Some(found),
            Err(error) => {
                tracing::debug!(%error, "read connection failed; reading through the pool");
                None
            }
        }
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                // No waiting on this thread: a lock sends the read to the pool.
                conn.busy_timeout(Duration::ZERO)?;
                Ok(conn)
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE {
            idle.push(conn);
        }
    }
}
