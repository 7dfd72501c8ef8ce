//! The verbs that walk the whole keyspace of the prefix, node by node with `SCAN`:
//! the retention refresh, deleting every key, and visiting every user's records (for
//! the global listing and the purge).

use std::collections::BTreeMap;

use futures_util::future::try_join_all;
use redis::AsyncCommands;
use tokenauth_core::store::TokenRecord;
use tracing::instrument;

use super::{RedisStore, records_of};
use crate::connection::{Connection, Node};
use crate::{Error, scripts};

/// How many keys one `SCAN` step asks for.
const SCAN_COUNT: usize = 500;

/// How many user hashes are read at once while visiting them.
const READ_AHEAD: usize = 16;

impl RedisStore {
    /// Makes the keys already written live as long as this store's retention asks.
    ///
    /// The retention the keys were written with is kept in `PREFIX:retention`. When
    /// this store's is longer, every key under the prefix that has an expiry gets the
    /// difference added to it, so that it lives exactly as long as if it had been
    /// written with the new retention; with `None`, keys lose their expiry. When no
    /// retention is recorded yet (keys written before any refresh), every expiry is
    /// raised to at least the retention: longer than needed, never shorter. A shorter
    /// retention is only recorded: keys keep their longer life, which is safe. Answers
    /// how many keys' expiry changed.
    ///
    /// Instances sharing the store should be given the same retention; one that
    /// still runs with a shorter one writes shorter-lived keys until it is restarted.
    #[instrument(skip_all)]
    pub async fn refresh_retention(&self) -> Result<usize, Error> {
        let mut conn = self.conn.clone();
        let marker = self.keys.retention();
        let stored: Option<String> = conn.get(&marker).await?;
        let new = Some(self.retention_ms()).filter(|ms| *ms > 0);
        let old = match stored.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some(ms) => Some(Some(ms.parse::<u64>().map_err(|_| Error::Corrupt("retention"))?)),
        };
        let change = match (old, new) {
            (_, None) if old != Some(None) => Some(("persist", 0)),
            (None, Some(new)) => Some(("atleast", new)),
            (Some(Some(old)), Some(new)) if new > old => Some(("by", new - old)),
            // Shorter, the same, or keys written without expiry (which keep none).
            _ => None,
        };
        let mut changed = 0;
        if let Some((mode, ms)) = change {
            let pattern = self.keys.all_pattern();
            for node in conn.nodes().await? {
                let mut cursor = 0_u64;
                loop {
                    let (next, keys) = scan(&mut conn, &node, cursor, &pattern, None).await?;
                    let extended = keys.iter().map(|key| {
                        let mut conn = conn.clone();
                        async move {
                            scripts::EXTEND
                                .key(key)
                                .arg(mode)
                                .arg(ms)
                                .invoke_async::<usize>(&mut conn)
                                .await
                        }
                    });
                    changed += try_join_all(extended).await?.into_iter().sum::<usize>();
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
        }
        // Written last: a refresh cut short is done again by the next one, which may
        // extend some keys twice (a longer life, never a shorter one).
        let value = new.map_or_else(|| "none".to_owned(), |ms| ms.to_string());
        let _: () = conn.set(&marker, value).await?;
        Ok(changed)
    }

    /// Deletes every key under the prefix, node by node (`SCAN` + `DEL`), and nothing
    /// else: never `FLUSHDB`. For tests, and for removing a deployment's tokens.
    /// Deleted tokens are not reported as [`Ended`](tokenauth_core::store::Ended); answers how many keys went.
    #[instrument(skip_all)]
    pub async fn delete_all_keys(&self) -> Result<usize, Error> {
        let mut conn = self.conn.clone();
        let pattern = self.keys.all_pattern();
        let mut deleted = 0;
        for node in conn.nodes().await? {
            let mut cursor = 0_u64;
            loop {
                let (next, keys) = scan(&mut conn, &node, cursor, &pattern, None).await?;
                let dels = keys.iter().map(|key| {
                    let mut conn = conn.clone();
                    async move { conn.del::<_, usize>(key).await }
                });
                deleted += try_join_all(dels).await?.into_iter().sum::<usize>();
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        deleted += conn.del::<_, usize>(self.keys.retention()).await?;
        Ok(deleted)
    }

    /// Every user hash's records, scanning every node; `visit` is called with each
    /// hash's records and returns whether to go on.
    pub(super) async fn each_user(&self, visit: impl FnMut(Vec<TokenRecord>) -> bool) -> Result<(), Error> {
        self.each_user_from(ScanPosition::default(), visit).await?;
        Ok(())
    }

    /// [`each_user`](Self::each_user) from `start`; where it stopped (the hash it stopped
    /// at and those of its `SCAN` step after it, and the cursor after that step), or
    /// `None` once every node was scanned to the end.
    pub(super) async fn each_user_from(
        &self,
        start: ScanPosition,
        mut visit: impl FnMut(Vec<TokenRecord>) -> bool,
    ) -> Result<Option<ScanPosition>, Error> {
        let mut conn = self.conn.clone();
        let pattern = self.keys.users_pattern();
        let nodes = conn.nodes().await?;
        let ScanPosition {
            node: first,
            cursor,
            pending,
        } = start;
        for (index, node) in nodes.iter().enumerate().skip(first) {
            // `Some(cursor)`: scan on from there; `None`: this node is done.
            let (mut keys, mut next) = if index == first {
                (pending.clone(), cursor)
            } else {
                (Vec::new(), Some(0))
            };
            loop {
                if keys.is_empty() {
                    let Some(at) = next else { break };
                    let (after, found) = scan(&mut conn, node, at, &pattern, Some("hash")).await?;
                    (keys, next) = (found, (after != 0).then_some(after));
                    if keys.is_empty() {
                        continue;
                    }
                }
                // A few hashes at a time: a caller that stops early has read few
                // more than it visited.
                let chunk: Vec<String> = keys.drain(..keys.len().min(READ_AHEAD)).collect();
                let sets = chunk.iter().map(|key| {
                    let mut conn = conn.clone();
                    async move { conn.hgetall::<_, BTreeMap<String, Vec<u8>>>(key).await }
                });
                let sets = try_join_all(sets).await?;
                for (visited, fields) in sets.into_iter().enumerate() {
                    if !visit(records_of(&fields)?.1) {
                        // This hash again (it may hold more than the caller took), then
                        // the rest.
                        let mut pending = chunk[visited..].to_vec();
                        pending.append(&mut keys);
                        return Ok(Some(ScanPosition {
                            node: index,
                            cursor: next,
                            pending,
                        }));
                    }
                }
            }
        }
        Ok(None)
    }
}

/// Where a scan of the user hashes stands: a node (by its place in the list of
/// masters), the keys of the last `SCAN` step to visit first (the one it stopped in
/// included), and the cursor to scan on from (`None`: the node has no more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScanPosition {
    node: usize,
    cursor: Option<u64>,
    pending: Vec<String>,
}

impl Default for ScanPosition {
    /// The start: the first node, from cursor 0.
    fn default() -> Self {
        Self {
            node: 0,
            cursor: Some(0),
            pending: Vec::new(),
        }
    }
}

/// One `SCAN` step on `node`.
async fn scan(
    conn: &mut Connection,
    node: &Node,
    cursor: u64,
    pattern: &str,
    kind: Option<&str>,
) -> Result<(u64, Vec<String>), Error> {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(SCAN_COUNT);
    if let Some(kind) = kind {
        cmd.arg("TYPE").arg(kind);
    }
    conn.on_node(node, cmd).await
}
