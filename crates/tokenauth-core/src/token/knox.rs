//! django-rest-knox's tokens: imported into tokenauth's own schema, how a presented
//! token is recognised as knox's and digested, and the digest an import stores for a
//! row of knox's `knox_authtoken`; on knox's own table
//! ([`TokenFormat::knox`](super::TokenFormat::knox)), the token's random bytes.
//!
//! Knox (5.x, its defaults) issues `TOKEN_PREFIX` (at most 10 characters, empty by
//! default) followed by 64 lowercase hex characters (32 random bytes), and keeps the
//! hex SHA-512 of the whole token, never the token. tokenauth cannot rehash what it
//! never sees, so it stores a hash of knox's digest instead:
//! `SHA-256(KNOX_DOMAIN || SHA-512(token))`, which an import computes from the stored
//! digest and `serve` from the presented token. Its input starts with a tag no token
//! tokenauth hashes itself can start with, so the digest of a knox token and that of
//! any other token never coincide without breaking SHA-256.

use sha2::{Digest, Sha256, Sha512};

use super::{PlainToken, TokenDigest, decode_lower_hex, encode_lower_hex};

/// Knox's `AUTH_TOKEN_CHARACTER_LENGTH` default: 32 random bytes in hex.
const BODY_LEN: usize = 64;
/// Knox's `MAXIMUM_TOKEN_PREFIX_LENGTH`.
const MAX_PREFIX_LEN: usize = 10;
/// Prepended to knox's SHA-512 before hashing it: a NUL byte, which no token contains.
const KNOX_DOMAIN: &[u8] = b"\0tokenauth:knox-sha512\0";

/// A knox `TOKEN_PREFIX` that is not at most 10 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a knox token prefix must be at most 10 printable ASCII characters, without spaces")]
pub struct InvalidKnoxPrefix;

/// Checks a knox prefix: at most 10 (`MAXIMUM_TOKEN_PREFIX_LENGTH`) printable ASCII
/// characters; no space, which the `Authorization` header could not carry.
pub(super) fn check_prefix(prefix: &str) -> Result<(), InvalidKnoxPrefix> {
    let valid = prefix.len() <= MAX_PREFIX_LEN && prefix.bytes().all(|b| b.is_ascii_graphic());
    valid.then_some(()).ok_or(InvalidKnoxPrefix)
}

/// The random bytes of `candidate` if it is `prefix` and 64 lowercase hex characters.
pub(super) fn body_if_prefixed(candidate: &str, prefix: &str) -> Option<TokenDigest> {
    let body = candidate.strip_prefix(prefix)?;
    let mut bytes = [0u8; BODY_LEN / 2];
    decode_lower_hex(body.as_bytes(), &mut bytes)?;
    Some(TokenDigest::from_bytes(bytes))
}

/// The digest of `candidate` if it has knox's shape: up to 10 printable ASCII
/// characters (the prefix; no space, which the `Authorization` header could not
/// carry) and 64 lowercase hex characters.
pub(super) fn digest_if_shaped(candidate: &str) -> Option<TokenDigest> {
    let bytes = candidate.as_bytes();
    let prefix_len = bytes.len().checked_sub(BODY_LEN)?;
    let (prefix, body) = bytes.split_at(prefix_len);
    let shaped = prefix.len() <= MAX_PREFIX_LEN
        && prefix.iter().all(|b| b.is_ascii_graphic())
        && body.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    shaped.then(|| of_sha512(&Sha512::digest(bytes)))
}

/// The digest of knox's SHA-512 of a token (64 bytes).
fn of_sha512(sha512: &[u8]) -> TokenDigest {
    let mut hasher = Sha256::new();
    hasher.update(KNOX_DOMAIN);
    hasher.update(sha512);
    TokenDigest::from_bytes(hasher.finalize().into())
}

impl PlainToken {
    /// What django-rest-knox stores for this token in `knox_authtoken.digest`: its
    /// SHA-512 in lowercase hex (knox's default `SECURE_HASH_ALGORITHM`), which a store
    /// on knox's own table writes and compares.
    ///
    /// ```
    /// use tokenauth_core::TokenFormat;
    /// # use sha2::Digest as _;
    /// let token = TokenFormat::knox("knx_").unwrap().generate();
    /// let expected = format!("{:x}", sha2::Sha512::digest(token.expose_secret()));
    /// assert_eq!(token.knox_digest(), expected);
    /// ```
    pub fn knox_digest(&self) -> String {
        encode_lower_hex(&Sha512::digest(self.expose_secret().as_bytes()))
    }
}

impl TokenDigest {
    /// The digest that a token of django-rest-knox is stored by, from knox's own
    /// `knox_authtoken.digest` (128 lowercase hex characters: the SHA-512 of the token,
    /// knox's default `SECURE_HASH_ALGORITHM`): what `tokenauth import-django
    /// --django-tokens knox` stores, and what
    /// [`TokenFormat::with_imported_knox_tokens`](super::TokenFormat::with_imported_knox_tokens)
    /// computes from the presented token. `None` for any other text (another hash
    /// algorithm's length, uppercase, which knox never writes).
    ///
    /// ```
    /// use tokenauth_core::TokenFormat;
    /// use tokenauth_core::store::TokenDigest;
    ///
    /// // A token of knox's shape, and what knox stores for it: its hex SHA-512.
    /// let token = format!("knx_{}", "0123456789abcdef".repeat(4));
    /// # use sha2::Digest as _;
    /// let stored = format!("{:x}", sha2::Sha512::digest(&token));
    /// let imported = TokenDigest::from_knox_digest(&stored).unwrap();
    /// let format = TokenFormat::default().with_imported_knox_tokens(true);
    /// assert_eq!(format.digest_if_well_formed(&token), Some(imported));
    /// assert_ne!(imported, TokenDigest::of(&token));
    /// assert!(TokenDigest::from_knox_digest(&stored.to_uppercase()).is_none());
    /// assert!(TokenDigest::from_knox_digest(&stored[..64]).is_none());
    /// ```
    pub fn from_knox_digest(hex: &str) -> Option<Self> {
        let mut sha512 = [0u8; 64];
        decode_lower_hex(hex.as_bytes(), &mut sha512)?;
        Some(of_sha512(&sha512))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenFormat;

    #[test]
    fn knox_format_tokens_carry_their_bytes_and_keep_their_prefix() {
        let format = TokenFormat::knox("knx_").unwrap();
        let token = format.generate();
        let secret = token.expose_secret();
        assert_eq!(secret.len(), 68);
        assert!(secret.starts_with("knx_"));
        assert!(
            secret[4..]
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        let digest = format.digest_if_well_formed(secret).unwrap();
        assert_eq!(digest, token.digest());
        assert_eq!(digest.knox_token("knx_").expose_secret(), secret);
        // Another prefix, none, uppercase or another length is not this format's.
        for other in [
            secret[4..].to_owned(),
            format!("kny_{}", &secret[4..]),
            secret.to_uppercase(),
            format!("{secret}0"),
            secret[..67].to_owned(),
        ] {
            assert_eq!(format.digest_if_well_formed(&other), None, "{other}");
        }
        assert_eq!(TokenFormat::knox("").unwrap().token_len(), 64);
    }

    #[test]
    fn knox_prefixes_are_checked_as_knox_does() {
        assert!(TokenFormat::knox("0123456789").is_ok());
        for bad in ["01234567890", "a b", "é"] {
            assert_eq!(TokenFormat::knox(bad).unwrap_err(), InvalidKnoxPrefix, "{bad}");
        }
    }

    fn knox_stored_digest(token: &str) -> String {
        Sha512::digest(token).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_presented_token_meets_the_digest_its_row_was_imported_with() {
        for token in [
            "0123456789abcdef".repeat(4),
            format!("knx_{}", "f".repeat(64)),
            format!("{}{}", "!~#$%&()*+", "0".repeat(64)),
        ] {
            let imported = TokenDigest::from_knox_digest(&knox_stored_digest(&token)).unwrap();
            assert_eq!(digest_if_shaped(&token), Some(imported), "{token}");
        }
    }

    #[test]
    fn only_knox_shapes_are_digested() {
        let body = "a".repeat(64);
        for candidate in [
            "a".repeat(63),
            "A".repeat(64),
            format!("{}{body}", "p".repeat(11)),
            format!("kn x{body}"),
            format!("é{body}"),
            format!("{body}g"),
            format!("{}é", "a".repeat(62)),
            String::new(),
        ] {
            assert_eq!(digest_if_shaped(&candidate), None, "{candidate:?}");
        }
    }

    #[test]
    fn knox_digests_never_equal_the_plain_digest_of_the_same_text() {
        let token = "0123456789abcdef".repeat(4);
        assert_ne!(digest_if_shaped(&token), Some(TokenDigest::of(&token)));
        // Nor of knox's hex digest taken as a token.
        let stored = knox_stored_digest(&token);
        assert_ne!(
            TokenDigest::from_knox_digest(&stored),
            Some(TokenDigest::of(&stored))
        );
    }
}
