//! The token-store suite's upkeep half: the uses written in batches and the purge.

use std::net::IpAddr;

use time::{Duration, OffsetDateTime};

use tokenauth_core::store::{
    Capabilities, PurgeBounds, TokenDigest, TokenRecord, TokenStore, Usage, UserAdmin,
};
use tokenauth_core::{ExpiryPolicy, Lifespan, TokenId};

use crate::StoreSubject;
use crate::tokens::BASE;

/// Usage moves `last_used` forward only, sets the address, and ignores unknown ids.
pub async fn record_usage_keeps_the_latest<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let needed = Capabilities {
        usage: true,
        ..Capabilities::NONE
    };
    let Some(s) = s.needs(needed).await else { return };
    let user = s.user("1").await;
    let rec = s.add(s.record(&user, 0)).await;
    let store = s.store();
    let ip1: IpAddr = "192.0.2.1".parse().expect("valid");
    let ip2: IpAddr = "2001:db8::2".parse().expect("valid");
    let t = |m| BASE + Duration::minutes(m) + Duration::microseconds(7);
    let unknown = Usage {
        id: TokenId::generate(),
        digest: TokenDigest::of("a token never stored"),
        at: t(5),
        ip: Some(ip1),
    };
    let uses = [use_of(&rec, t(5), Some(ip1)), unknown];
    store.record_usage(&uses).await.expect("usage");
    assert_eq!(last_use(store, &rec).await, (Some(t(5)), Some(ip1)));

    // An older use does not move it back.
    store
        .record_usage(&[use_of(&rec, t(1), Some(ip2))])
        .await
        .expect("usage");
    assert_eq!(last_use(store, &rec).await, (Some(t(5)), Some(ip1)));

    // A newer one without an address keeps the last address.
    store
        .record_usage(&[use_of(&rec, t(9), None)])
        .await
        .expect("usage");
    assert_eq!(last_use(store, &rec).await, (Some(t(9)), Some(ip1)));
    store
        .record_usage(&[use_of(&rec, t(10), Some(ip2))])
        .await
        .expect("usage");
    assert_eq!(last_use(store, &rec).await, (Some(t(10)), Some(ip2)));
    store.record_usage(&[]).await.expect("an empty batch is fine");

    // One batch, several tokens: each gets its own use, and the rules hold per token.
    let other = s.add(s.record(&s.user_beside(&user).await, 1)).await;
    let uses = [use_of(&other, t(20), None), use_of(&rec, t(2), Some(ip1))];
    store.record_usage(&uses).await.expect("usage");
    assert_eq!(last_use(store, &other).await, (Some(t(20)), None));
    assert_eq!(
        last_use(store, &rec).await,
        (Some(t(10)), Some(ip2)),
        "an older use in a batch changes nothing"
    );
}

/// A use of `rec` at `at`, from `ip`.
pub(crate) fn use_of(rec: &TokenRecord, at: OffsetDateTime, ip: Option<IpAddr>) -> Usage {
    Usage {
        id: rec.id.clone(),
        digest: rec.digest,
        at,
        ip,
    }
}

/// The last use and address of `rec`, as stored.
pub(crate) async fn last_use<S: TokenStore>(
    store: &S,
    rec: &TokenRecord,
) -> (Option<OffsetDateTime>, Option<IpAddr>) {
    let found = store.find_by_id(&rec.id).await.expect("find");
    let found = found.expect("stored");
    (found.last_used, found.last_ip)
}

/// The purge deletes exactly the records matching any of its bounds, at most `limit`
/// a call, and reports them.
pub async fn purge_deletes_only_matching_records_in_batches<S: TokenStore, D: UserAdmin>(
    s: StoreSubject<S, D>,
) {
    let needed = Capabilities {
        several_tokens_per_user: true,
        own_lifespans: true,
        usage: true,
        ..Capabilities::NONE
    };
    let Some(s) = s.needs(needed).await else { return };
    let (a, b) = (s.user("a").await, s.user("b").await);
    let policy = ExpiryPolicy::new(Lifespan::new(Duration::hours(1)).expect("valid"))
        .with_idle_timeout(Some(Lifespan::new(Duration::minutes(20)).expect("valid")));
    let mut records = Vec::new();
    // Dead by lifespan: created before minute 10 (cutoff at minute 70).
    for m in 0..5 {
        let mut rec = s.record(&a, m);
        rec.last_used = Some(BASE + Duration::minutes(65));
        records.push(rec);
    }
    // Dead by own expiry.
    let mut own = s.record(&a, 30);
    own.expires = Some(BASE + Duration::minutes(60));
    own.last_used = Some(BASE + Duration::minutes(59));
    records.push(own);
    // Dead by idleness: never used since minute 40 (created at 40).
    records.push(s.record(&a, 40));
    // Live: exactly at every bound.
    let mut edge = s.record(&a, 10);
    edge.expires = Some(BASE + Duration::minutes(70));
    edge.last_used = Some(BASE + Duration::minutes(50));
    records.push(edge);
    records.push(s.record(&b, 69));
    let mut stored = Vec::new();
    for rec in records {
        stored.push(s.add(rec).await);
    }
    let bounds = policy.purge_bounds(BASE + Duration::minutes(70), Duration::ZERO);
    purged_in_batches(s.store(), &bounds, &[3, 3, 1, 0], &stored).await;
}

/// The purge of a store that keeps only when a token was created: its bounds match by
/// creation alone (no own expiry, no last use), at most `limit` a call.
pub async fn purge_by_creation_deletes_in_batches<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let policy = ExpiryPolicy::new(Lifespan::new(Duration::hours(1)).expect("valid"));
    let mut records = Vec::new();
    // Dead: created before minute 10 (cutoff at minute 70); live: the last two, at
    // the bound and after it.
    for minutes in [0, 1, 2, 3, 4, 10, 69] {
        let user = s.user(&format!("created at {minutes}")).await;
        records.push(s.add(s.record(&user, minutes)).await);
    }
    let bounds = policy.purge_bounds(BASE + Duration::minutes(70), Duration::ZERO);
    purged_in_batches(s.store(), &bounds, &[3, 2, 0], &records).await;
}

/// Purges `store` (holding `records`, all dead by `bounds` but the last two) 3 at a
/// time, checking how many each call deletes (`batches`): what ended is exactly the
/// dead, and the last two are left.
async fn purged_in_batches<S: TokenStore>(
    store: &S,
    bounds: &PurgeBounds,
    batches: &[usize],
    records: &[TokenRecord],
) {
    let (dead, live) = records.split_at(records.len() - 2);
    for rec in dead {
        assert!(bounds.matches(rec), "suite bug: {rec:?}");
    }
    for rec in live {
        assert!(!bounds.matches(rec), "suite bug: {rec:?}");
    }
    let mut ended = Vec::new();
    for &expected in batches {
        let step = store.purge(bounds, 3).await.expect("purge");
        assert_eq!(step.len(), expected);
        ended.extend(step);
    }
    let mut ended: Vec<TokenId> = ended.into_iter().map(|e| e.id).collect();
    ended.sort();
    let mut dead: Vec<TokenId> = dead.iter().map(|r| r.id.clone()).collect();
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
    let mut expected: Vec<TokenId> = live.iter().map(|r| r.id.clone()).collect();
    expected.sort();
    assert_eq!(left, expected);
}
