//! What authentication says of a presented token, against the rules of the original
//! (`drf-wire.md`): unknown and malformed tokens are invalid (garbage without a store
//! lookup), a valid one gives its user and token until it expires, strictly at the
//! lifespan in force, and a revoked one is invalid at once.

mod common;

use time::Duration;
use time::macros::datetime;
use tokenauth_core::store::TokenStore;
use tokenauth_core::{
    AuthError, Lifespan, ManualClock, MemoryUserDirectory, TokenAuth, TokenId, TokenRequest, User, UserId,
};

use common::drf::{START, service, service_with_alice};
use common::{
    CountingStore, EXPIRED, INVALID_TOKEN, PASSWORD, USER_INACTIVE, assert_err, days, named, span, used_now,
};

// --- Unknown and malformed tokens ------------------------------------------------------

#[tokio::test]
async fn a_well_formed_token_not_in_the_store_is_invalid() {
    let (auth, _, alice) = service_with_alice().await;
    auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let stranger = auth.format().generate();
    assert_err!(
        auth.authenticate(stranger.expose_secret(), None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );
}

#[tokio::test]
async fn garbage_is_invalid_without_touching_the_store() {
    let store = CountingStore::default();
    let auth = TokenAuth::new(store.clone(), MemoryUserDirectory::new()).with_clock(ManualClock::new(START));
    let alice = UserId::from(1);
    let issued = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let secret = issued.token.expose_secret();

    let long = "a".repeat(8000);
    let long_prefixed = format!("tka_{}", "a".repeat(7996));
    let truncated = &secret[..secret.len() - 1];
    let extended = format!("{secret}0");
    let mut tampered = secret.as_bytes().to_vec();
    tampered[10] = if tampered[10] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).unwrap();
    let other_prefix = format!("xyz_{}", &secret[4..]);
    for garbage in [
        "ключ-é",
        long.as_str(),
        long_prefixed.as_str(),
        "",
        "tka_",
        "abc",
        truncated,
        extended.as_str(),
        tampered.as_str(),
        other_prefix.as_str(),
    ] {
        assert_err!(
            auth.authenticate(garbage, None).await,
            AuthError::InvalidToken,
            INVALID_TOKEN
        );
    }
    assert_eq!(store.lookups(), 0, "garbage reached the store");

    // Row 33 through the header: an 8000-character key is `Invalid token`.
    let header = format!("Token {long}");
    assert_err!(
        auth.authenticate_header(Some(header.as_bytes()), None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );
    assert_eq!(store.lookups(), 0, "garbage reached the store");

    // A well-formed token is looked up (once). Its user is not in the (empty) directory.
    assert_err!(
        auth.authenticate(secret, None).await,
        AuthError::UserInactive,
        USER_INACTIVE
    );
    assert_eq!(store.lookups(), 1);
}

/// A 53-byte candidate with the right prefix and a two-byte character straddling the
/// boundary between the random part and the checksum (bytes 46..48, split at 47).
#[tokio::test]
async fn multibyte_garbage_of_token_length_is_invalid_not_a_panic() {
    let (auth, _) = service();
    let garbage = format!("tka_{}é{}", "a".repeat(42), "b".repeat(5));
    assert_eq!(garbage.len(), auth.format().token_len());
    assert_err!(
        auth.authenticate(&garbage, None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );
    let header = format!("Token {garbage}");
    assert_err!(
        auth.authenticate_header(Some(header.as_bytes()), None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The published token checksum: CRC32 of prefix + random part, as 6 base62 digits.
fn checksum(signed: &str) -> String {
    let mut n = crc32fast::hash(signed.as_bytes());
    let mut digits = [b'0'; 6];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(digits.to_vec()).unwrap()
}

fn swap_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

#[tokio::test]
async fn a_valid_token_in_other_case_is_invalid() {
    let (auth, _, alice) = service_with_alice().await;
    let issued = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let secret = issued.token.expose_secret();

    let upper = secret.to_uppercase();
    assert_ne!(upper, secret);
    assert_err!(
        auth.authenticate(&upper, None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );
    let lower = secret.to_lowercase();
    assert_err!(
        auth.authenticate(&lower, None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );

    // Even a case variant with a correct checksum (so it reaches the store) is unknown:
    // lookups are case-sensitive.
    let signed = &secret[..secret.len() - 6];
    assert_eq!(
        checksum(signed),
        secret[secret.len() - 6..],
        "checksum model is wrong"
    );
    let variant_signed = format!("tka_{}", swap_case(&signed[4..]));
    let variant = format!("{variant_signed}{}", checksum(&variant_signed));
    assert!(auth.format().digest_if_well_formed(&variant).is_some());
    assert_err!(
        auth.authenticate(&variant, None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );

    auth.authenticate(secret, None).await.unwrap();
}

// --- Valid tokens and expiry -----------------------------------------------------------

#[tokio::test]
async fn a_valid_token_gives_its_user_and_token_info() {
    let (auth, clock, alice) = service_with_alice().await;
    let issued = auth.obtain("alice", PASSWORD, named("phone")).await.unwrap();

    assert_eq!(issued.info.user_id, alice);
    assert_eq!(issued.info.name.as_deref(), Some("phone"));
    assert_eq!(issued.info.created, START);
    assert_eq!(issued.info.expires, START + days(30));
    assert_eq!(issued.info.expires, datetime!(2026-01-31 00:00:00.000001 UTC));

    clock.advance(days(10));
    let verified = auth
        .authenticate(issued.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(
        verified.user,
        User {
            id: alice.clone(),
            username: "alice".to_owned(),
            is_active: true,
            credential_version: 0,
        }
    );
    assert_eq!(verified.token.id, issued.info.id);
    assert_eq!(verified.token.user_id, alice);
    assert_eq!(verified.token.name.as_deref(), Some("phone"));
    assert_eq!(verified.token.created, START);
    assert_eq!(verified.token.expires, START + days(30));
    assert_eq!(verified.token.last_used, Some(START + days(10)));
    assert_eq!(verified.token, used_now(&auth, &issued.info));

    // The store holds the digest, never the token.
    let record = auth.store().find_by_id(&issued.info.id).await.unwrap().unwrap();
    assert_eq!(record.digest, issued.token.digest());
    assert_eq!(record.created, START);
    assert_eq!(record.expires, None);
}

#[tokio::test]
async fn expiry_is_strict_at_exactly_the_lifespan() {
    let (auth, clock, alice) = service_with_alice().await;
    let issued = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let secret = issued.token.expose_secret();

    clock.set(START + days(30) - Duration::microseconds(1));
    auth.authenticate(secret, None).await.unwrap();
    clock.set(START + days(30));
    auth.authenticate(secret, None).await.unwrap();
    clock.advance(Duration::microseconds(1));
    assert_err!(auth.authenticate(secret, None).await, AuthError::Expired, EXPIRED);
    clock.advance(days(365));
    assert_err!(auth.authenticate(secret, None).await, AuthError::Expired, EXPIRED);

    // Expiry is computed at check time: the record is still there, and listed as expired.
    let listed = auth.list(Some(&alice)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, issued.info.id);
    assert_eq!(listed[0].expires, issued.info.expires);
    assert!(listed[0].expires < auth.now());
    clock.set(START + days(30));
    auth.authenticate(secret, None).await.unwrap();
}

#[tokio::test]
async fn obtaining_again_does_not_extend_a_token() {
    let (auth, clock, _) = service_with_alice().await;
    let first = auth
        .obtain("alice", PASSWORD, TokenRequest::default())
        .await
        .unwrap();
    clock.advance(days(20));
    let second = auth
        .obtain("alice", PASSWORD, TokenRequest::default())
        .await
        .unwrap();
    assert_eq!(second.info.created, START + days(20));

    clock.set(START + days(30) + Duration::microseconds(1));
    assert_err!(
        auth.authenticate(first.token.expose_secret(), None).await,
        AuthError::Expired,
        EXPIRED
    );
    let verified = auth
        .authenticate(second.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(verified.token.expires, START + days(50));
}

#[tokio::test]
async fn changing_the_lifespan_applies_to_existing_tokens_at_once() {
    let (auth, clock, alice) = service_with_alice().await;
    let issued = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let secret = issued.token.expose_secret();
    assert_eq!(auth.policy().lifespan(), Lifespan::DEFAULT);

    // Lowered: under a 1-hour lifespan the token works at exactly 1 hour old and dies
    // 1µs later, with no change to it.
    let short = auth.clone().with_lifespan(span("1h"));
    assert_eq!(short.policy().lifespan().as_duration(), Duration::hours(1));
    clock.set(START + Duration::hours(1));
    short.authenticate(secret, None).await.unwrap();
    clock.advance(Duration::microseconds(1));
    assert_err!(
        short.authenticate(secret, None).await,
        AuthError::Expired,
        EXPIRED
    );
    // The original service, sharing the store and the clock, keeps its own 30 days.
    auth.authenticate(secret, None).await.unwrap();
    assert_eq!(
        short.list(Some(&alice)).await.unwrap()[0].expires,
        START + Duration::hours(1)
    );

    // Raised: a token without a cap of its own lives longer (as in the original).
    let long = auth.clone().with_lifespan(span("60d"));
    clock.set(START + days(45));
    assert_err!(auth.authenticate(secret, None).await, AuthError::Expired, EXPIRED);
    let verified = long.authenticate(secret, None).await.unwrap();
    assert_eq!(verified.token.expires, START + days(60));
    assert_eq!(auth.list(None).await.unwrap()[0].expires, START + days(30));
    assert_eq!(long.list(None).await.unwrap()[0].expires, START + days(60));
    clock.set(START + days(60));
    long.authenticate(secret, None).await.unwrap();
    clock.advance(Duration::microseconds(1));
    assert_err!(long.authenticate(secret, None).await, AuthError::Expired, EXPIRED);
}

#[tokio::test]
async fn a_token_issued_with_its_own_lifespan_never_outlives_it() {
    let (auth, clock, alice) = service_with_alice().await;
    let issued = auth
        .issue(
            &alice,
            TokenRequest {
                name: Some("ci".to_owned()),
                lifespan: Some(span("1h")),
                ..TokenRequest::default()
            },
        )
        .await
        .unwrap();
    let secret = issued.token.expose_secret();
    assert_eq!(issued.info.expires, START + Duration::hours(1));
    let record = auth.store().find_by_id(&issued.info.id).await.unwrap().unwrap();
    assert_eq!(record.expires, Some(START + Duration::hours(1)));

    clock.set(START + Duration::hours(1));
    auth.authenticate(secret, None).await.unwrap();
    clock.advance(Duration::microseconds(1));
    assert_err!(auth.authenticate(secret, None).await, AuthError::Expired, EXPIRED);

    // Raising the configured lifespan does not lift the token's own cap...
    let long = auth.clone().with_lifespan(span("60d"));
    assert_err!(long.authenticate(secret, None).await, AuthError::Expired, EXPIRED);
    // ...and lowering it below the cap still applies.
    let shorter = auth.clone().with_lifespan(span("30m"));
    clock.set(START + Duration::minutes(30) + Duration::microseconds(1));
    assert_err!(
        shorter.authenticate(secret, None).await,
        AuthError::Expired,
        EXPIRED
    );
    auth.authenticate(secret, None).await.unwrap();
    assert_eq!(
        shorter.list(None).await.unwrap()[0].expires,
        START + Duration::minutes(30)
    );
}

// --- Revoked tokens --------------------------------------------------------------------

#[tokio::test]
async fn a_revoked_token_is_invalid_at_once() {
    let (auth, _, alice) = service_with_alice().await;
    let revoked = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let kept = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    auth.authenticate(revoked.token.expose_secret(), None)
        .await
        .unwrap();

    assert!(auth.revoke(&revoked.info.id).await.unwrap());
    assert_err!(
        auth.authenticate(revoked.token.expose_secret(), None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );
    assert!(!auth.revoke(&revoked.info.id).await.unwrap());
    assert!(!auth.revoke(&TokenId::generate()).await.unwrap());

    auth.authenticate(kept.token.expose_secret(), None).await.unwrap();
    assert_eq!(
        auth.list(Some(&alice)).await.unwrap(),
        vec![used_now(&auth, &kept.info)]
    );
}
