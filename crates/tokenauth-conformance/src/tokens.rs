//! The token-store suite's storage half: the verbs and the compare-and-swap primitive
//! (the policy applied through them is in `policy.rs`).

use std::net::{IpAddr, Ipv4Addr};

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use tokenauth_core::Scopes;
use tokenauth_core::UserId;
use tokenauth_core::store::{Change, Committed, Ended, TokenDigest, TokenRecord, TokenStore, Usage};
use tokenauth_core::{ExpiryPolicy, Lifespan};
use tokenauth_core::{TokenFormat, TokenId};

/// The instant the suite's records are created around (with sub-second precision, so
/// stores must keep microseconds).
pub const BASE: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456 UTC);

/// A record for user `user`, created `minutes` after [`BASE`].
pub fn record(user: &str, minutes: i64) -> TokenRecord {
    TokenRecord {
        id: TokenId::generate(),
        digest: TokenFormat::default().generate().digest(),
        user_id: UserId::new(user),
        credential_version: 0,
        name: Some(format!("device of {user}")),
        scopes: Scopes::parse("read write").expect("valid scopes"),
        created: BASE + Duration::minutes(minutes),
        expires: None,
        last_used: None,
        last_ip: None,
    }
}

/// Inserts `rec` alone, through a commit on the version read just before.
async fn insert<S: TokenStore>(store: &S, rec: &TokenRecord) -> Result<Committed, S::Error> {
    let expected = store.token_set(&rec.user_id).await?.version;
    let change = Change {
        delete: vec![],
        insert: Some(rec.clone()),
    };
    store.commit(&rec.user_id, expected, change).await
}

pub(crate) async fn add<S: TokenStore>(store: &S, rec: &TokenRecord) {
    let committed = insert(store, rec).await.expect("insert");
    assert_eq!(committed, Committed::Applied { ended: vec![] });
}

pub(crate) async fn ids_of<S: TokenStore>(store: &S, user: &str) -> Vec<TokenId> {
    let records = store.list(Some(&UserId::new(user))).await.expect("list");
    records.into_iter().map(|r| r.id).collect()
}

async fn version<S: TokenStore>(store: &S, user: &str) -> u64 {
    store
        .token_set(&UserId::new(user))
        .await
        .expect("token set")
        .version
}

/// A record inserted can be found by digest and by id, unchanged, every field kept
/// (the credential version up to `u64::MAX`).
pub async fn insert_then_find<S: TokenStore>(store: S) {
    let mut rec = record("1", 0);
    rec.expires = Some(rec.created + Duration::hours(1));
    rec.credential_version = u64::MAX;
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
    assert!(insert(&store, &same_id).await.is_err(), "duplicate id accepted");
    let mut same_digest = record("2", 1);
    same_digest.digest = rec.digest;
    assert!(
        insert(&store, &same_digest).await.is_err(),
        "duplicate digest accepted"
    );
    assert_eq!(store.list(None).await.expect("list"), vec![rec]);
    // A refused commit wrote nothing, the version included.
    assert_eq!(version(&store, "2").await, 0);
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

/// Deleting removes the record from every lookup, once, and reports what ended.
pub async fn delete_removes_from_every_lookup<S: TokenStore>(store: S) {
    let rec = record("1", 0);
    let other = record("1", 1);
    add(&store, &rec).await;
    add(&store, &other).await;
    assert_eq!(
        store.delete(&rec.id).await.expect("delete"),
        Some(Ended::from(&rec))
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
    assert_eq!(deleted, vec![Ended::from(&a0), Ended::from(&a2)]);
    assert_eq!(ids_of(&store, "a").await, vec![a1.id.clone()]);
    assert_eq!(ids_of(&store, "b").await, vec![b0.id.clone()]);
    let deleted = store
        .delete_for_user(&UserId::new("a"), None)
        .await
        .expect("delete");
    assert_eq!(deleted, vec![Ended::from(&a1)]);
    assert_eq!(store.find_by_digest(&a1.digest).await.expect("find"), None);
    assert_eq!(ids_of(&store, "b").await, vec![b0.id]);
}

/// A user who never had a commit has an empty set at version 0; a set lists the
/// user's records only, oldest first.
pub async fn token_sets_start_at_version_zero<S: TokenStore>(store: S) {
    let empty = store.token_set(&UserId::new("nobody")).await.expect("token set");
    assert_eq!((empty.version, empty.records), (0, vec![]));
    let (a1, a0, b0) = (record("a", 1), record("a", 0), record("b", 0));
    for rec in [&a1, &a0, &b0] {
        add(&store, rec).await;
    }
    let set = store.token_set(&UserId::new("a")).await.expect("token set");
    assert_eq!(set.records, vec![a0, a1]);
    assert_ne!(set.version, 0);
}

/// A commit applies only on the version read, changes it, and a stale one writes
/// nothing at all.
pub async fn commit_is_a_compare_and_swap<S: TokenStore>(store: S) {
    let user = UserId::new("a");
    let (first, second, third) = (record("a", 0), record("a", 1), record("a", 2));
    add(&store, &first).await;
    let read = store.token_set(&user).await.expect("token set").version;
    let change = |delete: Vec<TokenId>, insert: &TokenRecord| Change {
        delete,
        insert: Some(insert.clone()),
    };
    let committed = store
        .commit(&user, read, change(vec![first.id.clone()], &second))
        .await
        .expect("commit");
    assert_eq!(
        committed,
        Committed::Applied {
            ended: vec![Ended::from(&first)]
        }
    );
    let now = version(&store, "a").await;
    assert_ne!(now, read, "a commit changes the version");

    // A second commit on the version read before the first: a conflict, nothing written.
    let stale = store
        .commit(&user, read, change(vec![second.id.clone()], &third))
        .await
        .expect("commit");
    assert_eq!(stale, Committed::Conflict);
    assert_eq!(ids_of(&store, "a").await, vec![second.id.clone()]);
    assert_eq!(store.find_by_digest(&third.digest).await.expect("find"), None);
    assert_eq!(version(&store, "a").await, now, "a conflict leaves the version");

    // A commit that only deletes changes the version too; unknown ids are skipped.
    let delete_only = Change {
        delete: vec![second.id.clone(), TokenId::generate()],
        insert: None,
    };
    let committed = store.commit(&user, now, delete_only).await.expect("commit");
    assert_eq!(
        committed,
        Committed::Applied {
            ended: vec![Ended::from(&second)]
        }
    );
    assert_ne!(version(&store, "a").await, now);
    assert_eq!(ids_of(&store, "a").await, vec![]);
}

/// A commit for one user never deletes another user's records, and leaves other
/// users' versions alone.
pub async fn commit_deletes_only_that_users_records<S: TokenStore>(store: S) {
    let (mine, theirs) = (record("a", 0), record("b", 0));
    add(&store, &mine).await;
    add(&store, &theirs).await;
    let theirs_version = version(&store, "b").await;
    let expected = version(&store, "a").await;
    let change = Change {
        delete: vec![theirs.id.clone(), mine.id.clone()],
        insert: None,
    };
    let committed = store
        .commit(&UserId::new("a"), expected, change)
        .await
        .expect("commit");
    assert_eq!(
        committed,
        Committed::Applied {
            ended: vec![Ended::from(&mine)]
        }
    );
    assert_eq!(ids_of(&store, "b").await, vec![theirs.id]);
    assert_eq!(version(&store, "b").await, theirs_version);
}

/// Concurrent writers of one user, each retrying on conflict, all land: every version
/// is committed once.
pub async fn concurrent_commits_all_land<S: TokenStore>(store: S) {
    let records: Vec<TokenRecord> = (0..24).map(|i| record("1", i)).collect();
    let writers = records.iter().map(|rec| async {
        let mut conflicts = 0;
        loop {
            match insert(&store, rec).await.expect("concurrent commit") {
                Committed::Applied { .. } => return conflicts,
                Committed::Conflict => conflicts += 1,
            }
        }
    });
    futures_util::future::join_all(writers).await;
    assert_eq!(store.list(None).await.expect("list"), records);
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
            digest: rec.digest,
            at: t(5),
            ip: Some(ip1),
        },
        Usage {
            id: TokenId::generate(),
            digest: TokenDigest::of("a token never stored"),
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
            digest: rec.digest,
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
            digest: rec.digest,
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
            digest: rec.digest,
            at: t(10),
            ip: Some(ip2),
        }])
        .await
        .expect("usage");
    let found = store.find_by_id(&rec.id).await.expect("find").expect("stored");
    assert_eq!((found.last_used, found.last_ip), (Some(t(10)), Some(ip2)));
    store.record_usage(&[]).await.expect("an empty batch is fine");

    // One batch, several tokens: each gets its own use, and the rules hold per token.
    let other = record("1", 1);
    add(&store, &other).await;
    store
        .record_usage(&[
            Usage {
                id: other.id.clone(),
                digest: other.digest,
                at: t(20),
                ip: None,
            },
            Usage {
                id: rec.id.clone(),
                digest: rec.digest,
                at: t(2),
                ip: Some(ip1),
            },
        ])
        .await
        .expect("usage");
    let found = store.find_by_id(&other.id).await.expect("find").expect("stored");
    assert_eq!((found.last_used, found.last_ip), (Some(t(20)), None));
    let found = store.find_by_id(&rec.id).await.expect("find").expect("stored");
    assert_eq!(
        (found.last_used, found.last_ip),
        (Some(t(10)), Some(ip2)),
        "an older use in a batch changes nothing"
    );
}

/// The purge deletes exactly the records matching any of its bounds, at most `limit`
/// a call, and reports them.
pub async fn purge_deletes_only_matching_records_in_batches<S: TokenStore>(store: S) {
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
    let bounds = policy.purge_bounds(BASE + Duration::minutes(70), Duration::ZERO);
    for rec in &records {
        let expected = rec.id != edge.id && rec.id != fresh.id;
        assert_eq!(bounds.matches(rec), expected, "suite bug: {rec:?}");
    }
    let mut ended = Vec::new();
    for expected in [3, 3, 1, 0] {
        let step = store.purge(&bounds, 3).await.expect("purge");
        assert_eq!(step.len(), expected);
        ended.extend(step);
    }
    let mut ended: Vec<TokenId> = ended.into_iter().map(|e| e.id).collect();
    ended.sort();
    let mut dead: Vec<TokenId> = records
        .iter()
        .filter(|r| bounds.matches(r))
        .map(|r| r.id.clone())
        .collect();
    dead.sort();
    assert_eq!(ended, dead);
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
