//! The most work a stored Django hash may ask for, beside core's argon2 caps
//! ([`password_limits`](tokenauth_core::password_limits), which also cap Django's
//! `argon2`). Every parameter of a stored hash comes from the database: without a
//! bound, a row with PBKDF2 at `u32::MAX` iterations or bcrypt at cost 31 holds a
//! hashing slot for hours, and scrypt's memory aborts the process on allocation.
//!
//! Each cap is well above Django 5.2's and OWASP's defaults, and costs at most a few
//! seconds of one core (measured on a 2-core test machine: Django's defaults take 0.2
//! to 0.35 s there, and each cap about ten times that or less). A hash over a cap is
//! unusable: its check costs the dummy's work and fails like a wrong password
//! ([`PasswordError::OverLimit`](tokenauth_core::PasswordError::OverLimit));
//! `import-django` imports such a user with an unusable password.
//!
//! | algorithm | parameter | cap | Django 5.2's default | OWASP |
//! | --- | --- | --- | --- | --- |
//! | PBKDF2 (SHA-256 or SHA-1) | iterations | 10,000,000 | 1,000,000 | 600,000 / 1,300,000 |
//! | scrypt | memory 128·N·r | 256 MiB | 16 MiB | 16 to 64 MiB |
//! | scrypt | parallelism `p` | 16 | 5 | 1 to 5 |
//! | scrypt | work 128·N·r·p | 1 GiB | 80 MiB | — |
//! | bcrypt | cost | 14 | 12 | 10 |

use argon2::Params;
use tokenauth_core::HashLimit;
use tokenauth_core::password_limits::{self as core_limits, at_most};

use super::DjangoHash;

/// PBKDF2's cap on iterations: 10,000,000, ten times Django 5.2's 1,000,000.
pub const PBKDF2_MAX_ITERATIONS: u32 = 10_000_000;
/// scrypt's memory cap (128·N·r bytes): 256 MiB (Django: 16 MiB).
pub const SCRYPT_MAX_MEMORY: u64 = 256 * 1024 * 1024;
/// scrypt's cap on parallelism (`p`): 16 (Django: 5).
pub const SCRYPT_MAX_PARALLELISM: u32 = 16;
/// scrypt's cap on work (128·N·r·p bytes mixed): 1 GiB (Django: 80 MiB).
pub const SCRYPT_MAX_WORK: u64 = 1024 * 1024 * 1024;
/// bcrypt's cap on cost: 14 (Django: 12; each step doubles the work).
pub const BCRYPT_MAX_COST: u32 = 14;

impl DjangoHash<'_> {
    /// Whether the hash's parameters are within tokenauth's caps (these, and core's
    /// for `argon2`): else it is never computed, and the user cannot log in until the
    /// password is reset. Parameters that do not parse are left to the verification,
    /// which finds the hash malformed.
    pub fn within_limits(&self) -> Result<(), HashLimit> {
        match self {
            Self::Pbkdf2 { iterations, .. } => at_most(
                self.algorithm(),
                "iterations",
                (*iterations).into(),
                PBKDF2_MAX_ITERATIONS.into(),
            ),
            Self::Argon2 { phc } => {
                let params = argon2::password_hash::PasswordHash::new(phc)
                    .ok()
                    .and_then(|parsed| Params::try_from(&parsed).ok());
                params.map_or(Ok(()), |params| core_limits::argon2(&params))
            }
            Self::BcryptSha256 { bcrypt } => {
                // `$2b$12$...`
                let cost = bcrypt.split('$').nth(2).and_then(|c| c.parse::<u64>().ok());
                cost.map_or(Ok(()), |cost| {
                    at_most("bcrypt", "cost", cost, BCRYPT_MAX_COST.into())
                })
            }
            Self::Scrypt { log_n, r, p, .. } => {
                let n = 1u64.checked_shl((*log_n).into()).unwrap_or(u64::MAX);
                let memory = 128u64.saturating_mul(n).saturating_mul((*r).into());
                at_most("scrypt", "memory (bytes)", memory, SCRYPT_MAX_MEMORY)?;
                let p = u64::from(*p);
                at_most("scrypt", "parallelism", p, SCRYPT_MAX_PARALLELISM.into())?;
                at_most(
                    "scrypt",
                    "work (bytes)",
                    memory.saturating_mul(p),
                    SCRYPT_MAX_WORK,
                )
            }
            Self::Unusable => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
