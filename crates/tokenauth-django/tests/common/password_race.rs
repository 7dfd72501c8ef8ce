//! A password changed while a login runs (issue 15, item 9): Django's table has no
//! credential version, so the user's is a digest of `auth_user.password`, and a key is
//! committed only while the password is still the one the login verified.

use tokenauth_conformance::CountingStore;
use tokenauth_core::store::{Change, Committed, TokenRecord, TokenStore, UserAdmin};
use tokenauth_core::{ObtainError, Scopes, TokenAuth, TokenFormat, TokenId, TokenRequest};

use super::Raw;

/// `user add` with a new password lands after a login verified the old one and before
/// its key is committed: the login fails with the ordinary credentials error, no key
/// is left in `authtoken_token`, and the new password logs in.
pub async fn a_password_set_during_a_login_mints_no_key<S, D>(
    auth: &TokenAuth<CountingStore<S>, D>,
    raw: &impl Raw,
) where
    S: TokenStore + Clone,
    D: UserAdmin + Clone,
{
    let mallory = auth.upsert_user("mallory", "old password", true).await.unwrap();
    let user_id: i64 = mallory.user.id.as_str().parse().unwrap();
    let admin = auth.clone();
    auth.store().before_next_commit(async move {
        let changed = admin.upsert_user("mallory", "new password", true).await.unwrap();
        assert!(changed.password_changed);
    });
    let refused = auth
        .obtain("mallory", "old password", TokenRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(refused, ObtainError::InvalidCredentials), "{refused:?}");
    assert_eq!(raw.token_of(user_id).await, None, "no key of the old password");
    let issued = auth
        .obtain("mallory", "new password", TokenRequest::default())
        .await
        .unwrap();
    assert_eq!(
        raw.token_of(user_id).await.map(|(key, _)| key).as_deref(),
        Some(issued.token.expose_secret())
    );
}

/// The store's own check: a key issued under the password a login read is refused
/// (a conflict, which core answers by reading the user again) once Django has set
/// another password, even though the token set did not change; under the password
/// stored now it commits.
pub async fn a_commit_under_a_replaced_password_is_a_conflict<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    raw: &impl Raw,
) {
    let mallory = auth
        .upsert_user("mallory", "old password", true)
        .await
        .unwrap()
        .user;
    let user_id: i64 = mallory.id.as_str().parse().unwrap();
    let set = auth.store().token_set(&mallory.id).await.unwrap();
    let record = |credential_version: u64| TokenRecord {
        id: TokenId::generate(),
        digest: TokenFormat::drf().generate().digest(),
        user_id: mallory.id.clone(),
        credential_version,
        name: None,
        scopes: Scopes::none(),
        created: time::macros::datetime!(2026-01-01 0:00 UTC),
        expires: None,
        last_used: None,
        last_ip: None,
    };
    let insert = |credential_version| Change {
        delete: Vec::new(),
        insert: Some(record(credential_version)),
    };
    // Django's `set_password` + `save()`: a new hash, the token set untouched.
    let made_by_django = raw.password_of("bob").await;
    raw.set_password("mallory", &made_by_django).await;
    let stale = auth
        .store()
        .commit(&mallory.id, set.version, insert(mallory.credential_version))
        .await
        .unwrap();
    assert!(matches!(stale, Committed::Conflict), "{stale:?}");
    assert_eq!(raw.token_of(user_id).await, None);
    let now = auth.find_by_username("mallory").await.unwrap().unwrap();
    assert_ne!(now.credential_version, mallory.credential_version);
    let current = auth
        .store()
        .commit(&mallory.id, set.version, insert(now.credential_version))
        .await
        .unwrap();
    assert!(matches!(current, Committed::Applied { .. }), "{current:?}");
    assert!(raw.token_of(user_id).await.is_some());
}
