//! The contract every [`TokenStore`] must meet, as tests it runs from its own `tests/`.
//!
//! Use [`token_store_conformance!`](crate::token_store_conformance) with an expression
//! that evaluates (asynchronously) to a fresh, empty store:
//!
//! ```
//! // In `tests/conformance.rs` of a store crate:
//! tokenauth_core::token_store_conformance!(async { tokenauth_core::MemoryStore::new() });
//! # fn main() {}
//! ```
//!
//! Each case checks what a caller relies on, including the atomicity of
//! [`TokenStore::insert`] under concurrent logins.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::expiry::{ExpiryPolicy, Lifespan, LiveAt};
use crate::record::TokenRecord;
use crate::scope::Scopes;
use crate::store::{Admission, Inserted, TokenStore};
use crate::token::{TokenDigest, TokenFormat, TokenId};
use crate::usage::Usage;
use crate::user::UserId;

/// The instant the suite's records are created around (with sub-second precision, so
/// stores must keep microseconds).
pub const BASE: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456 UTC);

/// A record for user `user`, created `minutes` after [`BASE`].
pub fn record(user: &str, minutes: i64) -> TokenRecord {
    TokenRecord {
        id: TokenId::generate(),
        digest: TokenFormat::default().generate().digest(),
        user_id: UserId::new(user),
        name: Some(format!("device of {user}")),
        scopes: Scopes::parse("read write").expect("valid scopes"),
        created: BASE + Duration::minutes(minutes),
        expires: None,
        last_used: None,
        last_ip: None,
    }
}

/// Liveness under a one-hour lifespan at `minutes` after [`BASE`].
fn live_at(minutes: i64) -> LiveAt {
    ExpiryPolicy::new(Lifespan::new(Duration::hours(1)).expect("valid"))
        .live_at(BASE + Duration::minutes(minutes))
}

async fn add<S: TokenStore>(store: &S, rec: &TokenRecord) {
    let inserted = store.insert(rec, Admission::Add).await.expect("insert");
    assert_eq!(inserted, Inserted::Stored { removed: vec![] });
}

async fn ids_of<S: TokenStore>(store: &S, user: &str) -> Vec<TokenId> {
    let records = store.list(Some(&UserId::new(user))).await.expect("list");
    records.into_iter().map(|r| r.id).collect()
}

/// A record inserted can be found by digest and by id, unchanged, every field kept.
pub async fn insert_then_find<S: TokenStore>(store: S) {
    let mut rec = record("1", 0);
    rec.expires = Some(rec.created + Duration::hours(1));
    rec.last_used = Some(rec.created + Duration::microseconds(5));
    rec.last_ip = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    add(&store, &rec).await;
    assert_eq!(
        store.find_by_digest(&rec.digest).await.expect("find").as_ref(),
        Some(&rec)
    );
    assert_eq!(
        store.find_by_id(&rec.id).await.expect("find").as_ref(),
        Some(&rec)
    );
}

/// A record without a name, scopes or own expiry round-trips too.
pub async fn optional_fields_round_trip<S: TokenStore>(store: S) {
    let mut rec = record("1", 0);
    rec.name = None;
    rec.scopes = Scopes::none();
    rec.last_ip = Some("2001:db8::1".parse().expect("valid address"));
    add(&store, &rec).await;
    assert_eq!(store.find_by_id(&rec.id).await.expect("find"), Some(rec));
}

/// Unknown digests and ids find nothing.
pub async fn unknown_finds_nothing<S: TokenStore>(store: S) {
    add(&store, &record("1", 0)).await;
    let other = record("1", 1);
    assert_eq!(store.find_by_digest(&other.digest).await.expect("find"), None);
    assert_eq!(store.find_by_id(&other.id).await.expect("find"), None);
}

/// Expired records are returned like any other: stores never apply policy.
pub async fn expired_records_are_returned<S: TokenStore>(store: S) {
    let mut rec = record("1", 0);
    rec.created = datetime!(1999-01-01 0:00 UTC);
    rec.expires = Some(datetime!(1999-01-02 0:00 UTC));
    add(&store, &rec).await;
    assert_eq!(store.find_by_digest(&rec.digest).await.expect("find"), Some(rec));
}

/// A duplicate id or digest is refused, and the first record stays.
pub async fn duplicates_are_refused<S: TokenStore>(store: S) {
    let rec = record("1", 0);
    add(&store, &rec).await;
    let mut same_id = record("2", 1);
    same_id.id = rec.id.clone();
    assert!(
        store.insert(&same_id, Admission::Add).await.is_err(),
        "duplicate id accepted"
    );
    let mut same_digest = record("2", 1);
    same_digest.digest = rec.digest;
    assert!(
        store.insert(&same_digest, Admission::Add).await.is_err(),
        "duplicate digest accepted"
    );
    assert_eq!(store.list(None).await.expect("list"), vec![rec]);
}

/// A user may hold many tokens; lists are per user or global, oldest first.
pub async fn lists_by_user_oldest_first<S: TokenStore>(store: S) {
    let a2 = record("a", 2);
    let b1 = record("b", 1);
    let a0 = record("a", 0);
    for rec in [&a2, &b1, &a0] {
        add(&store, rec).await;
    }
    assert_eq!(
        store.list(Some(&UserId::new("a"))).await.expect("list"),
        vec![a0.clone(), a2.clone()]
    );
    assert_eq!(
        store.list(Some(&UserId::new("nobody"))).await.expect("list"),
        vec![]
    );
    assert_eq!(store.list(None).await.expect("list"), vec![a0, b1, a2]);
}

/// Deleting removes the record from every lookup, once, and names its user.
pub async fn delete_removes_from_every_lookup<S: TokenStore>(store: S) {
    let rec = record("1", 0);
    let other = record("1", 1);
    add(&store, &rec).await;
    add(&store, &other).await;
    assert_eq!(
        store.delete(&rec.id).await.expect("delete"),
        Some(UserId::new("1"))
    );
    assert_eq!(
        store.delete(&rec.id).await.expect("delete"),
        None,
        "second delete found it"
    );
    assert_eq!(store.find_by_digest(&rec.digest).await.expect("find"), None);
    assert_eq!(store.find_by_id(&rec.id).await.expect("find"), None);
    assert_eq!(store.list(None).await.expect("list"), vec![other]);
}

/// Deleting a user's tokens leaves other users' and the one kept.
pub async fn delete_for_user_keeps_others<S: TokenStore>(store: S) {
    let (a0, a1, a2, b0) = (record("a", 0), record("a", 1), record("a", 2), record("b", 0));
    for rec in [&a0, &a1, &a2, &b0] {
        add(&store, rec).await;
    }
    let deleted = store
        .delete_for_user(&UserId::new("a"), Some(&a1.id))
        .await
        .expect("delete");
    assert_eq!(deleted, vec![a0.id.clone(), a2.id.clone()]);
    assert_eq!(ids_of(&store, "a").await, vec![a1.id.clone()]);
    assert_eq!(ids_of(&store, "b").await, vec![b0.id.clone()]);
    let deleted = store
        .delete_for_user(&UserId::new("a"), None)
        .await
        .expect("delete");
    assert_eq!(deleted, vec![a1.id]);
    assert_eq!(store.find_by_digest(&a1.digest).await.expect("find"), None);
    assert_eq!(ids_of(&store, "b").await, vec![b0.id]);
}

/// `Replace` deletes all the user's other tokens, live or not, and no one else's.
pub async fn replace_deletes_the_users_other_tokens<S: TokenStore>(store: S) {
    let (a0, a1, b0) = (record("a", 0), record("a", 1), record("b", 0));
    for rec in [&a0, &a1, &b0] {
        add(&store, rec).await;
    }
    let new = record("a", 2);
    let inserted = store.insert(&new, Admission::Replace).await.expect("insert");
    assert_eq!(
        inserted,
        Inserted::Stored {
            removed: vec![a0.id, a1.id]
        }
    );
    assert_eq!(ids_of(&store, "a").await, vec![new.id]);
    assert_eq!(ids_of(&store, "b").await, vec![b0.id]);
}

/// `EvictOldest` deletes the oldest *live* tokens beyond the limit; dead ones neither
/// count nor go.
pub async fn evict_oldest_counts_only_live_tokens<S: TokenStore>(store: S) {
    // At minute 70 under a 1 h lifespan, a token created at minute 0 is dead.
    let dead = record("a", 0);
    let (old, mid) = (record("a", 20), record("a", 30));
    for rec in [&dead, &old, &mid] {
        add(&store, rec).await;
    }
    let new = record("a", 70);
    let admission = Admission::EvictOldest {
        max_live: 2,
        live: live_at(70),
        recently_used: vec![],
    };
    let inserted = store.insert(&new, admission).await.expect("insert");
    assert_eq!(
        inserted,
        Inserted::Stored {
            removed: vec![old.id]
        }
    );
    assert_eq!(ids_of(&store, "a").await, vec![dead.id, mid.id, new.id]);

    // Under the limit nothing goes.
    let other = record("b", 70);
    let admission = Admission::EvictOldest {
        max_live: 2,
        live: live_at(70),
        recently_used: vec![],
    };
    assert_eq!(
        store.insert(&other, admission).await.expect("insert"),
        Inserted::Stored { removed: vec![] }
    );
}

/// `Reject` refuses at the limit, counting only live tokens, and changes nothing.
pub async fn reject_refuses_at_the_limit<S: TokenStore>(store: S) {
    let mut own_expired = record("a", 30);
    own_expired.expires = Some(BASE + Duration::minutes(40));
    let mut idle = record("a", 35);
    idle.last_used = Some(BASE + Duration::minutes(36));
    let live = record("a", 50);
    for rec in [&own_expired, &idle, &live] {
        add(&store, rec).await;
    }
    // At minute 70, with a 20-minute idle timeout: only `live` is live.
    let policy = ExpiryPolicy::new(Lifespan::new(Duration::hours(1)).expect("valid"))
        .with_idle_timeout(Some(Lifespan::new(Duration::minutes(20)).expect("valid")));
    let at = policy.live_at(BASE + Duration::minutes(70));
    let second = record("a", 70);
    let inserted = store
        .insert(
            &second,
            Admission::Reject {
                max_live: 2,
                live: at,
                recently_used: vec![],
            },
        )
        .await;
    assert_eq!(inserted.expect("insert"), Inserted::Stored { removed: vec![] });
    let third = record("a", 70);
    let inserted = store
        .insert(
            &third,
            Admission::Reject {
                max_live: 2,
                live: at,
                recently_used: vec![],
            },
        )
        .await;
    assert_eq!(inserted.expect("insert"), Inserted::Rejected);
    assert_eq!(store.find_by_id(&third.id).await.expect("find"), None);
    assert_eq!(store.list(None).await.expect("list").len(), 4);
}

fn reject(max_live: usize, live: LiveAt, recently_used: Vec<TokenId>) -> Admission {
    Admission::Reject {
        max_live,
        live,
        recently_used,
    }
}

fn evict(max_live: usize, live: LiveAt, recently_used: Vec<TokenId>) -> Admission {
    Admission::EvictOldest {
        max_live,
        live,
        recently_used,
    }
}

/// Tokens named as recently used count against the limit even when their stored last
/// use says they are idle; other users' ids named there change nothing.
pub async fn recently_used_tokens_count_against_the_limit<S: TokenStore>(store: S) {
    let policy = ExpiryPolicy::new(Lifespan::new(Duration::hours(1)).expect("valid"))
        .with_idle_timeout(Some(Lifespan::new(Duration::minutes(20)).expect("valid")));
    let at = policy.live_at(BASE + Duration::minutes(50));
    // Idle by its stored last use (created at 10, never written as used since).
    let in_use = record("a", 10);
    let idle = record("a", 11);
    let someone_elses = record("b", 50);
    for rec in [&in_use, &idle, &someone_elses] {
        add(&store, rec).await;
    }
    let first = record("a", 50);
    let others = vec![someone_elses.id.clone()];
    let inserted = store.insert(&first, reject(1, at, others)).await.expect("insert");
    assert_eq!(
        inserted,
        Inserted::Stored { removed: vec![] },
        "idle tokens do not count"
    );
    store.delete(&first.id).await.expect("delete");

    let second = record("a", 50);
    let named = vec![in_use.id.clone()];
    let inserted = store
        .insert(&second, reject(1, at, named.clone()))
        .await
        .expect("insert");
    assert_eq!(inserted, Inserted::Rejected, "a recently used token counts");

    let inserted = store.insert(&second, evict(1, at, named)).await.expect("insert");
    assert_eq!(
        inserted,
        Inserted::Stored {
            removed: vec![in_use.id]
        }
    );
    assert_eq!(ids_of(&store, "a").await, vec![idle.id, second.id]);
}

/// Many concurrent inserts all land.
pub async fn concurrent_inserts_all_land<S: TokenStore>(store: S) {
    let records: Vec<TokenRecord> = (0..32).map(|i| record("1", i)).collect();
    let inserts = records.iter().map(|rec| store.insert(rec, Admission::Add));
    for result in futures_util::future::join_all(inserts).await {
        result.expect("concurrent insert");
    }
    assert_eq!(store.list(None).await.expect("list"), records);
}

/// The limit holds under concurrent logins: no count-then-insert race.
pub async fn concurrent_inserts_respect_the_limit<S: TokenStore>(store: S) {
    let live = live_at(10);
    let rejecting: Vec<TokenRecord> = (0..16).map(|_| record("r", 5)).collect();
    let inserts = rejecting
        .iter()
        .map(|rec| store.insert(rec, reject(3, live, vec![])));
    let results = futures_util::future::join_all(inserts).await;
    let stored = results
        .into_iter()
        .map(|r| r.expect("concurrent insert"))
        .filter(|r| matches!(r, Inserted::Stored { .. }))
        .count();
    assert_eq!(stored, 3);
    assert_eq!(ids_of(&store, "r").await.len(), 3);

    let evicting: Vec<TokenRecord> = (0..16).map(|i| record("e", i % 4)).collect();
    let inserts = evicting
        .iter()
        .map(|rec| store.insert(rec, evict(3, live, vec![])));
    for result in futures_util::future::join_all(inserts).await {
        assert!(matches!(
            result.expect("concurrent insert"),
            Inserted::Stored { .. }
        ));
    }
    assert_eq!(ids_of(&store, "e").await.len(), 3);
}

/// Usage moves `last_used` forward only, sets the address, and ignores unknown ids.
pub async fn record_usage_keeps_the_latest<S: TokenStore>(store: S) {
    let rec = record("1", 0);
    add(&store, &rec).await;
    let ip1: IpAddr = "192.0.2.1".parse().expect("valid");
    let ip2: IpAddr = "2001:db8::2".parse().expect("valid");
    let t = |m| BASE + Duration::minutes(m) + Duration::microseconds(7);
    let uses = [
        Usage {
            id: rec.id.clone(),
            at: t(5),
            ip: Some(ip1),
        },
        Usage {
            id: TokenId::generate(),
            at: t(5),
            ip: Some(ip1),
        },
    ];
    store.record_usage(&uses).await.expect("usage");
    let found = store.find_by_id(&rec.id).await.expect("find").expect("stored");
    assert_eq!((found.last_used, found.last_ip), (Some(t(5)), Some(ip1)));

    // An older use does not move it back.
    store
        .record_usage(&[Usage {
            id: rec.id.clone(),
            at: t(1),
            ip: Some(ip2),
        }])
        .await
        .expect("usage");
    let found = store.find_by_id(&rec.id).await.expect("find").expect("stored");
    assert_eq!((found.last_used, found.last_ip), (Some(t(5)), Some(ip1)));

    // A newer one without an address keeps the last address.
    store
        .record_usage(&[Usage {
            id: rec.id.clone(),
            at: t(9),
            ip: None,
        }])
        .await
        .expect("usage");
    let found = store.find_by_id(&rec.id).await.expect("find").expect("stored");
    assert_eq!((found.last_used, found.last_ip), (Some(t(9)), Some(ip1)));
    store
        .record_usage(&[Usage {
            id: rec.id.clone(),
            at: t(10),
            ip: Some(ip2),
        }])
        .await
        .expect("usage");
    let found = store.find_by_id(&rec.id).await.expect("find").expect("stored");
    assert_eq!((found.last_used, found.last_ip), (Some(t(10)), Some(ip2)));
    store.record_usage(&[]).await.expect("an empty batch is fine");
}

/// The purge deletes exactly the records dead at the cutoff, at most `limit` a call.
pub async fn purge_deletes_only_dead_records_in_batches<S: TokenStore>(store: S) {
    let policy = ExpiryPolicy::new(Lifespan::new(Duration::hours(1)).expect("valid"))
        .with_idle_timeout(Some(Lifespan::new(Duration::minutes(20)).expect("valid")));
    let mut records = Vec::new();
    // Dead by lifespan: created before minute 10 (cutoff at minute 70).
    for m in 0..5 {
        let mut rec = record("a", m);
        rec.last_used = Some(BASE + Duration::minutes(65));
        records.push(rec);
    }
    // Dead by own expiry.
    let mut own = record("a", 30);
    own.expires = Some(BASE + Duration::minutes(60));
    own.last_used = Some(BASE + Duration::minutes(59));
    records.push(own);
    // Dead by idleness: never used since minute 40 (created at 40).
    records.push(record("a", 40));
    // Live: exactly at every bound.
    let mut edge = record("a", 10);
    edge.expires = Some(BASE + Duration::minutes(70));
    edge.last_used = Some(BASE + Duration::minutes(50));
    records.push(edge.clone());
    let fresh = record("b", 69);
    records.push(fresh.clone());
    for rec in &records {
        add(&store, rec).await;
    }
    let dead = policy.live_at(BASE + Duration::minutes(70));
    for rec in &records {
        let expected_live = rec.id == edge.id || rec.id == fresh.id;
        assert_eq!(dead.is_live(rec), expected_live, "suite bug: {rec:?}");
    }
    assert_eq!(store.purge(&dead, 3).await.expect("purge"), 3);
    assert_eq!(store.purge(&dead, 3).await.expect("purge"), 3);
    assert_eq!(store.purge(&dead, 3).await.expect("purge"), 1);
    assert_eq!(store.purge(&dead, 3).await.expect("purge"), 0);
    let mut left: Vec<TokenId> = store
        .list(None)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    left.sort();
    let mut expected = vec![edge.id, fresh.id];
    expected.sort();
    assert_eq!(left, expected);
}

/// A store wrapper that counts what reaches the store: digest and id lookups (to show
/// that garbage never does) and the last-used times written (to show there is no write
/// per request). Usage writes can also be held back, to look at what readers see while
/// one is in flight.
#[derive(Debug, Clone, Default)]
pub struct CountingStore<S> {
    inner: S,
    lookups: Arc<AtomicUsize>,
    usage_writes: Arc<Mutex<Vec<TokenId>>>,
    usage_gate: Arc<tokio::sync::RwLock<()>>,
}

impl<S> CountingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            lookups: Arc::default(),
            usage_writes: Arc::default(),
            usage_gate: Arc::default(),
        }
    }

    /// Holds every [`TokenStore::record_usage`] call until the guard is dropped.
    pub async fn hold_usage_writes(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        Arc::clone(&self.usage_gate).write_owned().await
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Digest and id lookups so far.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    /// The ids in every [`TokenStore::record_usage`] batch so far (held back or not), in
    /// order.
    pub fn usage_writes(&self) -> Vec<TokenId> {
        self.usage_writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl<S: TokenStore> TokenStore for CountingStore<S> {
    type Error = S::Error;

    async fn insert(&self, record: &TokenRecord, admission: Admission) -> Result<Inserted, Self::Error> {
        self.inner.insert(record, admission).await
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Self::Error> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.find_by_digest(digest).await
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Self::Error> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.find_by_id(id).await
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Self::Error> {
        self.inner.list(user).await
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<UserId>, Self::Error> {
        self.inner.delete(id).await
    }

    async fn delete_for_user(
        &self,
        user: &UserId,
        keep: Option<&TokenId>,
    ) -> Result<Vec<TokenId>, Self::Error> {
        self.inner.delete_for_user(user, keep).await
    }

    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Self::Error> {
        // Counted on arrival, so a test can see a write that is being held back.
        self.usage_writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(uses.iter().map(|u| u.id.clone()));
        let _open = self.usage_gate.read().await;
        self.inner.record_usage(uses).await
    }

    async fn purge(&self, dead: &LiveAt, limit: usize) -> Result<usize, Self::Error> {
        self.inner.purge(dead, limit).await
    }
}

/// Runs the whole conformance suite against a store: one `#[tokio::test]` per case,
/// each with a fresh store from `$make` (an expression evaluating to a future of the
/// store).
///
/// The crate using it needs `tokio` (with `macros` and `rt-multi-thread`) as a
/// dev-dependency.
#[macro_export]
macro_rules! token_store_conformance {
    ($make:expr) => {
        $crate::token_store_conformance!(@cases $make;
            insert_then_find,
            optional_fields_round_trip,
            unknown_finds_nothing,
            expired_records_are_returned,
            duplicates_are_refused,
            lists_by_user_oldest_first,
            delete_removes_from_every_lookup,
            delete_for_user_keeps_others,
            replace_deletes_the_users_other_tokens,
            evict_oldest_counts_only_live_tokens,
            reject_refuses_at_the_limit,
            concurrent_inserts_all_land,
            concurrent_inserts_respect_the_limit,
            recently_used_tokens_count_against_the_limit,
            record_usage_keeps_the_latest,
            purge_deletes_only_dead_records_in_batches,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::conformance::$case($make.await).await;
            }
        )+
    };
}
