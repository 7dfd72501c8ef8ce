//! The public, non-secret name of a token.

use std::fmt;
use std::str::FromStr;

use rand::rngs::OsRng;
use rand::{CryptoRng, Rng, TryRngCore};

use super::push_base62;

/// Length of a public token id, in base62 characters (128 random bits).
const ID_LEN: usize = 22;

/// The public, non-secret identifier of a token, used to list and revoke it.
///
/// 22 base62 characters of randomness: not sequential, so it reveals neither how many
/// tokens exist nor when one was made.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TokenId(String);

impl TokenId {
    /// A new random id.
    pub fn generate() -> Self {
        Self::generate_from(&mut OsRng.unwrap_err())
    }

    pub(super) fn generate_from<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes);
        let mut id = String::with_capacity(ID_LEN);
        push_base62(&mut id, u128::from_le_bytes(bytes), ID_LEN);
        Self(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({})", self.0)
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// A string that is not a token id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a token id is {ID_LEN} ASCII letters and digits")]
pub struct InvalidTokenId;

impl FromStr for TokenId {
    type Err = InvalidTokenId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidTokenId)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_parse_back() {
        let id = TokenId::generate();
        assert_eq!(id.as_str().len(), 22);
        assert_ne!(id, TokenId::generate());
        assert_eq!(id.as_str().parse::<TokenId>().unwrap(), id);
        assert!("short".parse::<TokenId>().is_err());
    }
}
