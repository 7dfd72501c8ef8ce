//! The most work a stored hash may ask for. Every parameter of a stored hash comes from
//! the database: without a bound, a row claiming 4 TiB of argon2 memory aborts the
//! process on allocation, and one with PBKDF2 at `u32::MAX` iterations or bcrypt at
//! cost 31 holds a hashing slot for hours.
//!
//! Each cap is well above what Django 5.2 and OWASP use by default, and costs at most a
//! few seconds of one core (measured on a 2-core test machine: Django's defaults take
//! 0.2 to 0.35 s there, and each cap about ten times that or less). A hash over a cap is
//! unusable: its check costs the dummy's work and fails like a wrong password
//! ([`PasswordError::OverLimit`](crate::PasswordError::OverLimit)); `tokenauth import`
//! refuses such rows and `import-django` imports them with an unusable password.
//!
//! | algorithm | parameter | cap | Django 5.2's default | OWASP |
//! | --- | --- | --- | --- | --- |
//! | argon2 | memory `m` | 256 MiB | 100 MiB | 19 to 46 MiB |
//! | argon2 | passes `t` | 10 | 2 | 1 to 5 |
//! | argon2 | lanes `p` | 16 | 8 | 1 |
//! | PBKDF2 (SHA-256 or SHA-1) | iterations | 10,000,000 | 1,000,000 | 600,000 / 1,300,000 |
//! | scrypt | memory 128·N·r | 256 MiB | 16 MiB | 16 to 64 MiB |
//! | scrypt | parallelism `p` | 16 | 5 | 1 to 5 |
//! | scrypt | work 128·N·r·p | 1 GiB | 80 MiB | — |
//! | bcrypt | cost | 14 | 12 | 10 |

use argon2::Params;

/// argon2's memory cap, in KiB: 256 MiB (Django's default: 100 MiB). Also the memory
/// budget of the hashes larger than the hasher's own, all together.
pub const ARGON2_MAX_MEMORY_KIB: u32 = 256 * 1024;
/// argon2's cap on passes (`t`): 10 (Django: 2; OWASP: 1 to 5).
pub const ARGON2_MAX_PASSES: u32 = 10;
/// argon2's cap on lanes (`p`): 16 (Django: 8). The lanes are computed one after
/// another here, so they cost time, not threads.
pub const ARGON2_MAX_LANES: u32 = 16;
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

/// A stored hash asks for more than a cap allows. Names the parameter and its value,
/// never the hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stored {algorithm} hash exceeds the limit on {parameter}: {value} > {max}")]
pub struct HashLimit {
    /// The algorithm (`argon2`, `pbkdf2`, `scrypt`, `bcrypt`).
    pub algorithm: &'static str,
    /// The parameter over its cap.
    pub parameter: &'static str,
    /// Its value in the stored hash.
    pub value: u64,
    /// The cap.
    pub max: u64,
}

/// `Err` naming `parameter` if `value` is over `max`.
pub(crate) fn at_most(
    algorithm: &'static str,
    parameter: &'static str,
    value: u64,
    max: u64,
) -> Result<(), HashLimit> {
    if value <= max {
        return Ok(());
    }
    Err(HashLimit {
        algorithm,
        parameter,
        value,
        max,
    })
}

/// argon2's parameters within the caps.
pub(crate) fn argon2(params: &Params) -> Result<(), HashLimit> {
    let cap = |parameter, value: u32, max: u32| at_most("argon2", parameter, value.into(), max.into());
    cap("memory (KiB)", params.m_cost(), ARGON2_MAX_MEMORY_KIB)?;
    cap("passes", params.t_cost(), ARGON2_MAX_PASSES)?;
    cap("lanes", params.p_cost(), ARGON2_MAX_LANES)
}

/// A Django hash's parameters within the caps. Parameters that do not parse are left
/// to the verification, which finds the hash malformed.
#[cfg(feature = "django-hashers")]
pub(crate) fn django(hash: &crate::django::DjangoHash<'_>) -> Result<(), HashLimit> {
    use crate::django::DjangoHash;
    match hash {
        DjangoHash::Pbkdf2 { iterations, .. } => at_most(
            hash.algorithm(),
            "iterations",
            (*iterations).into(),
            PBKDF2_MAX_ITERATIONS.into(),
        ),
        DjangoHash::Argon2 { phc } => {
            let params = argon2::password_hash::PasswordHash::new(phc)
                .ok()
                .and_then(|parsed| Params::try_from(&parsed).ok());
            params.map_or(Ok(()), |params| self::argon2(&params))
        }
        DjangoHash::BcryptSha256 { bcrypt } => {
            // `$2b$12$...`
            let cost = bcrypt.split('$').nth(2).and_then(|c| c.parse::<u64>().ok());
            cost.map_or(Ok(()), |cost| {
                at_most("bcrypt", "cost", cost, BCRYPT_MAX_COST.into())
            })
        }
        DjangoHash::Scrypt { log_n, r, p, .. } => {
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
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn djangos_argon2_default_is_within_and_4_tib_is_not() {
        assert_eq!(argon2(&Params::new(102_400, 2, 8, None).unwrap()), Ok(()));
        let over = argon2(&Params::new(u32::MAX, 1, 1, None).unwrap()).unwrap_err();
        assert_eq!(over.parameter, "memory (KiB)");
        assert_eq!(
            over.to_string(),
            "stored argon2 hash exceeds the limit on memory (KiB): 4294967295 > 262144"
        );
        assert!(argon2(&Params::new(8, 11, 1, None).unwrap()).is_err());
        assert!(argon2(&Params::new(256, 1, 17, None).unwrap()).is_err());
    }
}
