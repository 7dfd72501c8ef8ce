//! How refusals challenge the client: DRF's `WWW-Authenticate: Token`, or RFC 6750's
//! `Bearer` challenges. The HTTP layer renders them; the service only holds the setting,
//! so that every piece built from one service answers alike.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Which challenges a refusal carries (the bodies are DRF's `{"detail": ...}` in every
/// mode).
///
/// - [`Drf`](Self::Drf): DRF's answers, whatever scheme the client used: every 401
///   carries `WWW-Authenticate: Token` (the first keyword), malformed credentials are a
///   401.
/// - [`Rfc6750`](Self::Rfc6750): RFC 6750's, whatever scheme the client used:
///   `WWW-Authenticate: Bearer realm="api"` when no credentials were sent, with
///   `error="invalid_token"` on a 401 for credentials that fail,
///   `error="invalid_request"` on a 400 for malformed or repeated ones, and
///   `error="insufficient_scope"` on a 403 for a missing scope.
/// - [`Auto`](Self::Auto) (default): RFC 6750's to a client that sent `Bearer`
///   credentials, DRF's to every other (a `Token` client, or one that sent none), so
///   existing DRF clients see DRF's exact answers. When the first keyword is `Bearer`
///   (`keywords(["Bearer", ...])`), a request without credentials gets RFC 6750's
///   challenge too.
///
/// ```
/// use tokenauth_core::Challenge;
///
/// assert_eq!("rfc6750".parse::<Challenge>().unwrap(), Challenge::Rfc6750);
/// assert_eq!(Challenge::default().to_string(), "auto");
/// assert!("bearer".parse::<Challenge>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Challenge {
    /// DRF's answers to every client.
    Drf,
    /// RFC 6750's answers to every client.
    Rfc6750,
    /// RFC 6750's to `Bearer` clients, DRF's to the others (default).
    #[default]
    Auto,
}

/// A string that is not `drf`, `rfc6750` or `auto`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected `drf`, `rfc6750` or `auto`")]
pub struct InvalidChallenge;

impl FromStr for Challenge {
    type Err = InvalidChallenge;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "drf" => Ok(Self::Drf),
            "rfc6750" => Ok(Self::Rfc6750),
            "auto" => Ok(Self::Auto),
            _ => Err(InvalidChallenge),
        }
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Drf => "drf",
            Self::Rfc6750 => "rfc6750",
            Self::Auto => "auto",
        })
    }
}

/// The `realm` of RFC 6750 challenges (default `api`): printable ASCII, spaces
/// included, without quotes or backslashes, at most [`MAX_REALM_CHARS`] characters,
/// so that it goes into the quoted string as it is.
///
/// ```
/// use tokenauth_core::Realm;
///
/// assert_eq!(Realm::default().as_str(), "api");
/// assert_eq!("Example API".parse::<Realm>().unwrap().as_str(), "Example API");
/// assert!("say \"hi\"".parse::<Realm>().is_err());
/// assert!("".parse::<Realm>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Realm(Arc<str>);

/// The longest realm accepted, in characters.
pub const MAX_REALM_CHARS: usize = 128;

/// The default realm.
pub const DEFAULT_REALM: &str = "api";

/// A realm that is empty, too long, or has a character a quoted string cannot carry
/// unescaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid realm: expected 1 to {MAX_REALM_CHARS} printable ASCII characters (spaces \
     allowed) without quotes or backslashes"
)]
pub struct InvalidRealm;

impl Realm {
    /// The realm `realm`, if valid.
    pub fn new(realm: &str) -> Result<Self, InvalidRealm> {
        let valid = !realm.is_empty()
            && realm.len() <= MAX_REALM_CHARS
            && realm
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
        if valid {
            Ok(Self(realm.into()))
        } else {
            Err(InvalidRealm)
        }
    }

    /// The realm.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Realm {
    fn default() -> Self {
        Self(DEFAULT_REALM.into())
    }
}

impl FromStr for Realm {
    type Err = InvalidRealm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for Realm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realms_are_quoted_string_safe() {
        for good in [
            "api",
            "Example API",
            "a!#$%&'()*+,-./:;<=>?@[]^_`{|}~",
            &"r".repeat(128),
        ] {
            assert_eq!(Realm::new(good).map(|r| r.to_string()), Ok(good.to_owned()));
        }
        for bad in ["", "a\"b", "a\\b", "tab\there", "é", "nl\n", &"r".repeat(129)] {
            assert_eq!(Realm::new(bad), Err(InvalidRealm), "{bad:?}");
        }
    }

    #[test]
    fn challenges_round_trip_through_text() {
        for challenge in [Challenge::Drf, Challenge::Rfc6750, Challenge::Auto] {
            assert_eq!(challenge.to_string().parse(), Ok(challenge));
        }
        assert_eq!("RFC6750".parse::<Challenge>(), Err(InvalidChallenge));
    }
}
