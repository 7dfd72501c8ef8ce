//! [`RedisStore`]: the [`TokenStore`] verbs on the key layout of [`crate::keys`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::try_join_all;
use redis::{AsyncCommands, Value};
use tokenauth_core::store::{
    Change, Committed, Ended, PurgeBounds, TokenDigest, TokenRecord, TokenSet, TokenStore, Usage,
};
use tokenauth_core::{TokenId, UserId};
use tracing::instrument;

use crate::codec::{decode_record, encode_record, encode_record_usage, encode_usage};
use crate::connection::{Connection, DEFAULT_TIMEOUT, Target};
use crate::keys::Keys;
use crate::{Error, scripts};

mod keyspace;

use keyspace::ScanPosition;

/// A [`TokenStore`] on Redis or a Redis Cluster. Clones share the connection.
///
/// See the [crate docs](crate) for the key layout, the atomicity argument and the
/// retention. `Debug` shows the prefix and the retention, never the URL.
#[derive(Clone)]
pub struct RedisStore {
    conn: Connection,
    keys: Keys,
    /// The retention in ms, 0 for none; shared by clones, so that a server can set it
    /// once its policy is known, through the store its `TokenAuth` holds.
    retention: Arc<AtomicU64>,
    /// Where the last purge stopped, shared by clones.
    purge_from: Arc<Mutex<ScanPosition>>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.keys.prefix())
            .field("retention", &self.retention())
            .field("connection", &self.conn)
            .finish()
    }
}

impl RedisStore {
    /// Connects to the server or cluster `url` names ([`Target::parse`]): commands
    /// time out after [`DEFAULT_TIMEOUT`], keys start with `tokenauth`, and keys never
    /// expire (see [`with_retention`](Self::with_retention)).
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_to(&Target::parse(url)?, DEFAULT_TIMEOUT).await
    }

    /// Connects to `target`, waiting at most `timeout` to connect and for each command.
    /// A server that cannot be reached is [`Error::Unreachable`], naming it.
    pub async fn connect_to(target: &Target, timeout: Duration) -> Result<Self, Error> {
        let reached = async {
            let mut conn = Connection::open(target, timeout).await?;
            // Fail here, not on the first request, when the server does not answer.
            let _: String = redis::cmd("PING").query_async(&mut conn).await?;
            Ok::<_, Error>(conn)
        };
        let conn = reached.await.map_err(|error| match error {
            Error::Redis(source)
                if source.is_io_error() || source.is_timeout() || source.is_connection_refusal() =>
            {
                Error::Unreachable {
                    address: target.addresses(),
                    source,
                }
            }
            other => other,
        })?;
        Ok(Self {
            conn,
            keys: Keys::new("tokenauth")?,
            retention: Arc::new(AtomicU64::new(0)),
            purge_from: Arc::default(),
        })
    }

    /// Puts every key under `prefix` (default `tokenauth`), so that several
    /// applications or test runs share a server without meeting. It must not contain
    /// braces or whitespace.
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, Error> {
        self.keys = Keys::new(prefix)?;
        Ok(self)
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// Lets Redis drop keys `retention` after they were last written (default `None`:
    /// never; the purge deletes records). Give it the longest lifespan any token may
    /// have plus the purge grace: no record is needed longer, since core treats a
    /// record older than the lifespan as expired and the purge deletes it after the
    /// grace. It is only a bound on what Redis keeps; whether a token is valid is still
    /// decided by core. When the lifespan or grace grows, call
    /// [`refresh_retention`](Self::refresh_retention) so that keys already written
    /// live as long.
    pub fn with_retention(self, retention: Option<Duration>) -> Self {
        self.set_retention(retention);
        self
    }

    /// Sets the retention of this store and its clones ([`with_retention`](Self::with_retention)).
    pub fn set_retention(&self, retention: Option<Duration>) {
        let ms = retention.map_or(0, |r| u64::try_from(r.as_millis()).unwrap_or(u64::MAX).max(1));
        self.retention.store(ms, Ordering::Relaxed);
    }

    /// The retention keys are written with.
    pub fn retention(&self) -> Option<Duration> {
        match self.retention.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// The retention in ms, 0 for none.
    fn retention_ms(&self) -> u64 {
        self.retention.load(Ordering::Relaxed)
    }

    /// Writes a pointer if absent; whether this call wrote it. A pointer holding
    /// another value is a duplicate id or digest.
    async fn claim(&self, key: &str, value: &str) -> Result<bool, Error> {
        let mut conn = self.conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(key).arg(value).arg("NX");
        let retention = self.retention_ms();
        if retention > 0 {
            set.arg("PX").arg(retention);
        }
        let written: Option<String> = set.query_async(&mut conn).await?;
        if written.is_some() {
            return Ok(true);
        }
        let held: Option<String> = conn.get(key).await?;
        match held {
            // An earlier attempt of this same insert (a commit that met a conflict).
            Some(held) if held == value => Ok(false),
            // Deleted in between: try once more.
            None => Box::pin(self.claim(key, value)).await,
            Some(_) => Err(Error::Duplicate),
        }
    }

    /// Deletes the pointers this call claimed, if they still hold its values.
    async fn release(&self, claimed: &[(String, String)]) -> Result<(), Error> {
        let releases = claimed.iter().map(|(key, value)| {
            let mut conn = self.conn.clone();
            async move {
                scripts::DELETE_IF
                    .key(key)
                    .arg(value)
                    .invoke_async::<i64>(&mut conn)
                    .await
            }
        });
        try_join_all(releases).await?;
        Ok(())
    }

    /// Deletes the pointers of records that are gone: one `DEL` per pointer, since a
    /// record's two pointers live on different slots.
    async fn drop_pointers(&self, ended: &[Ended]) -> Result<(), Error> {
        let keys = ended
            .iter()
            .flat_map(|ended| [self.keys.digest(&ended.digest), self.keys.id(&ended.id)]);
        let drops = keys.map(|key| {
            let mut conn = self.conn.clone();
            async move { conn.del::<_, i64>(key).await }
        });
        try_join_all(drops).await?;
        Ok(())
    }

    /// Runs Lua script on `user`'s hash; the records deleted.
    async fn delete_in(&self, user: &UserId, mode: &str, ids: &[&str]) -> Result<Vec<TokenRecord>, Error> {
        let mut conn = self.conn.clone();
        let mut invocation = scripts::DELETE.key(self.keys.user(user));
        invocation.arg(nonce()).arg(mode);
        for id in ids {
            invocation.arg(*id);
        }
        let deleted: Vec<Vec<u8>> = invocation.invoke_async(&mut conn).await?;
        deleted.iter().map(|record| decode_record(record, None)).collect()
    }

    /// The user holding token `id`, from its pointer.
    async fn owner(&self, id: &TokenId) -> Result<Option<UserId>, Error> {
        let mut conn = self.conn.clone();
        let user: Option<String> = conn.get(self.keys.id(id)).await?;
        Ok(user.map(UserId::new))
    }

    /// Record `id` of `user`, if stored there.
    async fn record_of(&self, user: &UserId, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        let mut conn = self.conn.clone();
        let fields = [format!("r:{}", id.as_str()), format!("u:{}", id.as_str())];
        let (fixed, usage): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(self.keys.user(user))
            .arg(&fields[..])
            .query_async(&mut conn)
            .await?;
        let Some(fixed) = fixed else {
            return Ok(None);
        };
        let record = decode_record(&fixed, usage.as_deref())?;
        Ok((record.id == *id && record.user_id == *user).then_some(record))
    }
}

/// A fresh operation nonce, by which a resent script is recognised (`scripts::replayed!`).
fn nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The version and the records of a user's hash, oldest first (by `created`, then id).
fn records_of(fields: &BTreeMap<String, Vec<u8>>) -> Result<(u64, Vec<TokenRecord>), Error> {
    let version = match fields.get("v") {
        None => 0,
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or(Error::Corrupt("version"))?,
    };
    let mut records = Vec::new();
    for (field, fixed) in fields {
        if let Some(id) = field.strip_prefix("r:") {
            let usage = fields.get(&format!("u:{id}"));
            records.push(decode_record(fixed, usage.map(Vec::as_slice))?);
        }
    }
    sort(&mut records);
    Ok((version, records))
}

fn sort(records: &mut [TokenRecord]) {
    records.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
}

/// The value of a digest pointer: `ID:USER` (ids hold no `:`).
fn digest_pointer(record: &TokenRecord) -> String {
    format!("{}:{}", record.id.as_str(), record.user_id.as_str())
}

/// Bulk imports go through [`commit`](TokenStore::commit), one token at a time (the
/// trait's default): correct, atomic per token, but not pipelined.
impl tokenauth_core::store::TokenImport for RedisStore {}

impl TokenStore for RedisStore {
    type Error = Error;

    fn is_unavailable(error: &Error) -> bool {
        error.is_unavailable()
    }

    /// Becomes the store's retention ([`set_retention`](Self::set_retention)); with
    /// `refresh`, keys already written are extended to it
    /// ([`refresh_retention`](Self::refresh_retention)).
    async fn retain(&self, retention: Duration, refresh: bool) -> Result<(), Error> {
        self.set_retention(Some(retention));
        if refresh {
            self.refresh_retention().await?;
        }
        Ok(())
    }

    /// One `HGETALL` of the user's hash: the version and the records in one snapshot.
    #[instrument(skip_all)]
    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Error> {
        let mut conn = self.conn.clone();
        let fields: BTreeMap<String, Vec<u8>> = conn.hgetall(self.keys.user(user)).await?;
        let (version, records) = records_of(&fields)?;
        Ok(TokenSet { version, records })
    }

    /// Claims the new record's pointers (`SET NX`), then runs a Lua script on
    /// the user's hash; on a conflict or a duplicate it releases the pointers it
    /// claimed, and once applied it deletes the pointers of the records it deleted.
    #[instrument(skip_all)]
    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        let mut claimed = Vec::new();
        if let Some(new) = &change.insert {
            if new.user_id != *user {
                return Err(Error::WrongUser);
            }
            for (key, value) in [
                (self.keys.id(&new.id), user.as_str().to_owned()),
                (self.keys.digest(&new.digest), digest_pointer(new)),
            ] {
                match self.claim(&key, &value).await {
                    Ok(true) => claimed.push((key, value)),
                    Ok(false) => {}
                    Err(error) => {
                        self.release(&claimed).await?;
                        return Err(error);
                    }
                }
            }
        }
        let mut invocation = scripts::COMMIT.key(self.keys.user(user));
        invocation
            .arg(nonce())
            .arg(expected.to_string())
            .arg(self.retention_ms().to_string());
        match &change.insert {
            Some(new) => invocation
                .arg(new.id.as_str())
                .arg(encode_record(new))
                .arg(encode_record_usage(new).unwrap_or_default()),
            None => invocation.arg("").arg("").arg(""),
        };
        for id in &change.delete {
            invocation.arg(id.as_str());
        }
        let mut conn = self.conn.clone();
        // A transport error leaves the pointers: the script may have run, and a
        // pointer without its record is only a dead end for lookups.
        let reply: Vec<Value> = invocation.invoke_async(&mut conn).await?;
        let status = match reply.first() {
            Some(Value::Int(status)) => *status,
            _ => return Err(Error::Corrupt("commit reply")),
        };
        match status {
            1 => {
                let mut ended = Vec::with_capacity(reply.len() - 1);
                for value in &reply[1..] {
                    let Value::BulkString(fixed) = value else {
                        return Err(Error::Corrupt("commit reply"));
                    };
                    ended.push(decode_record(fixed, None)?);
                }
                sort(&mut ended);
                let ended: Vec<Ended> = ended.iter().map(Ended::from).collect();
                self.drop_pointers(&ended).await?;
                Ok(Committed::Applied { ended })
            }
            0 => {
                self.release(&claimed).await?;
                Ok(Committed::Conflict)
            }
            _ => {
                self.release(&claimed).await?;
                Err(Error::Duplicate)
            }
        }
    }

    /// The digest's pointer, then the record in its user's hash (a pointer whose
    /// record is gone finds nothing).
    #[instrument(skip_all)]
    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        let mut conn = self.conn.clone();
        let pointer: Option<String> = conn.get(self.keys.digest(digest)).await?;
        let Some((id, user)) = pointer.as_deref().and_then(|p| p.split_once(':')) else {
            return Ok(None);
        };
        let Ok(id) = id.parse::<TokenId>() else {
            return Err(Error::Corrupt("digest pointer"));
        };
        let record = self.record_of(&UserId::new(user), &id).await?;
        Ok(record.filter(|record| record.digest == *digest))
    }

    /// The id's pointer, then the record in its user's hash.
    #[instrument(skip_all)]
    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        match self.owner(id).await? {
            Some(user) => self.record_of(&user, id).await,
            None => Ok(None),
        }
    }

    /// One user: its hash. Everyone: a `SCAN` of the user hashes on every node.
    #[instrument(skip_all)]
    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Error> {
        if let Some(user) = user {
            return Ok(self.token_set(user).await?.records);
        }
        let mut all = Vec::new();
        self.each_user(|records| {
            all.extend(records);
            true
        })
        .await?;
        sort(&mut all);
        Ok(all)
    }

    #[instrument(skip_all)]
    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Error> {
        let Some(user) = self.owner(id).await? else {
            return Ok(None);
        };
        let deleted = self.delete_in(&user, "only", &[id.as_str()]).await?;
        let ended: Vec<Ended> = deleted.iter().map(Ended::from).collect();
        self.drop_pointers(&ended).await?;
        Ok(ended.into_iter().next())
    }

    #[instrument(skip_all)]
    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Error> {
        let keep: Vec<&str> = keep.iter().map(|id| id.as_str()).collect();
        let mut deleted = self.delete_in(user, "except", &keep).await?;
        sort(&mut deleted);
        let ended: Vec<Ended> = deleted.iter().map(Ended::from).collect();
        self.drop_pointers(&ended).await?;
        Ok(ended)
    }

    /// Finds each record's user from its id pointer, then one Lua script per
    /// user.
    #[instrument(skip_all)]
    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Error> {
        let owners = try_join_all(uses.iter().map(|usage| self.owner(&usage.id))).await?;
        let mut by_user: BTreeMap<String, Vec<&Usage>> = BTreeMap::new();
        for (usage, owner) in uses.iter().zip(owners) {
            if let Some(owner) = owner {
                by_user.entry(owner.as_str().to_owned()).or_default().push(usage);
            }
        }
        let writes = by_user.into_iter().map(|(user, uses)| {
            let mut conn = self.conn.clone();
            let mut invocation = scripts::USAGE.key(self.keys.user(&UserId::new(user)));
            for usage in uses {
                let encoded = encode_usage(Some(usage.at), usage.ip);
                let (at, ip) = encoded.split_once('|').unwrap_or_default();
                invocation.arg(usage.id.as_str()).arg(at).arg(ip);
            }
            async move { invocation.invoke_async::<i64>(&mut conn).await }
        });
        try_join_all(writes).await?;
        Ok(())
    }

    /// Scans the user hashes on every node until `limit` records match, then deletes
    /// them with one Lua script per user (a record deleted meanwhile is skipped). A call
    /// that stops at `limit` leaves its place for the next (the purge calls again until
    /// a batch comes back short), so a purge in batches reads the keyspace about once,
    /// not once per batch; the call after one that reached the end starts over. The
    /// Redis expiry of the retention does the bulk of the cleaning, so the purge only
    /// removes what dies earlier (own expiry, idle timeout).
    #[instrument(skip_all)]
    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Error> {
        let mut doomed: BTreeMap<String, Vec<TokenRecord>> = BTreeMap::new();
        let mut found = 0;
        let start = std::mem::take(&mut *self.purge_from.lock().unwrap_or_else(|e| e.into_inner()));
        let stopped = self
            .each_user_from(start, |records| {
                for record in records {
                    if found < limit && bounds.matches(&record) {
                        found += 1;
                        doomed
                            .entry(record.user_id.as_str().to_owned())
                            .or_default()
                            .push(record);
                    }
                }
                found < limit
            })
            .await?;
        *self.purge_from.lock().unwrap_or_else(|e| e.into_inner()) = stopped.unwrap_or_default();
        let mut ended = Vec::new();
        for (user, records) in doomed {
            let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
            let deleted = self.delete_in(&UserId::new(user), "only", &ids).await?;
            ended.extend(deleted.iter().map(Ended::from));
        }
        self.drop_pointers(&ended).await?;
        Ok(ended)
    }
}
