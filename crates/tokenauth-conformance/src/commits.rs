//! The token-store suite's compare-and-swap half: token sets, their versions, and the
//! commits that apply a change only on the version read.

use tokenauth_core::TokenId;
use tokenauth_core::store::{Change, Committed, Ended, TokenRecord, TokenStore, UserAdmin};

use crate::StoreSubject;
use crate::capabilities::SEVERAL_TOKENS;
use crate::subject::{ids_of, insert, version};

/// A user who never had a commit has an empty set at version 0; a set lists the
/// user's records only, oldest first.
pub async fn token_sets_start_at_version_zero<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let Some(s) = s.needs(SEVERAL_TOKENS).await else {
        return;
    };
    let (a, b, nobody) = (s.user("a").await, s.user("b").await, s.user("nobody").await);
    let store = s.store();
    let empty = store.token_set(&nobody.id).await.expect("token set");
    assert_eq!((empty.version, empty.records), (0, vec![]));
    let a1 = s.add(s.record(&a, 1)).await;
    let a0 = s.add(s.record(&a, 0)).await;
    s.add(s.record(&b, 0)).await;
    let set = store.token_set(&a.id).await.expect("token set");
    assert_eq!(set.records, vec![a0, a1]);
    assert_ne!(set.version, 0);
}

/// A commit applies only on the version read, changes it, and a stale one writes
/// nothing at all.
pub async fn commit_is_a_compare_and_swap<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let a = s.user("a").await;
    let user = &a.id;
    let first = s.add(s.record(&a, 0)).await;
    let (second, third) = (s.record(&a, 1), s.record(&a, 2));
    let store = s.store();
    let read = store.token_set(user).await.expect("token set").version;
    let change = |delete: Vec<TokenId>, insert: &TokenRecord| Change {
        delete,
        insert: Some(insert.clone()),
    };
    let committed = store
        .commit(user, read, change(vec![first.id.clone()], &second))
        .await
        .expect("commit");
    assert_eq!(
        committed,
        Committed::Applied {
            ended: vec![Ended::from(&first)]
        }
    );
    let second = s.stored(second).await;
    let now = version(store, user).await;
    assert_ne!(now, read, "a commit changes the version");

    // A second commit on the version read before the first: a conflict, nothing written.
    let stale = store
        .commit(user, read, change(vec![second.id.clone()], &third))
        .await
        .expect("commit");
    assert_eq!(stale, Committed::Conflict);
    assert_eq!(ids_of(store, user).await, vec![second.id.clone()]);
    assert_eq!(store.find_by_digest(&third.digest).await.expect("find"), None);
    assert_eq!(version(store, user).await, now, "a conflict leaves the version");

    // A commit that only deletes changes the version too; unknown ids are skipped.
    let delete_only = Change {
        delete: vec![second.id.clone(), TokenId::generate()],
        insert: None,
    };
    let committed = store.commit(user, now, delete_only).await.expect("commit");
    assert_eq!(
        committed,
        Committed::Applied {
            ended: vec![Ended::from(&second)]
        }
    );
    assert_ne!(version(store, user).await, now);
    assert_eq!(ids_of(store, user).await, vec![]);
}

/// A commit for one user never deletes another user's records, and leaves other
/// users' versions alone.
pub async fn commit_deletes_only_that_users_records<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let (a, b) = (s.user("a").await, s.user("b").await);
    let mine = s.add(s.record(&a, 0)).await;
    let theirs = s.add(s.record(&b, 0)).await;
    let store = s.store();
    let theirs_version = version(store, &b.id).await;
    let expected = version(store, &a.id).await;
    let change = Change {
        delete: vec![theirs.id.clone(), mine.id.clone()],
        insert: None,
    };
    let committed = store.commit(&a.id, expected, change).await.expect("commit");
    assert_eq!(
        committed,
        Committed::Applied {
            ended: vec![Ended::from(&mine)]
        }
    );
    assert_eq!(ids_of(store, &b.id).await, vec![theirs.id]);
    assert_eq!(version(store, &b.id).await, theirs_version);
}

/// Concurrent writers of one user, each retrying on conflict, all land: every version
/// is committed once.
pub async fn concurrent_commits_all_land<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
    let Some(s) = s.needs(SEVERAL_TOKENS).await else {
        return;
    };
    let user = s.user("1").await;
    let records: Vec<TokenRecord> = (0..24).map(|i| s.record(&user, i)).collect();
    let store = s.store();
    let writers = records.iter().map(|rec| async {
        let mut conflicts = 0;
        loop {
            match insert(store, rec).await.expect("concurrent commit") {
                Committed::Applied { .. } => return conflicts,
                Committed::Conflict => conflicts += 1,
            }
        }
    });
    futures_util::future::join_all(writers).await;
    let mut stored = Vec::new();
    for rec in records {
        stored.push(s.stored(rec).await);
    }
    assert_eq!(store.list(None).await.expect("list"), stored);
}
