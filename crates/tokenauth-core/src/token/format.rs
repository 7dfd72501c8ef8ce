//! How tokens are spelled: the prefix, the random part and its checksum, or DRF's
//! hex keys; and generating them.

use std::fmt;

use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::{CryptoRng, Rng, SeedableRng};

use super::push_base62;
use super::secret::DRF_KEY_LEN;
use super::{PlainToken, TokenDigest, TokenId};

/// The default token prefix.
pub const DEFAULT_PREFIX: &str = "tka_";

/// The regular expression that matches a token with the default prefix, for secret
/// scanners: `tka_` then 49 base62 characters (43 random + a 6-character checksum).
pub const TOKEN_REGEX: &str = r"\btka_[0-9A-Za-z]{49}\b";

/// Length of the random part, in base62 characters: 62^43 > 2^256.
const BODY_LEN: usize = 43;
/// Length of the checksum, in base62 characters: 62^6 > 2^32.
const CHECKSUM_LEN: usize = 6;
/// A prefix that is not 1 to 16 ASCII letters, digits or `_`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a token prefix must be 1 to 16 ASCII letters, digits or underscores")]
pub struct InvalidPrefix;

/// How tokens are spelled: the prefix in front of the random part and checksum.
///
/// ```
/// use tokenauth_core::TokenFormat;
///
/// let format = TokenFormat::default();
/// let token = format.generate();
/// assert!(token.expose_secret().starts_with("tka_"));
/// assert!(format.digest_if_well_formed(token.expose_secret()).is_some());
/// assert!(format.digest_if_well_formed("tka_garbage").is_none());
/// ```
///
/// [`TokenFormat::drf`] is the other format: Django REST Framework's 40 lowercase hex
/// characters, for the Django schema only (see there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFormat {
    /// The prefix; empty for the DRF format.
    prefix: String,
    /// DRF's format: 40 lowercase hex characters, no prefix, no checksum.
    drf: bool,
    /// Also accept DRF keys imported from Django, by their SHA-256 digest.
    imported_drf: bool,
    /// Also accept django-rest-knox tokens imported from Django, by the digest of
    /// their SHA-512 (`knox.rs`).
    imported_knox: bool,
    /// knox's format on knox's own table: the prefix, 64 lowercase hex characters.
    knox: bool,
}

impl Default for TokenFormat {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            drf: false,
            imported_drf: false,
            imported_knox: false,
            knox: false,
        }
    }
}

impl TokenFormat {
    /// A format with another prefix, such as `myapp_`.
    ///
    /// Keep it short and distinctive so that secret scanners can tell your tokens apart.
    pub fn with_prefix(prefix: impl Into<String>) -> Result<Self, InvalidPrefix> {
        let prefix = prefix.into();
        let valid = (1..=16).contains(&prefix.len())
            && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if valid {
            Ok(Self {
                prefix,
                drf: false,
                imported_drf: false,
                imported_knox: false,
                knox: false,
            })
        } else {
            Err(InvalidPrefix)
        }
    }

    /// Django REST Framework's token format: 40 lowercase hex characters (160 random
    /// bits), as DRF's `Token.generate_key` makes them, so that Django accepts tokens
    /// tokenauth issues and the other way round.
    ///
    /// # Warning
    ///
    /// For the Django schema only (`tokenauth-django`). DRF keeps its keys in
    /// plaintext as the primary key, and so does this format: its [`TokenDigest`] *is*
    /// the key (its 20 bytes, not a hash), so that a store on DRF's table can look the
    /// key up and give it back ([`TokenDigest::drf_key`]). Any other store would then
    /// keep readable keys. There is no checksum, so malformed keys are recognised
    /// only by length and alphabet before the store is asked.
    ///
    /// ```
    /// use tokenauth_core::TokenFormat;
    ///
    /// let format = TokenFormat::drf();
    /// let token = format.generate();
    /// assert_eq!(token.expose_secret().len(), 40);
    /// let digest = format.digest_if_well_formed(token.expose_secret()).unwrap();
    /// assert_eq!(digest.drf_key().unwrap().expose_secret(), token.expose_secret());
    /// assert!(format.digest_if_well_formed(&token.expose_secret().to_uppercase()).is_none());
    /// ```
    pub fn drf() -> Self {
        Self {
            prefix: String::new(),
            drf: true,
            imported_drf: false,
            imported_knox: false,
            knox: false,
        }
    }

    /// django-rest-knox's token format, for knox's own table (`tokenauth-django`'s
    /// knox store): `prefix` (knox's `TOKEN_PREFIX`, at most 10 printable ASCII
    /// characters, empty by default) then 64 lowercase hex characters (32 random
    /// bytes), as knox 5 makes them with its default `AUTH_TOKEN_CHARACTER_LENGTH`.
    /// Only tokens with this very prefix are well formed.
    ///
    /// # Warning
    ///
    /// For knox's table only. Its [`TokenDigest`] is the token's 32 random bytes, not
    /// a hash, so that the store can compute what knox keeps (the SHA-512 of the
    /// whole token and its first 15 characters) from it
    /// ([`TokenDigest::knox_token`]); any other store would keep readable tokens.
    /// There is no checksum.
    ///
    /// ```
    /// use tokenauth_core::TokenFormat;
    ///
    /// let format = TokenFormat::knox("").unwrap();
    /// let token = format.generate();
    /// assert_eq!(token.expose_secret().len(), 64);
    /// let digest = format.digest_if_well_formed(token.expose_secret()).unwrap();
    /// assert_eq!(digest.knox_token("").expose_secret(), token.expose_secret());
    /// assert!(TokenFormat::knox("a prefix too long").is_err());
    /// ```
    pub fn knox(prefix: &str) -> Result<Self, super::InvalidKnoxPrefix> {
        super::knox::check_prefix(prefix)?;
        Ok(Self {
            prefix: prefix.to_owned(),
            drf: false,
            imported_drf: false,
            imported_knox: false,
            knox: true,
        })
    }

    /// Also accepts DRF keys (40 lowercase hex characters) imported from a Django
    /// database into tokenauth's own schema: stored, like tokenauth's tokens, as their
    /// SHA-256 digest ([`TokenDigest::of`]), so that they keep working until they
    /// expire. New tokens keep this format's own spelling. Default: off.
    ///
    /// ```
    /// use tokenauth_core::TokenFormat;
    /// use tokenauth_core::store::TokenDigest;
    ///
    /// let key = "c218a4606fa3bb321c24908f39f21bd17624f918";
    /// assert!(TokenFormat::default().digest_if_well_formed(key).is_none());
    /// let format = TokenFormat::default().with_imported_drf_keys(true);
    /// assert_eq!(format.digest_if_well_formed(key), Some(TokenDigest::of(key)));
    /// assert!(format.generate().expose_secret().starts_with("tka_"));
    /// ```
    pub fn with_imported_drf_keys(mut self, accept: bool) -> Self {
        self.imported_drf = accept && !self.drf && !self.knox;
        self
    }

    /// Also accepts django-rest-knox tokens imported from a Django database into
    /// tokenauth's own schema (`tokenauth import-django --django-tokens knox`): a
    /// presented token of knox's shape (a prefix of at most 10 printable ASCII
    /// characters, then 64 lowercase hex characters) that is not a token of this
    /// format is looked up by the digest of its SHA-512
    /// ([`TokenDigest::from_knox_digest`]), the one an import stored from knox's row.
    /// A token of this format is always digested as such, and the two digests are
    /// domain-separated, so that neither kind can be looked up as the other. New
    /// tokens keep this format's own spelling. Default: off.
    ///
    /// ```
    /// use tokenauth_core::TokenFormat;
    ///
    /// let knox = "0123456789abcdef".repeat(4);
    /// assert!(TokenFormat::default().digest_if_well_formed(&knox).is_none());
    /// let format = TokenFormat::default().with_imported_knox_tokens(true);
    /// assert!(format.digest_if_well_formed(&knox).is_some());
    /// assert!(format.digest_if_well_formed(&knox.to_uppercase()).is_none());
    /// assert!(format.generate().expose_secret().starts_with("tka_"));
    /// ```
    pub fn with_imported_knox_tokens(mut self, accept: bool) -> Self {
        self.imported_knox = accept && !self.drf && !self.knox;
        self
    }

    /// Whether this is [`TokenFormat::drf`].
    pub fn is_drf(&self) -> bool {
        self.drf
    }

    /// Whether this is [`TokenFormat::knox`].
    pub fn is_knox(&self) -> bool {
        self.knox
    }

    /// The prefix (empty for the DRF format; knox's `TOKEN_PREFIX` for knox's).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The total length of a token in this format.
    pub fn token_len(&self) -> usize {
        if self.drf {
            return DRF_KEY_LEN;
        }
        if self.knox {
            return self.prefix.len() + 64;
        }
        self.prefix.len() + BODY_LEN + CHECKSUM_LEN
    }

    /// A new random token.
    ///
    /// Its randomness comes from the operating system in one call: 32 bytes seed a
    /// ChaCha12 CSPRNG (`rand`'s `StdRng`) used for this token alone and then dropped.
    /// Asking the OS for every character (a system call each, ~45 of them) cost 16.5 µs
    /// a token; a thread-local generator would be faster still but outlives the token
    /// (and a `fork`).
    pub fn generate(&self) -> PlainToken {
        self.generate_from(&mut StdRng::from_os_rng())
    }

    /// A generator of many tokens (and ids) in a row: a bulk import, a benchmark.
    ///
    /// [`generate`](Self::generate) asks the operating system for a fresh seed for
    /// each token; the generator asks it once, for the seed of one ChaCha12 CSPRNG
    /// (`rand`'s `StdRng`), and draws every token from that: as unpredictable, and
    /// without a system call per token.
    ///
    /// ```
    /// use tokenauth_core::TokenFormat;
    ///
    /// let format = TokenFormat::default();
    /// let mut generator = format.generator();
    /// let token = generator.token();
    /// assert!(format.digest_if_well_formed(token.expose_secret()).is_some());
    /// assert_ne!(generator.token().expose_secret(), token.expose_secret());
    /// ```
    pub fn generator(&self) -> TokenGenerator {
        TokenGenerator {
            format: self.clone(),
            rng: StdRng::from_os_rng(),
        }
    }

    fn generate_from<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> PlainToken {
        if self.drf {
            let mut bytes = [0u8; DRF_KEY_LEN / 2];
            rng.fill_bytes(&mut bytes);
            return PlainToken::drf(&bytes);
        }
        if self.knox {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            return PlainToken::knox(&self.prefix, &bytes);
        }
        let mut token = String::with_capacity(self.token_len());
        token.push_str(&self.prefix);
        // `Alphanumeric` samples the 62 characters uniformly (by rejection), so each
        // character carries log2(62) bits.
        token.extend(rng.sample_iter(Alphanumeric).take(BODY_LEN).map(char::from));
        let checksum = crc32fast::hash(token.as_bytes());
        push_base62(&mut token, u128::from(checksum), CHECKSUM_LEN);
        PlainToken::new(token)
    }

    /// The digest of `candidate` if it is a well-formed token of this format (right
    /// prefix, length, alphabet and checksum), `None` otherwise.
    ///
    /// This is what lets garbage be rejected without a store lookup.
    pub fn digest_if_well_formed(&self, candidate: &str) -> Option<TokenDigest> {
        if self.drf {
            return TokenDigest::from_drf_key(candidate);
        }
        if self.knox {
            return super::knox::body_if_prefixed(candidate, &self.prefix);
        }
        // A well-formed DRF key, hashed like a token of this format.
        if self.imported_drf && TokenDigest::from_drf_key(candidate).is_some() {
            return Some(TokenDigest::of(candidate));
        }
        if let Some(digest) = self.own_digest(candidate) {
            return Some(digest);
        }
        // Only a string that is not a token of this format is taken for knox's.
        if self.imported_knox {
            return super::knox::digest_if_shaped(candidate);
        }
        None
    }

    /// The digest of `candidate` if it is a token of this (prefixed, checksummed)
    /// format.
    fn own_digest(&self, candidate: &str) -> Option<TokenDigest> {
        // ASCII first: byte offsets below are then character boundaries.
        if !candidate.is_ascii()
            || candidate.len() != self.token_len()
            || !candidate.starts_with(&self.prefix)
        {
            return None;
        }
        let (signed, checksum) = candidate.split_at(candidate.len() - CHECKSUM_LEN);
        let body = &signed[self.prefix.len()..];
        if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let mut expected = String::with_capacity(CHECKSUM_LEN);
        push_base62(
            &mut expected,
            u128::from(crc32fast::hash(signed.as_bytes())),
            CHECKSUM_LEN,
        );
        // The checksum is public information (it is derived from the token itself), so
        // an ordinary comparison leaks nothing.
        (expected == checksum).then(|| TokenDigest::of(candidate))
    }
}

/// Many tokens and ids from one CSPRNG seeded by the operating system
/// ([`TokenFormat::generator`]).
///
/// `Debug` shows the prefix only, never the generator's state.
pub struct TokenGenerator {
    format: TokenFormat,
    rng: StdRng,
}

impl TokenGenerator {
    /// A new random token.
    pub fn token(&mut self) -> PlainToken {
        self.format.generate_from(&mut self.rng)
    }

    /// A new random token id.
    pub fn id(&mut self) -> TokenId {
        TokenId::generate_from(&mut self.rng)
    }
}

impl fmt::Debug for TokenGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGenerator")
            .field("prefix", &self.format.prefix)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let format = TokenFormat::default();
        let token = format.generate();
        let s = token.expose_secret();
        assert_eq!(s.len(), 53);
        assert!(s.starts_with("tka_"));
        assert!(s[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(format.digest_if_well_formed(s).is_some());
        assert_ne!(format.generate().expose_secret(), s);
    }

    #[test]
    fn a_changed_character_fails_the_checksum() {
        let format = TokenFormat::default();
        let token = format.generate().into_secret();
        let mut bytes = token.into_bytes();
        bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(format.digest_if_well_formed(&tampered).is_none());
    }

    #[test]
    fn other_prefixes_lengths_and_alphabets_are_rejected() {
        let format = TokenFormat::default();
        let token = format.generate().into_secret();
        let other = TokenFormat::with_prefix("xyz_").unwrap();
        assert!(other.digest_if_well_formed(&token).is_none());
        assert!(format.digest_if_well_formed(&token[..52]).is_none());
        assert!(format.digest_if_well_formed(&format!("{token}0")).is_none());
        assert!(format.digest_if_well_formed(&"é".repeat(26)).is_none());
        // 53 bytes with a two-byte character across the checksum boundary.
        let straddling = format!("tka_{}é{}", "a".repeat(42), "b".repeat(5));
        assert_eq!(straddling.len(), 53);
        assert!(format.digest_if_well_formed(&straddling).is_none());
        assert!(format.digest_if_well_formed("").is_none());
    }

    #[test]
    fn a_string_of_both_shapes_is_always_digested_as_this_formats_token() {
        // A 16-character prefix makes this format's tokens 65 characters long, as long
        // as a knox token with a 1-character prefix: find one that is both.
        let prefix = "x0123456789abcde";
        let format = TokenFormat::with_prefix(prefix)
            .unwrap()
            .with_imported_knox_tokens(true);
        let both = (0u64..)
            .map(|i| {
                let mut token = format!("{prefix}{i:043x}");
                let checksum = crc32fast::hash(token.as_bytes());
                push_base62(&mut token, u128::from(checksum), CHECKSUM_LEN);
                token
            })
            .find(|token| token[1..].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .unwrap();
        let knox = super::super::knox::digest_if_shaped(&both).unwrap();
        assert_eq!(format.digest_if_well_formed(&both), Some(TokenDigest::of(&both)));
        assert_ne!(TokenDigest::of(&both), knox);
        // With its checksum broken it is no token of this format: knox's digest.
        let broken = format!("{}{}", &both[..64], if both.ends_with('0') { '1' } else { '0' });
        assert_eq!(
            format.digest_if_well_formed(&broken),
            super::super::knox::digest_if_shaped(&broken)
        );
        assert!(format.digest_if_well_formed(&broken).is_some());
    }

    #[test]
    fn knox_tokens_are_accepted_only_when_asked_and_never_in_drfs_format() {
        let knox = "0123456789abcdef".repeat(4);
        assert!(TokenFormat::default().digest_if_well_formed(&knox).is_none());
        let drf = TokenFormat::drf().with_imported_knox_tokens(true);
        assert!(drf.digest_if_well_formed(&knox).is_none());
        // DRF keys imported beside knox tokens keep their own digest.
        let both = TokenFormat::default()
            .with_imported_drf_keys(true)
            .with_imported_knox_tokens(true);
        let key = &knox[..40];
        assert_eq!(both.digest_if_well_formed(key), Some(TokenDigest::of(key)));
        assert_eq!(
            both.digest_if_well_formed(&knox),
            super::super::knox::digest_if_shaped(&knox)
        );
    }

    #[test]
    fn prefixes_are_validated() {
        assert_eq!(TokenFormat::with_prefix("").unwrap_err(), InvalidPrefix);
        assert_eq!(TokenFormat::with_prefix("a-b").unwrap_err(), InvalidPrefix);
        assert_eq!(
            TokenFormat::with_prefix("x".repeat(17)).unwrap_err(),
            InvalidPrefix
        );
        assert_eq!(TokenFormat::with_prefix("myapp_").unwrap().prefix(), "myapp_");
    }

    #[test]
    fn checksum_is_crc32_in_six_base62_digits() {
        // Pinned so that the format cannot drift from the published one.
        let mut s = String::new();
        push_base62(&mut s, u128::from(u32::MAX), 6);
        assert_eq!(s, "4gfFC3");
        s.clear();
        push_base62(&mut s, 0, 6);
        assert_eq!(s, "000000");
        let signed = format!("tka_{}", "a".repeat(43));
        let mut expected = signed.clone();
        push_base62(&mut expected, u128::from(crc32fast::hash(signed.as_bytes())), 6);
        assert!(TokenFormat::default().digest_if_well_formed(&expected).is_some());
    }

    #[test]
    fn generators_make_well_formed_distinct_tokens_and_ids() {
        let format = TokenFormat::with_prefix("bulk_").unwrap();
        let mut generator = format.generator();
        let tokens: std::collections::HashSet<String> =
            (0..1000).map(|_| generator.token().into_secret()).collect();
        assert_eq!(tokens.len(), 1000);
        assert!(tokens.iter().all(|t| format.digest_if_well_formed(t).is_some()));
        let id = generator.id();
        assert_eq!(id.as_str().parse::<TokenId>().unwrap(), id);
        assert_ne!(generator.id(), id);
        assert_eq!(
            format!("{generator:?}"),
            "TokenGenerator { prefix: \"bulk_\", .. }"
        );
    }
}
