//! The bulk-import suite: what [`UserImport`] and [`TokenImport`] promise, whether a
//! backend keeps the per-row defaults or writes its own bulk insert.

use tokenauth_core::store::{NewUser, TokenImport, TokenRecord, UserImport};
use tokenauth_core::{TokenId, UserId};

use super::record;

fn new_user(username: &str, hash: &str) -> NewUser {
    NewUser {
        username: username.to_owned(),
        password_hash: hash.to_owned(),
        is_active: username != "bob",
    }
}

/// Each username is created once, from its first entry, with credential version 0;
/// existing users are left exactly as they are; the stored user of every entry comes
/// back in the batch's order.
pub async fn imports_create_each_username_once<D: UserImport>(users: D) {
    let first = users
        .import_users(&[
            new_user("alice", "h1"),
            new_user("bob", "h2"),
            new_user("alice", "h3"),
        ])
        .await
        .expect("import");
    assert_eq!(first.created, 2);
    let names: Vec<&str> = first.users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "alice"]);
    assert_eq!(first.users[0], first.users[2]);
    assert!(first.users[0].is_active && !first.users[1].is_active);
    assert!(first.users.iter().all(|u| u.credential_version == 0));
    let alice = users.find_login("alice").await.expect("find").expect("alice");
    assert_eq!(alice.password_hash, "h1", "the first entry of a name wins");

    let again = users
        .import_users(&[new_user("bob", "other"), new_user("carol", "h4")])
        .await
        .expect("import");
    assert_eq!(again.created, 1);
    assert_eq!(again.users[0], first.users[1], "bob is left as he was");
    let bob = users.find_login("bob").await.expect("find").expect("bob");
    assert_eq!(bob.password_hash, "h2");
    assert_eq!(users.list_users().await.expect("list").len(), 3);
    assert_eq!(users.import_users(&[]).await.expect("import").users, []);
}

/// Records whose id or digest is stored (or comes earlier in the batch) are skipped;
/// the others are stored as given, and their users' set versions move.
pub async fn imports_skip_stored_tokens_and_move_versions<S: TokenImport>(store: S) {
    let a = record("1", 0);
    let b = TokenRecord {
        expires: Some(a.created),
        ..record("1", 1)
    };
    let same_digest = TokenRecord {
        id: TokenId::generate(),
        ..record("2", 2)
    };
    let same_digest = TokenRecord {
        digest: a.digest,
        ..same_digest
    };
    let other = record("2", 3);
    let before = store.token_set(&UserId::new("1")).await.expect("set").version;
    let batch = [a.clone(), b.clone(), same_digest, other.clone()];
    assert_eq!(store.import_tokens(&batch).await.expect("import"), 3);
    let set = store.token_set(&UserId::new("1")).await.expect("set");
    assert_eq!(set.records, [a.clone(), b], "stored as given");
    assert_ne!(
        set.version, before,
        "a commit on the version read before must conflict"
    );
    assert_eq!(
        store.find_by_digest(&a.digest).await.expect("find").map(|r| r.id),
        Some(a.id.clone())
    );
    assert_eq!(
        store.list(Some(&UserId::new("2"))).await.expect("list"),
        std::slice::from_ref(&other)
    );

    let version = store.token_set(&UserId::new("2")).await.expect("set").version;
    assert_eq!(store.import_tokens(&[a, other]).await.expect("import"), 0);
    assert_eq!(store.list(None).await.expect("list").len(), 3);
    assert_eq!(
        store.token_set(&UserId::new("2")).await.expect("set").version,
        version,
        "nothing imported, no new version"
    );
    assert_eq!(store.import_tokens(&[]).await.expect("import"), 0);
}
