//! Administering users through the service: the decisions core makes once for every
//! directory (what counts as a new password, what a malformed stored hash does, which
//! tokens a change ends).

use tokenauth_conformance::fast_hasher;
use tokenauth_core::store::{UserAdmin, UserDirectory};
use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenAuth, TokenRequest};

type Auth = TokenAuth<MemoryStore, MemoryUserDirectory>;

const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

fn service() -> Auth {
    TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new()).with_password_hasher(fast_hasher())
}

/// A user whose stored hash cannot be read cannot log in, and that is a refusal like
/// any other, not a server error.
#[tokio::test]
async fn a_malformed_stored_hash_refuses_the_login() {
    let auth = service();
    auth.users()
        .create_user("alice", "not a PHC string", true)
        .await
        .unwrap();
    let error = auth
        .obtain("alice", "anything", TokenRequest::default())
        .await
        .expect_err("refused");
    assert_eq!(error.to_string(), BAD_CREDENTIALS);
}

/// `upsert_user` over an unreadable hash counts as a new password: the hash is
/// replaced, the credential version moves, and the password works.
#[tokio::test]
async fn upsert_replaces_an_unreadable_hash() {
    let auth = service();
    let created = auth
        .users()
        .create_user("alice", "garbage", true)
        .await
        .unwrap()
        .unwrap();
    let upserted = auth.upsert_user("alice", "pw", true).await.unwrap();
    assert!(!upserted.created && upserted.password_changed);
    assert_ne!(upserted.user.credential_version, created.credential_version);
    auth.obtain("alice", "pw", TokenRequest::default())
        .await
        .expect("login");
}

/// `upsert_user` with the current password writes neither the hash nor the version.
#[tokio::test]
async fn upsert_with_the_current_password_keeps_hash_and_version() {
    let auth = service();
    auth.upsert_user("alice", "pw", true).await.unwrap();
    let before = auth.users().find_login("alice").await.unwrap().unwrap();
    let upserted = auth.upsert_user("alice", "pw", false).await.unwrap();
    let after = auth.users().find_login("alice").await.unwrap().unwrap();
    assert_eq!(after.password_hash, before.password_hash);
    assert_eq!(after.user.credential_version, before.user.credential_version);
    assert_eq!(
        (upserted.password_changed, upserted.user.is_active),
        (false, false)
    );
}

/// The admin verbs name users exactly: an unknown or differently-cased name changes
/// nothing and says so.
#[tokio::test]
async fn admin_verbs_on_unknown_users_report_none() {
    let auth = service();
    auth.upsert_user("alice", "pw", true).await.unwrap();
    for name in ["Alice", "bob", " alice"] {
        assert_eq!(auth.change_password(name, "x").await.unwrap(), None, "{name:?}");
        assert_eq!(auth.set_active(name, false).await.unwrap(), None, "{name:?}");
        assert_eq!(auth.delete_user(name).await.unwrap(), None, "{name:?}");
        assert_eq!(auth.find_by_username(name).await.unwrap(), None, "{name:?}");
    }
    auth.obtain("alice", "pw", TokenRequest::default())
        .await
        .expect("alice untouched");
}

/// Changing to the same password is still a change: older tokens end.
#[tokio::test]
async fn changing_to_the_same_password_ends_older_tokens() {
    let auth = service();
    auth.upsert_user("alice", "pw", true).await.unwrap();
    let issued = auth.obtain("alice", "pw", TokenRequest::default()).await.unwrap();
    let (_, revoked) = auth.change_password("alice", "pw").await.unwrap().unwrap();
    assert_eq!(revoked, 1);
    let error = auth
        .authenticate(issued.token.expose_secret(), None)
        .await
        .expect_err("ended");
    assert_eq!(error.to_string(), "Invalid token");
}

/// A deleted user's tokens are deleted with it; one that was not (held in another
/// store) answers `User inactive or deleted`, as DRF does.
#[tokio::test]
async fn deleting_a_user_ends_its_tokens() {
    let auth = service();
    auth.upsert_user("alice", "pw", true).await.unwrap();
    let issued = auth.obtain("alice", "pw", TokenRequest::default()).await.unwrap();
    let elsewhere = TokenAuth::new(MemoryStore::new(), auth.users().clone());
    let kept = elsewhere
        .issue(&issued.info.user_id, TokenRequest::default())
        .await
        .unwrap();
    let (user, revoked) = auth.delete_user("alice").await.unwrap().unwrap();
    assert_eq!((user.username.as_str(), revoked), ("alice", 1));
    let error = auth
        .authenticate(issued.token.expose_secret(), None)
        .await
        .expect_err("gone");
    assert_eq!(error.to_string(), "Invalid token");
    let error = elsewhere
        .authenticate(kept.token.expose_secret(), None)
        .await
        .expect_err("orphan");
    assert_eq!(error.to_string(), "User inactive or deleted");
}
