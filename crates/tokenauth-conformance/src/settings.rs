//! The settings suite: values replaced and read by exact prefix.

use std::collections::BTreeMap;

use tokenauth_core::store::Settings;

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Settings are replaced and read by exact (case-sensitive) prefix: a new set replaces
/// the old one whole, and keys outside the prefix, even ones SQL's `LIKE` would
/// match, are untouched.
pub async fn settings_are_replaced_and_read_by_exact_prefix<S: Settings>(settings: S) {
    assert_eq!(settings.settings("policy.").await.expect("read"), map(&[]));

    let app = map(&[
        ("app.theme", "dark"),
        ("POLICY.x", "other case"),
        ("policy_x", "1"),
    ]);
    settings.replace_settings("", &app).await.expect("replace");
    let first = map(&[("policy.lifespan", "90d"), ("policy.scopes", "read write")]);
    settings
        .replace_settings("policy.", &first)
        .await
        .expect("replace");
    assert_eq!(settings.settings("policy.").await.expect("read"), first);

    // A new set replaces the old one whole: a key no longer given is gone.
    let second = map(&[("policy.lifespan", "7d")]);
    settings
        .replace_settings("policy.", &second)
        .await
        .expect("replace");
    assert_eq!(settings.settings("policy.").await.expect("read"), second);
    let mut all = app.clone();
    all.extend(second);
    assert_eq!(settings.settings("").await.expect("read"), all);
}
