//! The Authorization header, against the rules of the original (`drf-wire.md`): which
//! headers are anonymous, which are errors and in what order, the keywords, and
//! authentication through the header end to end.

mod common;

use tokenauth_core::{AuthError, TokenRequest};

use common::drf::{service, service_with_alice};
use common::{Auth, INVALID_TOKEN, assert_err, used_now};

const NOT_PROVIDED_HEADER: &str = "Invalid token header. No credentials provided.";
const CONTAINS_SPACES: &str = "Invalid token header. Token string should not contain spaces.";
const INVALID_CHARACTERS: &str = "Invalid token header. Token string should not contain invalid characters.";

fn parse<'h>(auth: &Auth, header: &'h [u8]) -> Result<Option<&'h str>, AuthError> {
    auth.token_from_header(Some(header))
}

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
