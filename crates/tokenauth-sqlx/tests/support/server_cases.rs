//! What the server dialects promise beyond the conformance suites, on any of them: the
//! cases `tests/postgres.rs` and `tests/mysql.rs` run on a fresh store each.

use std::collections::BTreeMap;

use tokenauth_conformance::record;
use tokenauth_core::store::{Change, Committed, Settings, TokenStore};

/// An insert that fails (a duplicate digest) writes nothing, not even the version.
pub(crate) async fn a_failed_commit_writes_nothing<S: TokenStore>(store: &S) {
    let first = record("alice", 60);
    let insert = |rec| Change {
        delete: vec![],
        insert: Some(rec),
    };
    assert_eq!(
        store
            .commit(&first.user_id, 0, insert(first.clone()))
            .await
            .unwrap(),
        Committed::Applied { ended: vec![] }
    );
    let mut twin = record("alice", 60);
    twin.digest = first.digest;
    let change = Change {
        delete: vec![first.id.clone()],
        insert: Some(twin),
    };
    store.commit(&first.user_id, 1, change).await.unwrap_err();
    let set = store.token_set(&first.user_id).await.unwrap();
    assert_eq!(set.version, 1);
    assert_eq!(set.records, [first]);
}

/// Two processes storing their settings at once (two `serve` starting together) all
/// succeed, round after round: each upsert waits for the other's row locks (and one
/// the database aborts as a deadlock runs again), where a delete-then-insert failed
/// on the other's unique key.
pub(crate) async fn concurrent_settings_replacements_all_succeed<S>(store: &S)
where
    S: Settings + Clone + Send + Sync + 'static,
    S::Error: std::fmt::Debug + Send,
{
    for round in 0..20 {
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..4 {
            let store = store.clone();
            let settings: BTreeMap<String, String> =
                [("policy.a".to_owned(), format!("{round}-{writer}"))].into();
            writers.spawn(async move { store.replace_settings("policy.", &settings).await });
        }
        while let Some(written) = writers.join_next().await {
            written.expect("the task ends").expect("every writer succeeds");
        }
        let stored = store.settings("policy.").await.unwrap();
        assert_eq!(stored.len(), 1, "{stored:?}");
    }
}

/// `conformance_suites!(#[attrs]; Store::new, Directory::new)`: every conformance
/// suite (store, directory, settings, both imports), as tests with `attrs`, each on
/// `super::fresh(...)` of the constructor given (absolute paths).
macro_rules! conformance_suites {
    ($(#[$attr:meta])*; $store:expr, $directory:expr) => {
        mod tokens {
            tokenauth_conformance::token_store_conformance!($(#[$attr])*; super::fresh($store));
        }

        mod users {
            tokenauth_conformance::user_directory_conformance!($(#[$attr])*; super::fresh($directory));
        }

        mod settings {
            tokenauth_conformance::settings_conformance!($(#[$attr])*; super::fresh($store));
        }

        mod token_import {
            tokenauth_conformance::bulk_import_conformance!($(#[$attr])*; tokens: super::fresh($store));
        }

        mod user_import {
            tokenauth_conformance::bulk_import_conformance!($(#[$attr])*; users: super::fresh($directory));
        }
    };
}
