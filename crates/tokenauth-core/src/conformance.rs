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

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::record::TokenRecord;
use crate::store::TokenStore;
use crate::token::{TokenFormat, TokenId};
use crate::user::UserId;

/// A record for user `user`, created `minutes` after a fixed instant with sub-second
/// precision (so stores must keep microseconds).
pub fn record(user: &str, minutes: i64) -> TokenRecord {
    let base: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456 UTC);
    TokenRecord {
        id: TokenId::generate(),
        digest: TokenFormat::default().generate().digest(),
        user_id: UserId::new(user),
        name: Some(format!("device of {user}")),
        created: base + Duration::minutes(minutes),
        expires: None,
    }
}

/// A record inserted can be found by digest and by id, unchanged.
pub async fn insert_then_find<S: TokenStore>(store: S) {
    let mut rec = record("1", 0);
    rec.expires = Some(rec.created + Duration::hours(1));
    store.insert(&rec).await.expect("insert");
    assert_eq!(
        store.find_by_digest(&rec.digest).await.expect("find").as_ref(),
        Some(&rec)
    );
    assert_eq!(
        store.find_by_id(&rec.id).await.expect("find").as_ref(),
        Some(&rec)
    );
}

/// A record without a name or own expiry round-trips too.
pub async fn optional_fields_round_trip<S: TokenStore>(store: S) {
    let mut rec = record("1", 0);
    rec.name = None;
    rec.expires = None;
    store.insert(&rec).await.expect("insert");
    assert_eq!(store.find_by_id(&rec.id).await.expect("find"), Some(rec));
}

/// Unknown digests and ids find nothing.
pub async fn unknown_finds_nothing<S: TokenStore>(store: S) {
    store.insert(&record("1", 0)).await.expect("insert");
    let other = record("1", 1);
    assert_eq!(store.find_by_digest(&other.digest).await.expect("find"), None);
    assert_eq!(store.find_by_id(&other.id).await.expect("find"), None);
}

/// Expired records are returned like any other: stores never apply policy.
pub async fn expired_records_are_returned<S: TokenStore>(store: S) {
    let mut rec = record("1", 0);
    rec.created = datetime!(1999-01-01 0:00 UTC);
    rec.expires = Some(datetime!(1999-01-02 0:00 UTC));
    store.insert(&rec).await.expect("insert");
    assert_eq!(store.find_by_digest(&rec.digest).await.expect("find"), Some(rec));
}

/// A duplicate id or digest is refused, and the first record stays.
pub async fn duplicates_are_refused<S: TokenStore>(store: S) {
    let rec = record("1", 0);
    store.insert(&rec).await.expect("insert");
    let mut same_id = record("2", 1);
    same_id.id = rec.id.clone();
    assert!(store.insert(&same_id).await.is_err(), "duplicate id accepted");
    let mut same_digest = record("2", 1);
    same_digest.digest = rec.digest;
    assert!(
        store.insert(&same_digest).await.is_err(),
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
        store.insert(rec).await.expect("insert");
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

/// Deleting removes the record from every lookup, once.
pub async fn delete_removes_from_every_lookup<S: TokenStore>(store: S) {
    let rec = record("1", 0);
    let other = record("1", 1);
    store.insert(&rec).await.expect("insert");
    store.insert(&other).await.expect("insert");
    assert!(store.delete(&rec.id).await.expect("delete"));
    assert!(
        !store.delete(&rec.id).await.expect("delete"),
        "second delete reported a deletion"
    );
    assert_eq!(store.find_by_digest(&rec.digest).await.expect("find"), None);
    assert_eq!(store.find_by_id(&rec.id).await.expect("find"), None);
    assert_eq!(store.list(None).await.expect("list"), vec![other]);
}

/// Many concurrent inserts all land.
pub async fn concurrent_inserts_all_land<S: TokenStore>(store: S) {
    let records: Vec<TokenRecord> = (0..32).map(|i| record("1", i)).collect();
    let inserts = records.iter().map(|rec| store.insert(rec));
    for result in futures_util::future::join_all(inserts).await {
        result.expect("concurrent insert");
    }
    assert_eq!(store.list(None).await.expect("list"), records);
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
            concurrent_inserts_all_land,
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
