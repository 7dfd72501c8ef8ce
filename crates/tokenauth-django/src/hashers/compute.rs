//! Computing Django's hashes: verifying a stored one, making new `pbkdf2_sha256` ones
//! and the dummy. Slow by design: the hasher runs these off the async runtime.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::Rng as _;
use rand::TryRngCore as _;
use rand::distr::Alphanumeric;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use tokenauth_core::MalformedHash;

use super::parse::{SALT_LEN, malformed};
use super::{DjangoHash, Pbkdf2Digest};

impl DjangoHash<'_> {
    /// Whether `password` matches, computed here and now (slow by design: call it off
    /// the async runtime, as [`PasswordHasher`](tokenauth_core::PasswordHasher) does).
    /// The comparison is constant-time. An unusable password never matches. A hash over
    /// the caps ([`within_limits`](Self::within_limits)) is an error, not computed.
    ///
    /// `argon2` hashes are verified by the `argon2` crate; `PasswordHasher` verifies
    /// them in its pooled working memory instead.
    pub fn verify(&self, password: &[u8]) -> Result<bool, MalformedHash> {
        if self.within_limits().is_err() {
            return Err(malformed(self.algorithm(), "parameters over tokenauth's limits"));
        }
        match self {
            Self::Pbkdf2 {
                digest,
                iterations,
                salt,
                hash,
            } => {
                let mut computed = vec![0u8; hash.len()];
                match digest {
                    Pbkdf2Digest::Sha256 => {
                        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt.as_bytes(), *iterations, &mut computed);
                    }
                    Pbkdf2Digest::Sha1 => {
                        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(
                            password,
                            salt.as_bytes(),
                            *iterations,
                            &mut computed,
                        );
                    }
                }
                Ok(computed.ct_eq(hash).into())
            }
            Self::Argon2 { phc } => {
                use argon2::PasswordVerifier as _;
                let parsed = argon2::password_hash::PasswordHash::new(phc)
                    .map_err(|_| malformed("argon2", "not a PHC string"))?;
                Ok(argon2::Argon2::default()
                    .verify_password(password, &parsed)
                    .is_ok())
            }
            Self::BcryptSha256 { bcrypt } => bcrypt::verify(bcrypt_input(password), bcrypt)
                .map_err(|_| malformed("bcrypt_sha256", "not a bcrypt string")),
            Self::Scrypt {
                log_n,
                salt,
                r,
                p,
                hash,
            } => {
                let params = scrypt::Params::new(*log_n, *r, *p, hash.len())
                    .map_err(|_| malformed("scrypt", "bad parameters"))?;
                let mut computed = vec![0u8; hash.len()];
                scrypt::scrypt(password, salt.as_bytes(), &params, &mut computed)
                    .map_err(|_| malformed("scrypt", "bad output length"))?;
                Ok(computed.ct_eq(hash).into())
            }
            Self::Unusable => Ok(false),
        }
    }

    /// scrypt's working memory in KiB (128·N·r, and 128·r·p), if this is a scrypt hash.
    pub(super) fn scrypt_memory_kib(&self) -> Option<u32> {
        let Self::Scrypt { log_n, r, p, .. } = self else {
            return None;
        };
        let block = 128 * u64::from(*r);
        let bytes =
            block.saturating_mul(1u64.checked_shl((*log_n).into())?) + block.saturating_mul((*p).into());
        u32::try_from(bytes.div_ceil(1024)).ok()
    }
}

/// What Django's `bcrypt_sha256` feeds bcrypt: the lowercase hex of SHA-256(password).
fn bcrypt_input(password: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    Sha256::digest(password)
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
        .collect()
}

/// A salt as Django makes them: 22 random alphanumerics.
fn new_salt() -> String {
    OsRng
        .unwrap_err()
        .sample_iter(Alphanumeric)
        .take(SALT_LEN)
        .map(char::from)
        .collect()
}

/// Hashes `password` as Django's default hasher does: `pbkdf2_sha256$<iterations>$<22
/// alphanumeric salt>$<base64 of the 32-byte key>` (Django 5.2 uses
/// [`DJANGO_PBKDF2_ITERATIONS`](super::DJANGO_PBKDF2_ITERATIONS)). Slow by design: call
/// it off the async runtime.
pub fn make_pbkdf2_sha256(password: &str, iterations: u32) -> String {
    let salt = new_salt();
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut key);
    format!("pbkdf2_sha256${iterations}${salt}${}", STANDARD.encode(key))
}

/// A `pbkdf2_sha256` hash that no password matches (a random key), costing exactly
/// what verifying a real one of `iterations` costs: what unknown users are checked
/// against.
pub(super) fn dummy_pbkdf2_sha256(iterations: u32) -> String {
    let mut key = [0u8; 32];
    OsRng.unwrap_err().fill(&mut key);
    format!(
        "pbkdf2_sha256${iterations}${}${}",
        new_salt(),
        STANDARD.encode(key)
    )
}

#[cfg(test)]
mod tests {
    use super::super::DJANGO_PBKDF2_ITERATIONS;
    use super::*;

    #[test]
    fn bcrypt_input_is_the_lowercase_hex_of_sha256() {
        // sha256("abc")
        assert_eq!(
            bcrypt_input(b"abc"),
            b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_shows_no_salt_or_hash() {
        let stored = make_pbkdf2_sha256("pw", 1);
        let parsed = DjangoHash::parse(&stored).unwrap().unwrap();
        assert_eq!(
            format!("{parsed:?}"),
            "Pbkdf2 { digest: Sha256, iterations: 1, .. }"
        );
    }

    #[test]
    fn made_hashes_verify_and_are_preferred_at_their_iterations() {
        let stored = make_pbkdf2_sha256("pässwörd ", 10);
        let parsed = DjangoHash::parse(&stored).unwrap().unwrap();
        assert!(parsed.verify("pässwörd ".as_bytes()).unwrap());
        assert!(!parsed.verify("pässwörd".as_bytes()).unwrap());
        assert!(parsed.is_preferred(10));
        assert!(!parsed.is_preferred(DJANGO_PBKDF2_ITERATIONS));
        let dummy = dummy_pbkdf2_sha256(10);
        assert!(!DjangoHash::parse(&dummy).unwrap().unwrap().verify(b"").unwrap());
    }
}
