//! Reading a stored Django hash: which algorithm, and its parameters.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokenauth_core::MalformedHash;

/// The length of the salts Django makes (22 alphanumerics: more than 128 bits).
pub(super) const SALT_LEN: usize = 22;

/// A stored Django hash that cannot be read (`scheme` is `Django`).
pub(super) fn malformed(algorithm: &'static str, reason: &'static str) -> MalformedHash {
    MalformedHash {
        scheme: "Django",
        algorithm,
        reason,
    }
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
    pub fn parse(stored: &'a str) -> Result<Option<Self>, MalformedHash> {
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

    fn pbkdf2(digest: Pbkdf2Digest, name: &'static str, rest: &'a str) -> Result<Self, MalformedHash> {
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

    fn scrypt(rest: &'a str) -> Result<Self, MalformedHash> {
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

    /// Whether this is what Django 5.2 writes for new passwords: `pbkdf2_sha256` with
    /// `iterations` iterations. Anything else, Django re-hashes on a correct login.
    pub fn is_preferred(&self, iterations: u32) -> bool {
        matches!(
            self,
            Self::Pbkdf2 { digest: Pbkdf2Digest::Sha256, iterations: i, salt, .. }
                if *i == iterations && salt.len() >= SALT_LEN
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
