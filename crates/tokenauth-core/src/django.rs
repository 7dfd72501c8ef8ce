//! Django's password hashes (feature `django-hashers`): reading and verifying every
//! format of Django's five default `PASSWORD_HASHERS`, and making new `pbkdf2_sha256`
//! ones.
//!
//! | algorithm | stored as |
//! | --- | --- |
//! | `pbkdf2_sha256` (Django's default) | `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` |
//! | `pbkdf2_sha1` | `pbkdf2_sha1$<iterations>$<salt>$<base64 hash>` |
//! | `argon2` | `argon2` + an argon2-cffi PHC string (`$argon2id$v=19$m=...,t=...,p=...$...`) |
//! | `bcrypt_sha256` | `bcrypt_sha256$` + bcrypt (`$2b$12$...`) over the hex SHA-256 of the password |
//! | `scrypt` | `scrypt$<N>$<salt>$<r>$<p>$<base64 hash>` |
//!
//! A password set unusable (`set_unusable_password`: `!` and 40 characters) is a
//! [`DjangoHash::Unusable`]: it never matches. A hash whose parameters exceed
//! tokenauth's caps ([`limits`]: PBKDF2 iterations, scrypt's
//! memory, work and parallelism, bcrypt's cost, argon2's memory, passes and lanes)
//! parses, but [`DjangoHash::within_limits`] refuses it and it is never computed.
//! Salts are used as their ASCII bytes, as Django does; hashes are standard base64 with padding (argon2's PHC part without).
//!
//! This module only parses and computes; [`PasswordHasher`](crate::PasswordHasher) runs
//! the verification off the async runtime, in its bounded queue, with at least the
//! dummy's work for unknown users and failed checks ([`PasswordHasher::django`](crate::PasswordHasher::django) for a
//! Django database; the default argon2id hasher verifies these hashes as outdated and
//! re-hashes them on login).
//!
//! ```
//! use tokenauth_core::django::{DjangoHash, make_pbkdf2_sha256};
//!
//! let stored = make_pbkdf2_sha256("correct horse", 1_000);
//! assert!(stored.starts_with("pbkdf2_sha256$1000$"));
//! let hash = DjangoHash::parse(&stored).unwrap().unwrap();
//! assert!(hash.verify(b"correct horse").unwrap());
//! assert!(!hash.verify(b"Correct horse").unwrap());
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::Rng as _;
use rand::TryRngCore as _;
use rand::distr::Alphanumeric;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::password::limits::{self, HashLimit};

/// The iterations Django 5.2 uses for new `pbkdf2_sha256` hashes.
pub const DJANGO_PBKDF2_ITERATIONS: u32 = 1_000_000;

/// The length of the salts Django makes (22 alphanumerics: more than 128 bits).
const SALT_LEN: usize = 22;

/// A stored Django hash that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Django {algorithm} hash: {reason}")]
pub struct MalformedDjangoHash {
    /// The algorithm named by the prefix.
    pub algorithm: &'static str,
    /// What is wrong (never the hash itself).
    pub reason: &'static str,
}

fn malformed(algorithm: &'static str, reason: &'static str) -> MalformedDjangoHash {
    MalformedDjangoHash { algorithm, reason }
}

/// The PBKDF2 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pbkdf2Digest {
    /// `pbkdf2_sha256`, Django's default.
    Sha256,
    /// `pbkdf2_sha1`.
    Sha1,
}

/// A Django password hash, parsed. `Debug` shows the algorithm and its parameters,
/// never a salt or hash.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DjangoHash<'a> {
    /// `pbkdf2_sha256$...` or `pbkdf2_sha1$...`.
    Pbkdf2 {
        /// Which digest.
        digest: Pbkdf2Digest,
        /// The iteration count.
        iterations: u32,
        /// The salt, used as its bytes.
        salt: &'a str,
        /// The derived key.
        hash: Vec<u8>,
    },
    /// `argon2$argon2id$...`: the PHC string after the `argon2` prefix.
    Argon2 {
        /// The PHC string (`$argon2id$v=19$m=...`).
        phc: &'a str,
    },
    /// `bcrypt_sha256$$2b$...`: the bcrypt string after the prefix.
    BcryptSha256 {
        /// The bcrypt string (`$2b$12$...`).
        bcrypt: &'a str,
    },
    /// `scrypt$N$salt$r$p$hash`.
    Scrypt {
        /// log2 of the work factor N.
        log_n: u8,
        /// The salt, used as its bytes.
        salt: &'a str,
        /// The block size r.
        r: u32,
        /// The parallelism p.
        p: u32,
        /// The derived key.
        hash: Vec<u8>,
    },
    /// An unusable password (`!...`): it never matches.
    Unusable,
}

impl fmt::Debug for DjangoHash<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pbkdf2 {
                digest, iterations, ..
            } => f
                .debug_struct("Pbkdf2")
                .field("digest", digest)
                .field("iterations", iterations)
                .finish_non_exhaustive(),
            Self::Argon2 { .. } => f.debug_struct("Argon2").finish_non_exhaustive(),
            Self::BcryptSha256 { .. } => f.debug_struct("BcryptSha256").finish_non_exhaustive(),
            Self::Scrypt { log_n, r, p, .. } => f
                .debug_struct("Scrypt")
                .field("log_n", log_n)
                .field("r", r)
                .field("p", p)
                .finish_non_exhaustive(),
            Self::Unusable => f.write_str("Unusable"),
        }
    }
}

impl<'a> DjangoHash<'a> {
    /// Parses a stored hash: `Ok(None)` if it is not in a Django format (such as a
    /// tokenauth `$argon2id$...` PHC string), an error if it names a Django algorithm but
    /// cannot be read.
    pub fn parse(stored: &'a str) -> Result<Option<Self>, MalformedDjangoHash> {
        if stored.starts_with('!') {
            return Ok(Some(Self::Unusable));
        }
        let Some((algorithm, rest)) = stored.split_once('$') else {
            return Ok(None);
        };
        Ok(Some(match algorithm {
            "pbkdf2_sha256" => Self::pbkdf2(Pbkdf2Digest::Sha256, "pbkdf2_sha256", rest)?,
            "pbkdf2_sha1" => Self::pbkdf2(Pbkdf2Digest::Sha1, "pbkdf2_sha1", rest)?,
            "argon2" => {
                // `argon2` + `$argon2id$...`: the PHC string starts at the `$`.
                let phc = &stored["argon2".len()..];
                let parsed = argon2::password_hash::PasswordHash::new(phc)
                    .map_err(|_| malformed("argon2", "not a PHC string"))?;
                if !parsed.algorithm.as_str().starts_with("argon2") || parsed.hash.is_none() {
                    return Err(malformed("argon2", "not an argon2 PHC string with a hash"));
                }
                Self::Argon2 { phc }
            }
            "bcrypt_sha256" => {
                if !rest.starts_with("$2") {
                    return Err(malformed("bcrypt_sha256", "not a bcrypt string"));
                }
                Self::BcryptSha256 { bcrypt: rest }
            }
            "scrypt" => Self::scrypt(rest)?,
            _ => return Ok(None),
        }))
    }

    fn pbkdf2(digest: Pbkdf2Digest, name: &'static str, rest: &'a str) -> Result<Self, MalformedDjangoHash> {
        let mut parts = rest.splitn(3, '$');
        let (Some(iterations), Some(salt), Some(hash)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(malformed(name, "expected iterations$salt$hash"));
        };
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(malformed(name, "bad iteration count"))?;
        let hash = STANDARD
            .decode(hash)
            .map_err(|_| malformed(name, "hash is not base64"))?;
        if hash.is_empty() || salt.contains('$') {
            return Err(malformed(name, "empty hash or bad salt"));
        }
        Ok(Self::Pbkdf2 {
            digest,
            iterations,
            salt,
            hash,
        })
    }

    fn scrypt(rest: &'a str) -> Result<Self, MalformedDjangoHash> {
        let bad = |reason| malformed("scrypt", reason);
        let parts: Vec<&str> = rest.split('$').collect();
        let [n, salt, r, p, hash] = parts[..] else {
            return Err(bad("expected N$salt$r$p$hash"));
        };
        let n: u64 = n.parse().map_err(|_| bad("bad N"))?;
        if n < 2 || !n.is_power_of_two() {
            return Err(bad("N is not a power of two"));
        }
        let log_n = u8::try_from(n.trailing_zeros()).map_err(|_| bad("bad N"))?;
        let r: u32 = r.parse().map_err(|_| bad("bad r"))?;
        let p: u32 = p.parse().map_err(|_| bad("bad p"))?;
        let hash = STANDARD.decode(hash).map_err(|_| bad("hash is not base64"))?;
        if hash.is_empty() {
            return Err(bad("empty hash"));
        }
        Ok(Self::Scrypt {
            log_n,
            salt,
            r,
            p,
            hash,
        })
    }

    /// The algorithm's name, as Django spells it in the hash (`unusable` for `!...`).
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Pbkdf2 {
                digest: Pbkdf2Digest::Sha256,
                ..
            } => "pbkdf2_sha256",
            Self::Pbkdf2 {
                digest: Pbkdf2Digest::Sha1,
                ..
            } => "pbkdf2_sha1",
            Self::Argon2 { .. } => "argon2",
            Self::BcryptSha256 { .. } => "bcrypt_sha256",
            Self::Scrypt { .. } => "scrypt",
            Self::Unusable => "unusable",
        }
    }

    /// Whether the hash's parameters are within tokenauth's caps
    /// ([`limits`]): else it is never computed, and the user
    /// cannot log in until the password is reset.
    pub fn within_limits(&self) -> Result<(), HashLimit> {
        limits::django(self)
    }

    /// scrypt's working memory in KiB (128·N·r, and 128·r·p), if this is a scrypt hash.
    pub(crate) fn scrypt_memory_kib(&self) -> Option<u32> {
        let Self::Scrypt { log_n, r, p, .. } = self else {
            return None;
        };
        let block = 128 * u64::from(*r);
        let bytes =
            block.saturating_mul(1u64.checked_shl((*log_n).into())?) + block.saturating_mul((*p).into());
        u32::try_from(bytes.div_ceil(1024)).ok()
    }

    /// Whether this is what Django 5.2 writes for new passwords: `pbkdf2_sha256` with
    /// `iterations` iterations. Anything else, Django re-hashes on a correct login.
    pub fn is_preferred(&self, iterations: u32) -> bool {
        matches!(
            self,
            Self::Pbkdf2 { digest: Pbkdf2Digest::Sha256, iterations: i, salt, .. }
                if *i == iterations && salt.len() >= SALT_LEN
        )
    }

    /// Whether `password` matches, computed here and now (slow by design: call it off
    /// the async runtime, as [`PasswordHasher`](crate::PasswordHasher) does). The
    /// comparison is constant-time. An unusable password never matches. A hash over
    /// the caps ([`within_limits`](Self::within_limits)) is an error, not computed.
    ///
    /// `argon2` hashes are verified by the `argon2` crate; `PasswordHasher` verifies
    /// them in its pooled working memory instead.
    pub fn verify(&self, password: &[u8]) -> Result<bool, MalformedDjangoHash> {
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
/// [`DJANGO_PBKDF2_ITERATIONS`]). Slow by design: call it off the async runtime.
pub fn make_pbkdf2_sha256(password: &str, iterations: u32) -> String {
    let salt = new_salt();
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut key);
    format!("pbkdf2_sha256${iterations}${salt}${}", STANDARD.encode(key))
}

/// A `pbkdf2_sha256` hash that no password matches (a random key), costing exactly
/// what verifying a real one of `iterations` costs: what unknown users are checked
/// against.
pub(crate) fn dummy_pbkdf2_sha256(iterations: u32) -> String {
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
    fn foreign_formats_are_not_django_and_broken_ones_are_malformed() {
        assert_eq!(
            DjangoHash::parse(
                "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$pcCMu9kmCy7Ix5MQrJhQdCf5fBRDe4dDbApDLaqGpMg"
            ),
            Ok(None)
        );
        assert_eq!(DjangoHash::parse("md5$salt$abc"), Ok(None));
        assert!(DjangoHash::parse("pbkdf2_sha256$x$salt$aGFzaA==").is_err());
        assert!(DjangoHash::parse("pbkdf2_sha256$0$salt$aGFzaA==").is_err());
        assert!(DjangoHash::parse("pbkdf2_sha256$10$salt").is_err());
        assert!(DjangoHash::parse("scrypt$1000$salt$8$1$aGFzaA==").is_err());
        assert!(DjangoHash::parse("bcrypt_sha256$nope").is_err());
        assert!(DjangoHash::parse("argon2$nope").is_err());
        assert_eq!(DjangoHash::parse("!abc"), Ok(Some(DjangoHash::Unusable)));
    }

    #[test]
    fn parameters_over_the_caps_parse_but_are_refused_and_never_computed() {
        let over = [
            ("pbkdf2_sha256$10000001$salt$aGFzaA==", "iterations"),
            ("pbkdf2_sha1$4294967295$salt$aGFzaA==", "iterations"),
            ("scrypt$1073741824$salt$8$1$aGFzaA==", "memory (bytes)"),
            ("scrypt$16384$salt$8$17$aGFzaA==", "parallelism"),
            ("scrypt$262144$salt$8$16$aGFzaA==", "work (bytes)"),
            (
                "bcrypt_sha256$$2b$31$M.axf4ayQ2PS7qdcZBP26.3OAjdmC3SbBTH8XSfWJa8EnSzuTnfne",
                "cost",
            ),
            (
                "argon2$argon2id$v=19$m=4294967295,t=2,p=8$c2FsdHNhbHQ$pcCMu9kmCy7Ix5MQrJhQdCf5fBRDe4dDbApDLaqGpMg",
                "memory (KiB)",
            ),
        ];
        for (stored, parameter) in over {
            let parsed = DjangoHash::parse(stored).unwrap().unwrap();
            assert_eq!(
                parsed.within_limits().unwrap_err().parameter,
                parameter,
                "{stored}"
            );
            assert!(parsed.verify(b"pw").is_err(), "{stored}");
        }
        let defaults = [
            "pbkdf2_sha256$1000000$salt$aGFzaA==",
            "scrypt$16384$salt$8$5$aGFzaA==",
            "bcrypt_sha256$$2b$12$M.axf4ayQ2PS7qdcZBP26.3OAjdmC3SbBTH8XSfWJa8EnSzuTnfne",
            "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdHNhbHQ$pcCMu9kmCy7Ix5MQrJhQdCf5fBRDe4dDbApDLaqGpMg",
        ];
        for stored in defaults {
            let parsed = DjangoHash::parse(stored).unwrap().unwrap();
            assert_eq!(parsed.within_limits(), Ok(()), "{stored}");
        }
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
