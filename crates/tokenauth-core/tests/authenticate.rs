//! The authenticate and obtain logic, through the public API, against the rules of the
//! original (DRF's `TokenAuthentication` + `djangorestframework-expiring-authtoken`), as
//! written down in `drf-wire.md`.
//!
//! Time only moves when a test moves its `ManualClock`; nothing sleeps. Password hashing
//! is argon2id with production parameters, so each test creates as few users as it can.

use std::fmt::Debug;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokenauth_core::{
    AuthError, Lifespan, ManualClock, MemoryStore, MemoryUserDirectory, ObtainError, TokenAuth, TokenId,
    TokenInfo, TokenRequest, TokenStore, User, UserId,
};

type Auth = TokenAuth<MemoryStore, MemoryUserDirectory>;

const START: OffsetDateTime = datetime!(2026-01-01 00:00:00.000001 UTC);
const PASSWORD: &str = "correct horse battery staple";

const NOT_PROVIDED_HEADER: &str = "Invalid token header. No credentials provided.";
const CONTAINS_SPACES: &str = "Invalid token header. Token string should not contain spaces.";
const INVALID_CHARACTERS: &str = "Invalid token header. Token string should not contain invalid characters.";
const INVALID_TOKEN: &str = "Invalid token";
const USER_INACTIVE: &str = "User inactive or deleted";
const EXPIRED: &str = "Token has expired";
const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

/// Asserts that `$result` is the error `$pat` and that its message is exactly `$msg`.
macro_rules! assert_err {
    ($result:expr, $pat:pat, $msg:expr $(,)?) => {
        match $result {
            Err(err @ $pat) => assert_eq!(err.to_string(), $msg),
            other => panic!("expected Err({}), got {:?}", stringify!($pat), other),
        }
    };
}

/// A service with the defaults, an empty store and directory, and a stopped clock.
fn service() -> (Auth, ManualClock) {
    let clock = ManualClock::new(START);
    let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new()).with_clock(clock.clone());
    (auth, clock)
}

/// [`service`] with one active user, alice.
async fn service_with_alice() -> (Auth, ManualClock, UserId) {
    let (auth, clock) = service();
    let alice = auth.users().add_user("alice", PASSWORD, true).await.unwrap();
    (auth, clock, alice)
}

/// `info` as it reads after a use at the clock's current time.
fn used_now(auth: &Auth, info: &TokenInfo) -> TokenInfo {
    TokenInfo {
        last_used: Some(auth.now()),
        ..info.clone()
    }
}

/// A request for a token labelled `name`.
fn named(name: &str) -> TokenRequest {
    TokenRequest {
        name: Some(name.to_owned()),
        ..TokenRequest::default()
    }
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn lifespan(text: &str) -> Lifespan {
    text.parse().unwrap()
}

fn parse<'h>(auth: &Auth, header: &'h [u8]) -> Result<Option<&'h str>, AuthError> {
    auth.token_from_header(Some(header))
}

// ---------------------------------------------------------------------------------------
// The Authorization header
// ---------------------------------------------------------------------------------------

#[test]
fn no_header_is_anonymous() {
    let (auth, _) = service();
    assert_eq!(auth.token_from_header(None).unwrap(), None);
}

#[test]
fn empty_or_blank_header_is_anonymous() {
    let (auth, _) = service();
    for header in [&b""[..], b" ", b"   ", b"\t", b" \t \r\n ", b"\x0b\x0c"] {
        assert_eq!(parse(&auth, header).unwrap(), None, "{header:?}");
    }
}

#[test]
fn other_schemes_and_bare_keys_are_anonymous() {
    let (auth, _) = service();
    let key = auth.format().generate();
    let bare = key.expose_secret().as_bytes();
    let tokens = format!("Tokens {}", key.expose_secret());
    for header in [
        &b"Basic x"[..],
        b"Basic dXNlcjpwYXNz",
        b"Tokens x",
        tokens.as_bytes(),
        b"Tok x",
        b"xToken x",
        b"Token: x",
        bare,
        b"abc",
        // Only ASCII whitespace separates words (Python's `bytes.split()`).
        b"Token\xa0abc",
        // Garbage in the first word never gets past the keyword check.
        b"\xe9\xff abc",
    ] {
        assert_eq!(parse(&auth, header).unwrap(), None, "{header:?}");
    }
}

#[test]
fn keyword_alone_is_no_credentials() {
    let (auth, _) = service();
    for header in [
        &b"Token"[..],
        b"Token   ",
        b"  Token",
        b" Token\t\r\n",
        b"token",
        b"Bearer",
    ] {
        assert_err!(
            parse(&auth, header),
            AuthError::NoCredentials,
            NOT_PROVIDED_HEADER
        );
    }
}

#[test]
fn more_than_one_word_after_the_keyword_contains_spaces() {
    let (auth, _) = service();
    let valid = auth.format().generate();
    let valid_then_word = format!("Token {} x", valid.expose_secret());
    for header in [
        &b"Token a b"[..],
        b"Token abc def",
        b"Token a b c",
        b"Token\ta\tb",
        valid_then_word.as_bytes(),
        // Spaces are reported before invalid characters.
        b"Token \xe9 \xff",
    ] {
        assert_err!(parse(&auth, header), AuthError::ContainsSpaces, CONTAINS_SPACES);
    }
}

#[test]
fn a_key_that_is_not_utf8_has_invalid_characters() {
    let (auth, _) = service();
    for header in [
        &b"Token \xe9\xff"[..],
        b"Token \xff",
        b"Token abc\xc3",
        b"token  \x80\t",
    ] {
        assert_err!(
            parse(&auth, header),
            AuthError::InvalidCharacters,
            INVALID_CHARACTERS
        );
    }
}

#[test]
fn valid_utf8_garbage_passes_the_header_checks() {
    // Row 28: `Token ключ-é` is not a header error; it fails later as `Invalid token`.
    let (auth, _) = service();
    assert_eq!(parse(&auth, "Token ключ-é".as_bytes()).unwrap(), Some("ключ-é"));
}

#[test]
fn keyword_is_case_insensitive() {
    let (auth, _) = service();
    for header in [&b"Token abc"[..], b"token abc", b"TOKEN abc", b"tOkEn abc"] {
        assert_eq!(parse(&auth, header).unwrap(), Some("abc"), "{header:?}");
    }
}

#[test]
fn runs_of_ascii_whitespace_separate_and_ends_are_trimmed() {
    let (auth, _) = service();
    for header in [
        &b"Token  abc"[..],
        b"Token\tabc",
        b"Token \t abc",
        b"Token abc ",
        b"  Token abc\t",
        b"Token\r\nabc",
    ] {
        assert_eq!(parse(&auth, header).unwrap(), Some("abc"), "{header:?}");
    }
}

#[test]
fn bearer_is_accepted_by_default_but_not_when_only_token_is_configured() {
    let (auth, _) = service();
    for header in [&b"Bearer abc"[..], b"bearer abc", b"BEARER\tabc"] {
        assert_eq!(parse(&auth, header).unwrap(), Some("abc"), "{header:?}");
    }

    let drf = auth.with_keywords(["Token"]);
    for header in [&b"Bearer abc"[..], b"bearer abc", b"Bearer"] {
        assert_eq!(parse(&drf, header).unwrap(), None, "{header:?}");
    }
    assert_eq!(parse(&drf, b"Token abc").unwrap(), Some("abc"));
}

#[test]
fn challenge_is_the_first_keyword() {
    let (auth, _) = service();
    assert_eq!(auth.challenge(), "Token");
    assert_eq!(auth.clone().with_keywords(["Token"]).challenge(), "Token");
    let custom = auth.with_keywords(["Bearer", "Token"]);
    assert_eq!(custom.challenge(), "Bearer");
    assert_eq!(parse(&custom, b"TOKEN abc").unwrap(), Some("abc"));
}

#[test]
#[should_panic(expected = "keywords must be a non-empty list")]
fn no_keywords_is_refused() {
    let (auth, _) = service();
    let _ = auth.with_keywords(Vec::<String>::new());
}

#[test]
#[should_panic(expected = "keywords must be a non-empty list")]
fn a_keyword_with_a_space_is_refused() {
    let (auth, _) = service();
    let _ = auth.with_keywords(["My Token"]);
}

#[tokio::test]
async fn authenticate_header_end_to_end() {
    let (auth, _, alice) = service_with_alice().await;
    let issued = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let secret = issued.token.expose_secret();

    assert!(auth.authenticate_header(None, None).await.unwrap().is_none());
    assert!(
        auth.authenticate_header(Some(b"Basic x"), None)
            .await
            .unwrap()
            .is_none()
    );
    for header in [
        format!("Token {secret}"),
        format!("tOkEn \t {secret}  "),
        format!("Bearer {secret}"),
    ] {
        let verified = auth
            .authenticate_header(Some(header.as_bytes()), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(verified.user.id, alice);
        assert_eq!(verified.token, used_now(&auth, &issued.info));
    }

    // Header errors come first, then the token checks.
    assert_err!(
        auth.authenticate_header(Some(b"Token"), None).await,
        AuthError::NoCredentials,
        NOT_PROVIDED_HEADER
    );
    let unknown = format!("Token {}", auth.format().generate().expose_secret());
    assert_err!(
        auth.authenticate_header(Some(unknown.as_bytes()), None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );
    let drf = auth.clone().with_keywords(["Token"]);
    let bearer = format!("Bearer {secret}");
    assert!(
        drf.authenticate_header(Some(bearer.as_bytes()), None)
            .await
            .unwrap()
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------
// Unknown and malformed tokens
// ---------------------------------------------------------------------------------------

/// A memory store that counts lookups, to show that garbage never reaches it.
type CountingStore = tokenauth_core::conformance::CountingStore<MemoryStore>;

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

// ---------------------------------------------------------------------------------------
// Valid tokens and expiry
// ---------------------------------------------------------------------------------------

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
async fn inactive_user_is_refused_before_expiry() {
    let (auth, clock, alice) = service_with_alice().await;
    let issued = auth
        .obtain("alice", PASSWORD, TokenRequest::default())
        .await
        .unwrap();
    let secret = issued.token.expose_secret();

    assert!(auth.set_active("alice", false).await.unwrap().is_some());
    assert_err!(
        auth.authenticate(secret, None).await,
        AuthError::UserInactive,
        USER_INACTIVE
    );

    // Row 37: an expired token of a deactivated user is `User inactive or deleted`.
    clock.advance(days(31));
    assert_err!(
        auth.authenticate(secret, None).await,
        AuthError::UserInactive,
        USER_INACTIVE
    );

    // Reactivated: the same token is back, and expired.
    assert!(auth.set_active("alice", true).await.unwrap().is_some());
    assert_err!(auth.authenticate(secret, None).await, AuthError::Expired, EXPIRED);
    clock.set(START);
    assert_eq!(auth.authenticate(secret, None).await.unwrap().user.id, alice);

    // An unknown token is `Invalid token` even for an inactive user: it is checked first.
    assert!(auth.set_active("alice", false).await.unwrap().is_some());
    assert!(auth.revoke(&issued.info.id).await.unwrap());
    assert_err!(
        auth.authenticate(secret, None).await,
        AuthError::InvalidToken,
        INVALID_TOKEN
    );

    assert!(auth.set_active("nobody", false).await.unwrap().is_none());
}

#[tokio::test]
async fn a_token_of_a_deleted_user_is_refused() {
    let (auth, clock) = service();
    let issued = auth
        .issue(&UserId::new("42"), TokenRequest::default())
        .await
        .unwrap();
    assert_err!(
        auth.authenticate(issued.token.expose_secret(), None).await,
        AuthError::UserInactive,
        USER_INACTIVE
    );
    clock.advance(days(31));
    assert_err!(
        auth.authenticate(issued.token.expose_secret(), None).await,
        AuthError::UserInactive,
        USER_INACTIVE
    );
}

#[tokio::test]
async fn changing_the_lifespan_applies_to_existing_tokens_at_once() {
    let (auth, clock, alice) = service_with_alice().await;
    let issued = auth.issue(&alice, TokenRequest::default()).await.unwrap();
    let secret = issued.token.expose_secret();
    assert_eq!(auth.policy().lifespan(), Lifespan::DEFAULT);

    // Lowered: a 2-hour-old token dies under a 1-hour lifespan, with no change to it.
    let short = auth.clone().with_lifespan(lifespan("1h"));
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
    let long = auth.clone().with_lifespan(lifespan("60d"));
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
                lifespan: Some(lifespan("1h")),
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
    let long = auth.clone().with_lifespan(lifespan("60d"));
    assert_err!(long.authenticate(secret, None).await, AuthError::Expired, EXPIRED);
    // ...and lowering it below the cap still applies.
    let shorter = auth.clone().with_lifespan(lifespan("30m"));
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

// ---------------------------------------------------------------------------------------
// Revoking, obtaining, listing
// ---------------------------------------------------------------------------------------

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

#[tokio::test]
async fn each_obtain_gives_a_new_token_and_all_stay_valid() {
    let (auth, clock, alice) = service_with_alice().await;
    let laptop = auth.obtain("alice", PASSWORD, named("laptop")).await.unwrap();
    clock.advance(Duration::minutes(1));
    let phone = auth.obtain("alice", PASSWORD, named("phone")).await.unwrap();

    assert_ne!(laptop.token.expose_secret(), phone.token.expose_secret());
    assert_ne!(laptop.info.id, phone.info.id);
    for issued in [&laptop, &phone] {
        let verified = auth
            .authenticate(issued.token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(verified.user.id, alice);
        assert_eq!(verified.token, used_now(&auth, &issued.info));
    }
    assert_eq!(
        auth.list(Some(&alice)).await.unwrap(),
        vec![used_now(&auth, &laptop.info), used_now(&auth, &phone.info)]
    );
}

#[tokio::test]
async fn obtain_refuses_bad_credentials_alike() {
    let (auth, _, _) = service_with_alice().await;
    auth.users().add_user("bob", PASSWORD, false).await.unwrap();

    for (username, password) in [
        ("alice", "wrong"),
        ("alice", ""),
        // Row 14: the password is not trimmed.
        ("alice", &format!("{PASSWORD} ")[..]),
        ("mallory", PASSWORD),
        ("", PASSWORD),
        // Inactive, with the right password.
        ("bob", PASSWORD),
        // Usernames are case-sensitive, and matched exactly (the HTTP layer trims).
        ("Alice", PASSWORD),
        ("ALICE", PASSWORD),
        (" alice", PASSWORD),
    ] {
        match auth.obtain(username, password, TokenRequest::default()).await {
            Err(err @ ObtainError::InvalidCredentials) => assert_eq!(err.to_string(), BAD_CREDENTIALS),
            other => panic!("{username:?}/{password:?}: expected InvalidCredentials, got {other:?}"),
        }
    }
    assert_eq!(auth.list(None).await.unwrap(), vec![]);

    // The right credentials still work afterwards.
    auth.obtain("alice", PASSWORD, TokenRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn list_is_per_user_oldest_first() {
    let (auth, clock, alice) = service_with_alice().await;
    let bob = UserId::new("bob-id");
    let mut alices = Vec::new();
    let mut all = Vec::new();
    for minute in 0..5 {
        let issued = auth
            .issue(
                &alice,
                TokenRequest {
                    name: Some(format!("a{minute}")),
                    ..TokenRequest::default()
                },
            )
            .await
            .unwrap();
        alices.push(issued.info.clone());
        all.push(issued.info);
        clock.advance(Duration::minutes(1));
        let issued = auth.issue(&bob, TokenRequest::default()).await.unwrap();
        all.push(issued.info);
        clock.advance(Duration::seconds(1));
    }
    assert_eq!(auth.list(Some(&alice)).await.unwrap(), alices);
    assert_eq!(auth.list(None).await.unwrap(), all);
    assert_eq!(auth.list(Some(&UserId::new("nobody"))).await.unwrap(), vec![]);
    let names: Vec<_> = alices.iter().map(|i| i.name.clone().unwrap()).collect();
    assert_eq!(names, ["a0", "a1", "a2", "a3", "a4"]);
}

// ---------------------------------------------------------------------------------------
// Secrets stay out of Debug output
// ---------------------------------------------------------------------------------------

fn assert_no_secret(value: &impl Debug, secret: &str, digest: &tokenauth_core::TokenDigest) {
    let text = format!("{value:?}");
    let alternate = format!("{value:#?}");
    let body = &secret[4..];
    let hex: String = digest.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    for text in [&text, &alternate] {
        assert!(!text.contains(secret), "secret in {text}");
        assert!(!text.contains(body), "secret body in {text}");
        assert!(!text.to_lowercase().contains(&hex), "digest in {text}");
    }
}

#[tokio::test]
async fn debug_output_never_contains_the_token() {
    let (auth, _, alice) = service_with_alice().await;
    let issued = auth.obtain("alice", PASSWORD, named("phone")).await.unwrap();
    let secret = issued.token.expose_secret();
    let digest = issued.token.digest();

    let record = auth.store().find_by_id(&issued.info.id).await.unwrap().unwrap();
    let verified = auth.authenticate(secret, None).await.unwrap();
    assert_no_secret(&issued, secret, &digest);
    assert_no_secret(&issued.token, secret, &digest);
    assert_no_secret(&record, secret, &digest);
    assert_no_secret(&digest, secret, &digest);
    assert_no_secret(&auth, secret, &digest);
    // The in-memory store's `Debug` shows its digest index (raw digest bytes), but
    // never a token.
    let store = format!("{:?}", auth.store());
    assert!(
        !store.contains(secret) && !store.contains(&secret[4..]),
        "{store}"
    );
    assert_no_secret(&verified, secret, &digest);
    assert_no_secret(&auth.list(Some(&alice)).await.unwrap(), secret, &digest);
    assert_eq!(format!("{:?}", issued.token), "PlainToken(..)");

    // The parts that are not secret are shown.
    let shown = format!("{issued:?}");
    assert!(shown.contains(issued.info.id.as_str()), "{shown}");
    assert!(shown.contains("phone"), "{shown}");
}
