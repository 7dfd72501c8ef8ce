//! The `tokenauth_settings` key/value table.

#![cfg(feature = "sqlite")]

use std::collections::BTreeMap;

use tokenauth_sqlx::sqlite::{SqliteStore, connect};

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn settings_are_replaced_and_read_by_exact_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    let store = SqliteStore::new(connect(&url).await.unwrap());
    assert_eq!(store.settings("policy.").await.unwrap(), map(&[]));

    let app = map(&[
        ("app.theme", "dark"),
        ("POLICY.x", "other case"),
        ("policy_x", "1"),
    ]);
    store.replace_settings("", &app).await.unwrap();
    let first = map(&[("policy.lifespan", "90d"), ("policy.scopes", "read write")]);
    store.replace_settings("policy.", &first).await.unwrap();
    assert_eq!(store.settings("policy.").await.unwrap(), first);

    // A new set replaces the old one whole: a key no longer given is gone.
    let second = map(&[("policy.lifespan", "7d")]);
    store.replace_settings("policy.", &second).await.unwrap();
    assert_eq!(store.settings("policy.").await.unwrap(), second);
    // Keys outside the prefix, even ones LIKE would match, are untouched.
    let mut all = app.clone();
    all.extend(second);
    assert_eq!(store.settings("").await.unwrap(), all);
}
