//! Obtain policies: under `new` every login gets a token of its own; under `replace` a
//! login revokes the user's other tokens, however many logins race.

mod common;

use time::Duration;
use tokenauth_core::{ObtainPolicy, OnLimit, TokenFormat, TokenRequest};

use common::{PASSWORD, add_user, ids_of, is_invalid, issue, login, service, stored_ids, works};

#[tokio::test]
async fn new_policy_two_logins_give_two_working_tokens() {
    let (auth, clock) = service();
    assert_eq!(auth.obtain_policy(), ObtainPolicy::New);
    let alice = add_user(&auth, "alice").await;

    let phone = login(&auth, "alice").await;
    clock.advance(Duration::seconds(1));
    let laptop = login(&auth, "alice").await;

    assert_ne!(phone.info.id, laptop.info.id);
    assert_ne!(phone.token.expose_secret(), laptop.token.expose_secret());
    works(&auth, &phone).await;
    works(&auth, &laptop).await;
    assert_eq!(stored_ids(&auth, &alice).await, ids_of(&[&phone, &laptop]));
}

#[tokio::test]
async fn replace_policy_revokes_the_users_other_tokens_only() {
    let (auth, clock) = service();
    let auth = auth.with_obtain_policy(ObtainPolicy::Replace);
    let alice = add_user(&auth, "alice").await;
    add_user(&auth, "bob").await;

    let bobs = login(&auth, "bob").await;
    let first = login(&auth, "alice").await;
    clock.advance(Duration::seconds(1));
    let second = login(&auth, "alice").await;

    is_invalid(&auth, &first).await;
    works(&auth, &second).await;
    works(&auth, &bobs).await;
    assert_eq!(stored_ids(&auth, &alice).await, ids_of(&[&second]));

    // `issue` (administrators) ignores the obtain policy.
    let extra = issue(&auth, &alice).await;
    works(&auth, &second).await;
    works(&auth, &extra).await;
}

#[test]
fn policies_parse_from_settings() {
    assert_eq!("new".parse::<ObtainPolicy>(), Ok(ObtainPolicy::New));
    assert_eq!("replace".parse::<ObtainPolicy>(), Ok(ObtainPolicy::Replace));
    assert_eq!("reuse".parse::<ObtainPolicy>(), Ok(ObtainPolicy::Reuse));
    assert!("Replace".parse::<ObtainPolicy>().is_err());
    assert_eq!("reject".parse::<OnLimit>(), Ok(OnLimit::Reject));
    assert_eq!("evict_oldest".parse::<OnLimit>(), Ok(OnLimit::EvictOldest));
    assert_eq!("evict-oldest".parse::<OnLimit>(), Ok(OnLimit::EvictOldest));
    assert!("evict".parse::<OnLimit>().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_under_replace_leave_one_token() {
    let (auth, _clock) = service();
    let auth = auth.with_obtain_policy(ObtainPolicy::Replace);
    let alice = add_user(&auth, "alice").await;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let auth = auth.clone();
        tasks.spawn(async move { auth.obtain("alice", PASSWORD, TokenRequest::default()).await });
    }
    let mut issued = Vec::new();
    while let Some(result) = tasks.join_next().await {
        issued.push(result.unwrap().unwrap());
    }
    let remaining = stored_ids(&auth, &alice).await;
    assert_eq!(remaining.len(), 1);
    let mut working = 0;
    for token in &issued {
        if auth.authenticate(token.token.expose_secret(), None).await.is_ok() {
            working += 1;
            assert_eq!(token.info.id, remaining[0]);
        }
    }
    assert_eq!(working, 1);
}

#[tokio::test]
async fn reuse_with_drf_keys_returns_the_valid_key_until_it_expires() {
    let (auth, clock) = service();
    let auth = auth
        .with_format(TokenFormat::drf())
        .with_obtain_policy(ObtainPolicy::Reuse);
    let alice = add_user(&auth, "alice").await;

    let first = login(&auth, "alice").await;
    assert_eq!(first.token.expose_secret().len(), 40);
    clock.advance(Duration::days(30));
    let again = login(&auth, "alice").await;
    assert_eq!(again.token.expose_secret(), first.token.expose_secret());
    assert_eq!(
        again.info.created, first.info.created,
        "obtaining again does not extend it"
    );

    clock.advance(Duration::microseconds(1));
    let renewed = login(&auth, "alice").await;
    assert_ne!(renewed.token.expose_secret(), first.token.expose_secret());
    is_invalid(&auth, &first).await;
    works(&auth, &renewed).await;
    assert_eq!(stored_ids(&auth, &alice).await, ids_of(&[&renewed]));
}

#[tokio::test]
async fn reuse_where_only_digests_are_stored_acts_as_replace() {
    let (auth, clock) = service();
    let auth = auth.with_obtain_policy(ObtainPolicy::Reuse);
    let alice = add_user(&auth, "alice").await;

    let first = login(&auth, "alice").await;
    clock.advance(Duration::seconds(1));
    let second = login(&auth, "alice").await;
    assert_ne!(second.token.expose_secret(), first.token.expose_secret());
    is_invalid(&auth, &first).await;
    assert_eq!(stored_ids(&auth, &alice).await, ids_of(&[&second]));
}
