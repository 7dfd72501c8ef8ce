//! Tokens: how they are spelled (`format`), the secret and the digest kept in its place
//! (`secret`), and the public id that names a token without revealing it (`id`).
//!
//! A token looks like `tka_` + 43 base62 characters of randomness + 6 base62 characters
//! of CRC32 checksum, for example
//! `tka_4Xp9bq2LZKq3h0s8TtWm6gD1fYkR7uJcVnE5aPiBoQx1FvK3c`.
//! The 43 random characters carry 256 bits from the operating system's CSPRNG. The
//! checksum covers the prefix and the random part, as in GitHub's token format: secret
//! scanners can recognise a leaked token with the regular expression
//! [`TOKEN_REGEX`] (for the default prefix) and confirm it offline, and tokenauth
//! rejects mistyped or made-up strings before any store lookup.

mod format;
mod id;
mod knox;
mod secret;

pub use format::{DEFAULT_PREFIX, InvalidPrefix, TOKEN_REGEX, TokenFormat, TokenGenerator};
pub use id::{InvalidTokenId, TokenId};
pub use knox::InvalidKnoxPrefix;
pub use secret::{PlainToken, TokenDigest};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Appends `n` as exactly `width` base62 digits (most significant first, zero-padded).
// Inline: every request's checksum runs through it, from another module.
#[inline]
fn push_base62(out: &mut String, mut n: u128, width: usize) {
    let mut digits = [b'0'; 32];
    for slot in digits[..width].iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    debug_assert_eq!(n, 0, "value does not fit in {width} base62 digits");
    out.extend(digits[..width].iter().map(|&b| char::from(b)));
}

/// `bytes` in lowercase hex, as DRF and knox write them.
fn encode_lower_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

/// Decodes `hex`, exactly twice as long as `out`, from lowercase hex (the only case
/// DRF and knox write) into `out`; `None` for any other length or character.
fn decode_lower_hex(hex: &[u8], out: &mut [u8]) -> Option<()> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if hex.len() != out.len() * 2 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(())
}
