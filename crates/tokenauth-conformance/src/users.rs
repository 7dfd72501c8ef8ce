//! The user-directory suite: the admin verbs of [`UserAdmin`], then the password rules
//! core applies through them.

use std::collections::HashSet;

use argon2::Params;

use tokenauth_core::store::UserAdmin;
use tokenauth_core::{AuthUser, MemoryStore, PasswordHasher, TokenAuth, TokenRequest, User, UserId};

use crate::capabilities::needs_own_versions;

/// A hash of `password` made quickly, to store through the admin verbs.
async fn hash(password: &str) -> String {
    super::fast_hasher().hash(password).await.expect("hash")
}

/// A created user is found by id, by username and for login, with its hash, active
/// flag and credential version 0 (where the directory keeps versions of its own; else
/// the version of its hash).
pub async fn create_then_find<D: UserAdmin>(users: D) {
    let stored = hash("pw").await;
    let alice = users
        .create_user("alice", &stored, true)
        .await
        .expect("create")
        .expect("created");
    let own = users.directory_capabilities().credential_versions;
    let first_version = if own { 0 } else { alice.credential_version };
    assert_eq!(
        (alice.username.as_str(), alice.is_active, alice.credential_version),
        ("alice", true, first_version)
    );
    let bob = users
        .create_user("bob", &stored, false)
        .await
        .expect("create")
        .expect("created");
    assert!(!bob.is_active);
    assert_eq!(
        bob.credential_version, first_version,
        "the same hash, the same version"
    );
    assert_ne!(alice.id, bob.id);
    assert_eq!(
        users.find_user(&alice.id).await.expect("find"),
        Some(alice.clone())
    );
    assert_eq!(
        users.find_by_username("bob").await.expect("find"),
        Some(bob.clone())
    );
    let login = users.find_login("alice").await.expect("find").expect("found");
    assert_eq!((login.user, login.password_hash), (alice, stored));
}

/// Usernames match exactly: case-sensitive, not trimmed, any Unicode.
pub async fn usernames_match_exactly<D: UserAdmin>(users: D) {
    let stored = hash("pw").await;
    for name in ["alice", "Alice", "zoë", "名前"] {
        users
            .create_user(name, &stored, true)
            .await
            .expect("create")
            .expect("distinct names");
    }
    for missing in ["ALICE", " alice", "alice ", "zoe"] {
        assert_eq!(
            users.find_login(missing).await.expect("find"),
            None,
            "{missing:?}"
        );
        assert_eq!(
            users.find_by_username(missing).await.expect("find"),
            None,
            "{missing:?}"
        );
    }
    let zoe = users.find_by_username("zoë").await.expect("find").expect("found");
    assert_eq!(zoe.username, "zoë");
}

/// Creating a taken username changes nothing.
pub async fn create_refuses_a_taken_username<D: UserAdmin>(users: D) {
    let first = users
        .create_user("alice", &hash("one").await, true)
        .await
        .expect("create");
    let second = users
        .create_user("alice", &hash("two").await, false)
        .await
        .expect("create");
    assert_eq!(second, None);
    assert_eq!(users.find_by_username("alice").await.expect("find"), first);
    assert_eq!(users.list_users().await.expect("list").len(), 1);
}

/// Unknown and malformed ids and names find nothing, and changing them reports `None`.
pub async fn unknown_users_find_nothing<D: UserAdmin>(users: D) {
    let alice = users
        .create_user("alice", &hash("pw").await, true)
        .await
        .expect("create")
        .expect("created");
    assert_eq!(
        users.find_user(&alice.id).await.expect("find"),
        Some(alice.clone())
    );
    for id in [
        "0",
        "-1",
        "999999",
        "abc",
        "",
        &format!("0{}", alice.id),
        &format!("{} ", alice.id),
    ] {
        let id = UserId::new(id);
        assert_eq!(users.find_user(&id).await.expect("find"), None, "{id:?}");
        assert_eq!(users.set_active(&id, false).await.expect("set"), None, "{id:?}");
        assert_eq!(
            users.bump_credential_version(&id).await.expect("bump"),
            None,
            "{id:?}"
        );
        assert_eq!(
            users.set_password_hash(&id, "x").await.expect("set"),
            None,
            "{id:?}"
        );
        assert_eq!(users.delete_user(&id).await.expect("delete"), None, "{id:?}");
    }
    assert_eq!(users.find_login("bob").await.expect("find"), None);
    assert_eq!(users.find_by_username("bob").await.expect("find"), None);
}

/// A new password hash comes with a new credential version, in the same write.
pub async fn set_password_hash_changes_the_credential_version<D: UserAdmin>(users: D) {
    let alice = users
        .create_user("alice", &hash("pw").await, true)
        .await
        .expect("create")
        .expect("created");
    let new_hash = hash("new").await;
    let changed = users
        .set_password_hash(&alice.id, &new_hash)
        .await
        .expect("set")
        .expect("alice exists");
    assert_ne!(changed.credential_version, alice.credential_version);
    assert_eq!((changed.id.clone(), changed.is_active), (alice.id.clone(), true));
    let login = users.find_login("alice").await.expect("find").expect("found");
    assert_eq!((login.user, login.password_hash), (changed, new_hash));
}

/// Every bump gives a version the user never had, and leaves the hash.
pub async fn bumped_versions_never_repeat<D: UserAdmin>(users: D) {
    let Some(users) = needs_own_versions(users).await else {
        return;
    };
    let stored = hash("pw").await;
    let alice = users
        .create_user("alice", &stored, true)
        .await
        .expect("create")
        .expect("created");
    let mut seen = HashSet::from([alice.credential_version]);
    for i in 0..10 {
        let user = if i % 2 == 0 {
            users.bump_credential_version(&alice.id).await
        } else {
            users.set_password_hash(&alice.id, &stored).await
        };
        let user = user.expect("bump").expect("alice exists");
        assert!(
            seen.insert(user.credential_version),
            "version {} repeated",
            user.credential_version
        );
    }
    let login = users.find_login("alice").await.expect("find").expect("found");
    assert_eq!(login.password_hash, stored);
}

/// The active flag toggles, and nothing else changes.
pub async fn set_active_toggles<D: UserAdmin>(users: D) {
    let alice = users
        .create_user("alice", &hash("pw").await, true)
        .await
        .expect("create")
        .expect("created");
    let off = users
        .set_active(&alice.id, false)
        .await
        .expect("set")
        .expect("alice exists");
    assert!(!off.is_active);
    assert_eq!(off.credential_version, alice.credential_version);
    assert_eq!(users.find_user(&alice.id).await.expect("find"), Some(off));
    let on = users
        .set_active(&alice.id, true)
        .await
        .expect("set")
        .expect("alice exists");
    assert_eq!(on, alice);
}

/// Users are listed by username.
pub async fn list_users_is_ordered_by_username<D: UserAdmin>(users: D) {
    let stored = hash("pw").await;
    for name in ["carol", "alice", "bob"] {
        users.create_user(name, &stored, true).await.expect("create");
    }
    let names: Vec<String> = users
        .list_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
}

/// A deleted user is gone from every lookup, and its id is never given to a new user
/// (its leftover tokens must never authenticate as someone else).
pub async fn deleted_users_are_gone_and_their_ids_never_return<D: UserAdmin>(users: D) {
    let stored = hash("pw").await;
    let alice = users
        .create_user("alice", &stored, true)
        .await
        .expect("create")
        .expect("created");
    let bob = users
        .create_user("bob", &stored, true)
        .await
        .expect("create")
        .expect("created");
    assert_eq!(
        users.delete_user(&bob.id).await.expect("delete"),
        Some(bob.clone())
    );
    assert_eq!(users.delete_user(&bob.id).await.expect("delete"), None);
    assert_eq!(users.find_user(&bob.id).await.expect("find"), None);
    assert_eq!(users.find_login("bob").await.expect("find"), None);
    let again = users
        .create_user("bob", &stored, true)
        .await
        .expect("create")
        .expect("created");
    assert!(again.id != bob.id && again.id != alice.id, "an id was reused");
}

/// A re-hash replaces the hash only if it is still the one verified, and keeps the
/// credential version (tokens stay valid; a version of the hash's moves with it, and
/// core goes on under the new one).
pub async fn rehash_replaces_only_the_expected_hash<D: UserAdmin>(users: D) {
    let old = hash("pw").await;
    let alice = users
        .create_user("alice", &old, true)
        .await
        .expect("create")
        .expect("created");
    let newer = hash("pw").await;
    assert!(
        !users
            .rehash_password(&alice.id, "not the hash", &newer)
            .await
            .expect("rehash")
    );
    assert!(
        users
            .rehash_password(&alice.id, &old, &newer)
            .await
            .expect("rehash")
    );
    let login = users.find_login("alice").await.expect("find").expect("found");
    let version = version_after_rehash(&users, &alice, &login.user);
    let alice = User {
        credential_version: version,
        ..alice
    };
    assert_eq!((login.password_hash, login.user), (newer, alice));
}

/// The credential version `before` has after a re-hash (`after`, as found): the same,
/// where the directory keeps versions of its own; else a new one, as the hash is.
fn version_after_rehash<D: UserAdmin>(users: &D, before: &User, after: &User) -> u64 {
    if users.directory_capabilities().credential_versions {
        before.credential_version
    } else {
        assert_ne!(
            after.credential_version, before.credential_version,
            "a version of the hash's moves with a re-hash"
        );
        after.credential_version
    }
}

/// Concurrent creates of one username make exactly one user.
pub async fn concurrent_creates_of_one_username_make_one_user<D: UserAdmin>(users: D) {
    let stored = hash("pw").await;
    let creates = (0..16).map(|_| users.create_user("alice", &stored, true));
    let created = futures_util::future::join_all(creates)
        .await
        .into_iter()
        .map(|r| r.expect("create"))
        .filter(Option::is_some)
        .count();
    assert_eq!(created, 1);
    assert_eq!(users.list_users().await.expect("list").len(), 1);
}

/// Logins through core: the right password of an active user issues a token; a wrong
/// one, an unknown user and an inactive user are refused alike, each after one
/// verification.
pub async fn logins_verify_through_core<D: UserAdmin>(users: D) {
    let auth = TokenAuth::new(MemoryStore::new(), users).with_password_hasher(super::fast_hasher());
    auth.upsert_user("alice", "pw", true).await.expect("upsert");
    auth.upsert_user("carol", "pw", false).await.expect("upsert");
    let verifications = || auth.password_hasher().verifications();
    let start = verifications();
    let issued = auth
        .obtain("alice", "pw", TokenRequest::default())
        .await
        .expect("login");
    let verified = auth
        .authenticate(issued.token.expose_secret(), None)
        .await
        .expect("authenticate");
    assert_eq!(verified.user.username(), "alice");
    for (username, password) in [
        ("alice", "wrong"),
        ("nobody", "pw"),
        ("carol", "pw"),
        ("Alice", "pw"),
    ] {
        let error = auth
            .obtain(username, password, TokenRequest::default())
            .await
            .expect_err("refused");
        assert_eq!(error.to_string(), "Unable to log in with provided credentials.");
    }
    assert_eq!(
        verifications() - start,
        5,
        "one verification per login, whoever asks"
    );
}

/// A correct password stored with outdated parameters is hashed again on login, and
/// the user's tokens stay valid.
pub async fn outdated_hashes_are_replaced_on_login<D: UserAdmin>(users: D) {
    let old_params = Params::new(16, 1, 1, None).expect("valid argon2 parameters");
    let old = PasswordHasher::with_params(old_params)
        .hash("pw")
        .await
        .expect("hash");
    let created = users
        .create_user("alice", &old, true)
        .await
        .expect("create")
        .expect("created");
    let auth = TokenAuth::new(MemoryStore::new(), users).with_password_hasher(super::fast_hasher());
    let first = auth
        .obtain("alice", "pw", TokenRequest::default())
        .await
        .expect("login");
    let login = auth
        .users()
        .find_login("alice")
        .await
        .expect("find")
        .expect("found");
    assert_ne!(login.password_hash, old, "not re-hashed");
    assert!(
        login.password_hash.contains("m=8,t=1,p=1"),
        "{}",
        login.password_hash
    );
    assert_eq!(
        login.user.credential_version,
        version_after_rehash(auth.users(), &created, &login.user),
        "a re-hash is not a password change"
    );
    auth.authenticate(first.token.expose_secret(), None)
        .await
        .expect("tokens survive a re-hash");
    auth.obtain("alice", "pw", TokenRequest::default())
        .await
        .expect("the new hash verifies");
}

/// `upsert_user` with the current password keeps the user's tokens; with another it
/// ends them.
pub async fn upsert_keeps_tokens_for_the_same_password<D: UserAdmin>(users: D) {
    let auth = TokenAuth::new(MemoryStore::new(), users).with_password_hasher(super::fast_hasher());
    let created = auth.upsert_user("alice", "pw", true).await.expect("upsert");
    assert!(created.created && !created.password_changed);
    let issued = auth
        .obtain("alice", "pw", TokenRequest::default())
        .await
        .expect("login");

    let same = auth.upsert_user("alice", "pw", false).await.expect("upsert");
    assert_eq!(
        (same.created, same.password_changed, same.revoked),
        (false, false, 0)
    );
    assert_eq!(same.user.id, created.user.id);
    let error = auth
        .authenticate(issued.token.expose_secret(), None)
        .await
        .expect_err("inactive");
    assert_eq!(error.to_string(), "User inactive or deleted");
    auth.upsert_user("alice", "pw", true).await.expect("upsert");
    auth.authenticate(issued.token.expose_secret(), None)
        .await
        .expect("kept through deactivation");

    let changed = auth.upsert_user("alice", "other", true).await.expect("upsert");
    assert_eq!(
        (changed.created, changed.password_changed, changed.revoked),
        (false, true, 1)
    );
    let error = auth
        .authenticate(issued.token.expose_secret(), None)
        .await
        .expect_err("revoked");
    assert_eq!(error.to_string(), "Invalid token");
}
