//! The secret and what is kept in its place: the plaintext token, returned once, and
//! its digest, which stores keep and look tokens up by.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{decode_lower_hex, encode_lower_hex};

/// Length of a DRF key: 20 random bytes in lowercase hex (`secrets.token_hex(20)`).
pub(super) const DRF_KEY_LEN: usize = 40;
/// What follows a DRF key's 20 bytes in its [`TokenDigest`]: no SHA-256 output is
/// expected to end so.
const DRF_MARKER: &[u8; 12] = b"drf-key\0\0\0\0\0";

/// A token in plaintext: the one value that ever holds it.
///
/// It is returned once, when the token is issued, and never stored. `Debug` prints
/// `PlainToken(..)`, and there is no `Display`: reading the secret takes an explicit
/// [`expose_secret`](Self::expose_secret).
pub struct PlainToken {
    secret: String,
    kind: Kind,
}

/// What a token's digest is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Its SHA-256.
    Hashed,
    /// A DRF key ([`TokenFormat::drf`](super::TokenFormat::drf)), whose digest is the
    /// key itself.
    Drf,
    /// A knox token on knox's table ([`TokenFormat::knox`](super::TokenFormat::knox)),
    /// whose digest is its 32 random bytes.
    Knox,
}

impl PlainToken {
    /// A token of the prefixed format, as generated.
    pub(super) fn new(secret: String) -> Self {
        Self {
            secret,
            kind: Kind::Hashed,
        }
    }

    /// A DRF key from its 20 bytes.
    pub(super) fn drf(bytes: &[u8; DRF_KEY_LEN / 2]) -> Self {
        Self {
            secret: encode_lower_hex(bytes),
            kind: Kind::Drf,
        }
    }

    /// A knox token: `prefix` and its 32 random bytes in hex.
    pub(super) fn knox(prefix: &str, bytes: &[u8; 32]) -> Self {
        Self {
            secret: format!("{prefix}{}", encode_lower_hex(bytes)),
            kind: Kind::Knox,
        }
    }

    /// The token, to hand to the client.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// Consumes the value, giving the token.
    pub fn into_secret(self) -> String {
        self.secret
    }

    /// The digest that is stored in its place (for a DRF key, the key itself:
    /// [`TokenFormat::drf`](super::TokenFormat::drf); for a knox token on knox's table,
    /// its random bytes: [`TokenFormat::knox`](super::TokenFormat::knox)).
    pub fn digest(&self) -> TokenDigest {
        match self.kind {
            Kind::Hashed => TokenDigest::of(&self.secret),
            Kind::Drf => TokenDigest::from_drf_key(&self.secret).expect("a DRF key made here is well formed"),
            Kind::Knox => {
                let body = &self.secret.as_bytes()[self.secret.len() - 64..];
                let mut bytes = [0u8; 32];
                decode_lower_hex(body, &mut bytes).expect("a knox token made here is well formed");
                TokenDigest(bytes)
            }
        }
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken(..)")
    }
}

/// The SHA-256 digest of a token: what stores keep and look tokens up by.
///
/// Tokens from Django are kept otherwise: an imported django-rest-knox
/// token by the SHA-256 of knox's SHA-512 of it
/// ([`from_knox_digest`](Self::from_knox_digest)); on DRF's own table only, a
/// DRF key as itself ([`from_drf_key`](Self::from_drf_key)); on knox's own table
/// only, a knox token as its random bytes ([`knox_token`](Self::knox_token)).
///
/// The token has 256 bits of entropy, so a fast unsalted hash is enough: nobody can
/// brute-force it, and the same digest lets the store find the record by index. Equality
/// is constant-time, and `Debug` does not print the bytes.
#[derive(Clone, Copy)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// The digest of a token string.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Rebuilds a digest read back from a store.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, to write to a store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The "digest" of a DRF key ([`TokenFormat::drf`](super::TokenFormat::drf)): its
    /// 20 bytes and a marker, which a store on DRF's table turns back into the key
    /// ([`drf_key`](Self::drf_key)). `None` unless `key` is 40 lowercase hex
    /// characters.
    pub fn from_drf_key(key: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        decode_lower_hex(key.as_bytes(), &mut bytes[..DRF_KEY_LEN / 2])?;
        bytes[DRF_KEY_LEN / 2..].copy_from_slice(DRF_MARKER);
        Some(Self(bytes))
    }

    /// The DRF key this digest carries, if it is one ([`from_drf_key`](Self::from_drf_key)):
    /// what the Django store looks up and writes, and what an obtain returns again
    /// while the key is valid, as DRF does. `None` for a real (SHA-256) digest.
    pub fn drf_key(&self) -> Option<PlainToken> {
        let (key, marker) = self.0.split_at(DRF_KEY_LEN / 2);
        (marker == DRF_MARKER).then(|| PlainToken::drf(key.try_into().expect("the split leaves 20 bytes")))
    }

    /// The knox token this digest carries after `prefix`, for a store on knox's own
    /// table ([`TokenFormat::knox`](super::TokenFormat::knox)), which computes from it
    /// what knox stores and looks up (`token_key`, the SHA-512). Every digest gives a
    /// token: only a store that is given digests of that format alone may call it.
    pub fn knox_token(&self, prefix: &str) -> PlainToken {
        PlainToken::knox(prefix, &self.0)
    }
}

impl PartialEq for TokenDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for TokenDigest {}

impl std::hash::Hash for TokenDigest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenFormat;

    #[test]
    fn debug_output_hides_secrets() {
        let token = TokenFormat::default().generate();
        assert_eq!(format!("{token:?}"), "PlainToken(..)");
        assert_eq!(format!("{:?}", token.digest()), "TokenDigest(..)");
    }

    #[test]
    fn digests_compare_by_value() {
        assert_eq!(TokenDigest::of("a"), TokenDigest::of("a"));
        assert_ne!(TokenDigest::of("a"), TokenDigest::of("b"));
    }
}
