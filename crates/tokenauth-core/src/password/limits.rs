//! The most work a stored argon2 hash may ask for. Every parameter of a stored hash
//! comes from the database: without a bound, a row claiming 4 TiB of argon2 memory
//! aborts the process on allocation, and one asking for millions of passes holds a
//! hashing slot for hours.
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
//!
//! Other formats carry their own caps with their
//! [`PasswordScheme`](crate::PasswordScheme) (Django's PBKDF2, scrypt and bcrypt: in
//! `tokenauth-django`), built with [`at_most`]; an argon2 string a scheme wraps is
//! capped here.

use argon2::Params;

/// argon2's memory cap, in KiB: 256 MiB (Django's default: 100 MiB). Also the memory
/// budget of the hashes larger than the hasher's own, all together.
pub const ARGON2_MAX_MEMORY_KIB: u32 = 256 * 1024;
/// argon2's cap on passes (`t`): 10 (Django: 2; OWASP: 1 to 5).
pub const ARGON2_MAX_PASSES: u32 = 10;
/// argon2's cap on lanes (`p`): 16 (Django: 8). The lanes are computed one after
/// another here, so they cost time, not threads.
pub const ARGON2_MAX_LANES: u32 = 16;

/// A stored hash asks for more than a cap allows. Names the parameter and its value,
/// never the hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stored {algorithm} hash exceeds the limit on {parameter}: {value} > {max}")]
pub struct HashLimit {
    /// The algorithm (`argon2`, or a scheme's: `pbkdf2_sha256`, `scrypt`, `bcrypt`).
    pub algorithm: &'static str,
    /// The parameter over its cap.
    pub parameter: &'static str,
    /// Its value in the stored hash.
    pub value: u64,
    /// The cap.
    pub max: u64,
}

/// `Err` naming `parameter` if `value` is over `max`.
///
/// ```
/// use tokenauth_core::password_limits::at_most;
///
/// assert!(at_most("pbkdf2_sha256", "iterations", 1_000_000, 10_000_000).is_ok());
/// let over = at_most("pbkdf2_sha256", "iterations", 20_000_000, 10_000_000).unwrap_err();
/// assert_eq!(over.parameter, "iterations");
/// ```
pub fn at_most(
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
pub fn argon2(params: &Params) -> Result<(), HashLimit> {
    let cap = |parameter, value: u32, max: u32| at_most("argon2", parameter, value.into(), max.into());
    cap("memory (KiB)", params.m_cost(), ARGON2_MAX_MEMORY_KIB)?;
    cap("passes", params.t_cost(), ARGON2_MAX_PASSES)?;
    cap("lanes", params.p_cost(), ARGON2_MAX_LANES)
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
