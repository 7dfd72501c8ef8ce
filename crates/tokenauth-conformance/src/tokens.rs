//! The token-store suite's storage half: records found, listed and deleted (the
//! compare-and-swap primitive is in `commits.rs`, usage and the purge in `upkeep.rs`,
//! the policy applied through them in `policy.rs`).

use std::net::{IpAddr, Ipv4Addr};

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use tokenauth_core::store::{Capabilities, Ended, TokenRecord, TokenStore, UserAdmin};
use tokenauth_core::{Scopes, TokenFormat, TokenId, UserId};

use crate::StoreSubject;
use crate::capabilities::SEVERAL_TOKENS;
use crate::subject::{ids_of, insert, version};

/// The instant the suite's records are created around (with sub-second precision, so
/// stores must keep microseconds).
pub const BASE: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456 UTC);

/// A record for user `user` (credential version 0), created `minutes` after [`BASE`],
/// with a name and scopes.
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

/// A record inserted can be found by digest and by id, unchanged, every field the store
/// holds kept (the credential version up to `u64::MAX`).
pub async fn insert_then_find<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let alice = s.user("alice").await;
    let mut rec = s.record(&alice, 0);
    rec.expires = Some(rec.created + Duration::hours(1));
    // A store without versions of its own checks that a token's is its user's.
    if s.holds().credential_versions {
        rec.credential_version = u64::MAX;
    }
    rec.last_used = Some(rec.created + Duration::microseconds(5));
    rec.last_ip = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let rec = s.add(rec).await;
    let store = s.store();
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
pub async fn optional_fields_round_trip<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let alice = s.user("alice").await;
    let mut rec = s.record(&alice, 0);
    rec.name = None;
    rec.scopes = Scopes::none();
    rec.last_ip = Some("2001:db8::1".parse().expect("valid address"));
    let rec = s.add(rec).await;
    assert_eq!(s.store().find_by_id(&rec.id).await.expect("find"), Some(rec));
}

/// Unknown digests and ids find nothing.
pub async fn unknown_finds_nothing<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let alice = s.user("alice").await;
    s.add(s.record(&alice, 0)).await;
    let other = s.record(&alice, 1);
    let store = s.store();
    assert_eq!(store.find_by_digest(&other.digest).await.expect("find"), None);
    assert_eq!(store.find_by_id(&other.id).await.expect("find"), None);
}

/// Expired records are returned like any other: stores never apply policy.
pub async fn expired_records_are_returned<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let alice = s.user("alice").await;
    let mut rec = s.record(&alice, 0);
    rec.created = datetime!(1999-01-01 0:00 UTC);
    rec.expires = Some(datetime!(1999-01-02 0:00 UTC));
    let rec = s.add(rec).await;
    assert_eq!(
        s.store().find_by_digest(&rec.digest).await.expect("find"),
        Some(rec)
    );
}

/// A duplicate id is refused, and the first record stays.
pub async fn duplicate_ids_are_refused<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let needed = Capabilities {
        given_ids: true,
        ..Capabilities::NONE
    };
    let Some(s) = s.needs(needed).await else { return };
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let rec = s.add(s.record(&alice, 0)).await;
    let mut same_id = s.record(&bob, 1);
    same_id.id = rec.id.clone();
    assert!(
        insert(s.store(), &same_id).await.is_err(),
        "duplicate id accepted"
    );
    nothing_but(&s, rec, &bob.id).await;
}

/// A duplicate digest is refused, and the first record stays.
pub async fn duplicate_digests_are_refused<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let rec = s.add(s.record(&alice, 0)).await;
    let mut same_digest = s.record(&bob, 1);
    same_digest.digest = rec.digest;
    assert!(
        insert(s.store(), &same_digest).await.is_err(),
        "duplicate digest accepted"
    );
    nothing_but(&s, rec, &bob.id).await;
}

/// The store holds `rec` alone, and a refused commit for `refused` wrote nothing, the
/// version included.
async fn nothing_but<S: TokenStore, D: UserAdmin>(
    s: &StoreSubject<S, D>,
    rec: TokenRecord,
    refused: &UserId,
) {
    assert_eq!(s.store().list(None).await.expect("list"), vec![rec]);
    assert_eq!(version(s.store(), refused).await, 0);
}

/// A user may hold many tokens; lists are per user or global, oldest first.
pub async fn lists_by_user_oldest_first<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let Some(s) = s.needs(SEVERAL_TOKENS).await else {
        return;
    };
    let (a, b, nobody) = (s.user("a").await, s.user("b").await, s.user("nobody").await);
    let a2 = s.add(s.record(&a, 2)).await;
    let b1 = s.add(s.record(&b, 1)).await;
    let a0 = s.add(s.record(&a, 0)).await;
    let store = s.store();
    assert_eq!(
        store.list(Some(&a.id)).await.expect("list"),
        vec![a0.clone(), a2.clone()]
    );
    assert_eq!(store.list(Some(&nobody.id)).await.expect("list"), vec![]);
    assert_eq!(store.list(None).await.expect("list"), vec![a0, b1, a2]);
}

/// Lists across users are oldest first, and a user's list holds only its records.
pub async fn lists_across_users_oldest_first<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let (a, b, c) = (s.user("a").await, s.user("b").await, s.user("c").await);
    let a2 = s.add(s.record(&a, 2)).await;
    let b1 = s.add(s.record(&b, 1)).await;
    let c0 = s.add(s.record(&c, 0)).await;
    let store = s.store();
    assert_eq!(store.list(Some(&a.id)).await.expect("list"), vec![a2.clone()]);
    assert_eq!(store.list(None).await.expect("list"), vec![c0, b1, a2]);
}

/// Deleting removes the record from every lookup, once, and reports what ended; the
/// user's other token (or, where a user holds one, another user's) stays.
pub async fn delete_removes_from_every_lookup<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let alice = s.user("alice").await;
    let rec = s.add(s.record(&alice, 0)).await;
    let other = s.add(s.record(&s.user_beside(&alice).await, 1)).await;
    let store = s.store();
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
pub async fn delete_for_user_keeps_others<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let Some(s) = s.needs(SEVERAL_TOKENS).await else {
        return;
    };
    let (a, b) = (s.user("a").await, s.user("b").await);
    let a0 = s.add(s.record(&a, 0)).await;
    let a1 = s.add(s.record(&a, 1)).await;
    let a2 = s.add(s.record(&a, 2)).await;
    let b0 = s.add(s.record(&b, 0)).await;
    let store = s.store();
    let deleted = store.delete_for_user(&a.id, Some(&a1.id)).await.expect("delete");
    assert_eq!(deleted, vec![Ended::from(&a0), Ended::from(&a2)]);
    assert_eq!(ids_of(store, &a.id).await, vec![a1.id.clone()]);
    assert_eq!(ids_of(store, &b.id).await, vec![b0.id.clone()]);
    let deleted = store.delete_for_user(&a.id, None).await.expect("delete");
    assert_eq!(deleted, vec![Ended::from(&a1)]);
    assert_eq!(store.find_by_digest(&a1.digest).await.expect("find"), None);
    assert_eq!(ids_of(store, &b.id).await, vec![b0.id]);
}
