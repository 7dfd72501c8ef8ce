//! The verbs that walk the whole keyspace of the prefix, node by node with `SCAN`:
//! the retention refresh, deleting every key, and visiting every user's records (for
//! the global listing and the purge).

use std::collections::BTreeMap;

use futures_util::future::try_join_all;
use redis::AsyncCommands;
use tokenauth_core::TokenRecord;
use tracing::instrument;

use super::{RedisStore, records_of};
use crate::connection::{Connection, Node};
use crate::{Error, scripts};

/// How many keys one `SCAN` step asks for.
const SCAN_COUNT: usize = 500;

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
                    let extended = keys.iter().filter(|key| **key != marker).map(|key| {
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
        Ok(deleted)
    }

    /// Every user hash's records, scanning every node; `visit` is called with each
    /// hash's records and returns whether to go on.
    pub(super) async fn each_user(
        &self,
        mut visit: impl FnMut(Vec<TokenRecord>) -> bool,
    ) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let pattern = self.keys.users_pattern();
        for node in conn.nodes().await? {
            let mut cursor = 0_u64;
            loop {
                let (next, keys) = scan(&mut conn, &node, cursor, &pattern, Some("hash")).await?;
                let sets = keys.iter().map(|key| {
                    let mut conn = conn.clone();
                    async move { conn.hgetall::<_, BTreeMap<String, Vec<u8>>>(key).await }
                });
                for fields in try_join_all(sets).await? {
                    if !visit(records_of(&fields)?.1) {
                        return Ok(());
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(())
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
