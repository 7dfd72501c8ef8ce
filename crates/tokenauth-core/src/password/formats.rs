//! Which format a stored hash is, and checking a password against it: argon2 PHC
//! strings, and with `django-hashers` Django's formats; hashing new passwords.

use ::argon2::password_hash::rand_core::OsRng;
use ::argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use ::argon2::{Algorithm, Argon2, Version};

use super::{Inner, PasswordError, Scheme, Verification, argon2};

impl Inner {
    /// Verifies `password` against the stored hash, whatever its format, and tells
    /// whether a match should be re-hashed.
    pub(super) fn check(&self, password: &[u8], stored: &str) -> Result<Verification, PasswordError> {
        #[cfg(feature = "django-hashers")]
        {
            use crate::django::DjangoHash;
            let django = DjangoHash::parse(stored).map_err(PasswordError::MalformedDjango)?;
            if let Some(hash) = &django {
                hash.within_limits().map_err(PasswordError::OverLimit)?;
            }
            match django {
                // No match: padded to the dummy's work by the caller, as a wrong password.
                Some(DjangoHash::Unusable) => return Ok(Verification::NONE),
                // In pooled memory, like tokenauth's own argon2 hashes.
                Some(DjangoHash::Argon2 { phc }) => {
                    let parsed = PasswordHash::new(phc).map_err(PasswordError::Malformed)?;
                    let matches = self.verify(password, &parsed)?;
                    return Ok(Verification {
                        matches,
                        outdated: matches,
                    });
                }
                Some(hash) => {
                    let matches = hash.verify(password).map_err(PasswordError::MalformedDjango)?;
                    let current = match self.scheme {
                        Scheme::DjangoPbkdf2 { iterations } => hash.is_preferred(iterations),
                        Scheme::Argon2id => false,
                    };
                    return Ok(Verification {
                        matches,
                        outdated: matches && !current,
                    });
                }
                None => {}
            }
        }
        let parsed = PasswordHash::new(stored).map_err(PasswordError::Malformed)?;
        let matches = self.verify(password, &parsed)?;
        let outdated = self.scheme != Scheme::Argon2id || self.is_outdated(&parsed);
        Ok(Verification {
            matches,
            outdated: matches && outdated,
        })
    }

    /// The KiB of the large-hash budget that checking `stored` takes: an argon2 hash's
    /// memory if over the hasher's own (which the pool holds), scrypt's always (it
    /// allocates its own); nothing for a hash over the caps, never computed.
    pub(super) fn large_memory_kib(&self, stored: &str) -> u32 {
        #[cfg(feature = "django-hashers")]
        if let Ok(Some(django)) = crate::django::DjangoHash::parse(stored) {
            return match django {
                crate::django::DjangoHash::Argon2 { phc } => self.beyond_own(argon2::memory_kib(phc)),
                other => other.scrypt_memory_kib().unwrap_or(0),
            };
        }
        self.beyond_own(argon2::memory_kib(stored))
    }

    fn beyond_own(&self, kib: Option<u32>) -> u32 {
        kib.filter(|kib| *kib > self.params.m_cost()).unwrap_or(0)
    }

    pub(super) fn hash(&self, password: &str) -> Result<String, PasswordError> {
        #[cfg(feature = "django-hashers")]
        if let Scheme::DjangoPbkdf2 { iterations } = self.scheme {
            return Ok(crate::django::make_pbkdf2_sha256(password, iterations));
        }
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(PasswordError::Hash)
    }
}
