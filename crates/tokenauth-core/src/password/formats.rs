//! Which format a stored hash is (one of the hasher's schemes, else an argon2 PHC
//! string), checking a password against it, and hashing new passwords.

use ::argon2::password_hash::rand_core::OsRng;
use ::argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use ::argon2::{Algorithm, Argon2, Version};

use super::{Inner, PasswordError, PasswordScheme, Verification, argon2, limits};

/// The format of a stored hash.
pub(super) enum Format<'a> {
    /// One of the hasher's schemes recognises it.
    Scheme(&'a dyn PasswordScheme),
    /// None does: an argon2 PHC string, or malformed.
    Argon2,
}

impl Inner {
    /// Which format `stored` is: the first scheme that recognises it, else argon2. A
    /// scheme that recognises it but cannot read it makes it malformed.
    pub(super) fn format(&self, stored: &str) -> Result<Format<'_>, PasswordError> {
        for scheme in &self.schemes {
            if scheme
                .recognise(stored)
                .map_err(PasswordError::MalformedForeign)?
            {
                return Ok(Format::Scheme(scheme.as_ref()));
            }
        }
        Ok(Format::Argon2)
    }

    /// Whether `scheme` writes this hasher's new hashes.
    fn writes_with(&self, scheme: &dyn PasswordScheme) -> bool {
        self.writer
            .is_some_and(|i| self.schemes[i].name() == scheme.name())
    }

    /// Verifies `password` against the stored hash, whatever its format, and tells
    /// whether a match should be re-hashed.
    pub(super) fn check(&self, password: &[u8], stored: &str) -> Result<Verification, PasswordError> {
        let Format::Scheme(scheme) = self.format(stored)? else {
            let parsed = PasswordHash::new(stored).map_err(PasswordError::Malformed)?;
            let matches = self.verify(password, &parsed)?;
            let outdated = self.writer.is_some() || self.is_outdated(&parsed);
            return Ok(Verification {
                matches,
                outdated: matches && outdated,
            });
        };
        if let Some(limit) = scheme.exceeded_limit(stored) {
            return Err(PasswordError::OverLimit(limit));
        }
        let matches = match scheme.argon2_phc(stored) {
            // In pooled memory, like the hasher's own argon2 hashes.
            Some(phc) => self.verify(
                password,
                &PasswordHash::new(phc).map_err(PasswordError::Malformed)?,
            )?,
            // A hash that never matches is padded to the dummy's work by the caller.
            None => (scheme.verify(password, stored)).map_err(PasswordError::MalformedForeign)?,
        };
        let current = self.writes_with(scheme) && scheme.is_current(stored);
        Ok(Verification {
            matches,
            outdated: matches && !current,
        })
    }

    /// The KiB of the large-hash budget that checking `stored` takes: an argon2 hash's
    /// memory if over the hasher's own (which the pool holds), a scheme's own memory
    /// always (it allocates its own); nothing for a hash over the caps, never computed.
    pub(super) fn large_memory_kib(&self, stored: &str) -> u32 {
        let Ok(Format::Scheme(scheme)) = self.format(stored) else {
            return self.beyond_own(argon2::memory_kib(stored));
        };
        if scheme.exceeded_limit(stored).is_some() {
            return 0;
        }
        match scheme.argon2_phc(stored) {
            Some(phc) => self.beyond_own(argon2::memory_kib(phc)),
            None => scheme.memory_kib(stored).min(limits::ARGON2_MAX_MEMORY_KIB),
        }
    }

    fn beyond_own(&self, kib: Option<u32>) -> u32 {
        kib.filter(|kib| *kib > self.params.m_cost()).unwrap_or(0)
    }

    pub(super) fn hash(&self, password: &str) -> Result<String, PasswordError> {
        if let Some(writer) = self.writer {
            return Ok(self.schemes[writer].hash(password));
        }
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(PasswordError::Hash)
    }
}
