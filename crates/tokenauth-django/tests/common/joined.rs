//! Authentication's one query for a token and its user (DRF's `select_related("user")`),
//! checked on every dialect: the directory answers from the row read with the token
//! only when that row is its own.

use time::OffsetDateTime;
use tokenauth_core::store::{TokenDigest, TokenStore, UserDirectory};
use tokenauth_core::{User, UserId};
use tokenauth_django::UserModel;

use super::{ManifestToken, Raw};

/// The user table the checks below open beside `auth_user`: a copy of it (same ids,
/// same columns) whose passwords differ, made by each dialect's own SQL.
pub fn copy_model() -> UserModel {
    UserModel::new("copy_user").unwrap()
}

/// `store` finds the first of `tokens` with its user, and `directory` (on the same pool
/// and user table) answers from that row: the user as the token's query saw it,
/// though Django set a new password since (a read of its own would see the new one).
/// Each of `elsewhere` (a directory on another pool, one on [`copy_model`]) and
/// `directory` asked for another user read for themselves instead.
pub async fn a_token_and_its_user_are_read_together<S, D>(
    store: &S,
    directory: &D,
    elsewhere: [&D; 2],
    raw: &impl Raw,
    tokens: &[ManifestToken],
    now: OffsetDateTime,
) where
    S: TokenStore,
    D: UserDirectory<User = User>,
{
    let (token, other_user) = (&tokens[0], UserId::new(tokens[1].user_id.to_string()));
    assert_ne!(tokens[0].user_id, tokens[1].user_id);
    let digest = TokenDigest::from_drf_key(&token.key).expect("a DRF key");
    let id = UserId::new(token.user_id.to_string());
    let read = async || {
        let found = store.find_with_user_to_authenticate(&digest, now).await.unwrap();
        let (record, prefetched) = found.expect("the manifest's token");
        assert_eq!(record.user_id, id);
        assert!(prefetched.is_some(), "the user is read with the token");
        prefetched
    };
    let user = async |directory: &D, id: &UserId| directory.find_user(id).await.unwrap().unwrap();

    let prefetched = read().await;
    let as_read = user(directory, &id).await;
    raw.set_password(&token.username, "pbkdf2_sha256$1$joined$set-by-django")
        .await;
    let answered = directory
        .find_prefetched_user_to_authenticate(&id, now, prefetched)
        .await
        .unwrap();
    assert_eq!(
        answered.as_ref(),
        Some(&as_read),
        "answered from the row read with the token"
    );
    let now_stored = user(directory, &id).await;
    assert_ne!(now_stored.credential_version, as_read.credential_version);

    for (n, other) in elsewhere.iter().enumerate() {
        let prefetched = read().await;
        raw.set_password(&token.username, &format!("pbkdf2_sha256$1$joined${n}"))
            .await;
        let answered = other
            .find_prefetched_user_to_authenticate(&id, now, prefetched)
            .await
            .unwrap();
        assert_eq!(
            answered,
            Some(user(other, &id).await),
            "directory {n} reads its own"
        );
    }

    let prefetched = read().await;
    let answered = directory
        .find_prefetched_user_to_authenticate(&other_user, now, prefetched)
        .await
        .unwrap();
    assert_eq!(answered, Some(user(directory, &other_user).await));
}
