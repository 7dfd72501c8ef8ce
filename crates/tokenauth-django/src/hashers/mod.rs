//! Django's password hashes: reading and verifying every format of Django's five
//! default `PASSWORD_HASHERS`, and making new `pbkdf2_sha256` ones, given to core's
//! [`PasswordHasher`] as a [`PasswordScheme`] ([`DjangoHashers`]).
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
//! tokenauth's caps ([`limits`]: PBKDF2 iterations, scrypt's memory, work and
//! parallelism, bcrypt's cost; and core's for argon2's memory, passes and lanes) parses,
//! but [`DjangoHash::within_limits`] refuses it and it is never computed. Salts are used
//! as their ASCII bytes, as Django does; hashes are standard base64 with padding
//! (argon2's PHC part without).
//!
//! The types here only parse and compute; a [`PasswordHasher`] runs the verification
//! off the async runtime, in its bounded queue, with at least the dummy's work for
//! unknown users and failed checks. Core's plain hasher reads none of these formats;
//! two hashers here do:
//!
//! - [`django_hasher`], for a database Django shares ([`django_auth`](crate::django_auth)):
//!   new hashes are Django's own `pbkdf2_sha256`;
//! - [`upgrading_hasher`], for users imported from Django into tokenauth's own schema:
//!   new hashes are argon2id, and a Django hash is re-hashed on the first successful
//!   login.
//!
//! ```
//! use tokenauth_django::hashers::{DjangoHash, make_pbkdf2_sha256, upgrading_hasher};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tokenauth_core::PasswordError> {
//! let stored = make_pbkdf2_sha256("correct horse", 1_000);
//! assert!(stored.starts_with("pbkdf2_sha256$1000$"));
//! let hash = DjangoHash::parse(&stored).unwrap().unwrap();
//! assert!(hash.verify(b"correct horse").unwrap());
//! assert!(!hash.verify(b"Correct horse").unwrap());
//!
//! let checked = upgrading_hasher().check("correct horse", Some(&stored)).await?;
//! assert!(checked.matches && checked.outdated, "re-hashed to argon2id on login");
//! # Ok(()) }
//! ```

mod compute;
pub mod limits;
mod parse;

use tokenauth_core::{HashLimit, MalformedHash, PasswordHasher, PasswordScheme};

pub use compute::make_pbkdf2_sha256;
pub use parse::{DjangoHash, Pbkdf2Digest};

/// The iterations Django 5.2 uses for new `pbkdf2_sha256` hashes.
pub const DJANGO_PBKDF2_ITERATIONS: u32 = 1_000_000;

/// The hasher for a database Django shares: it verifies every Django hash and writes
/// new ones as Django 5.2 does, `pbkdf2_sha256` with [`DJANGO_PBKDF2_ITERATIONS`], so
/// that Django keeps reading them. Like Django, a correct password stored in another
/// format or with another iteration count is reported outdated (and re-hashed on
/// login). Unknown users are checked against a `pbkdf2_sha256` hash of the same
/// iterations: as long as a login with Django's default hasher (about 0.2 s of CPU).
///
/// The queue and its bounds are the same as the argon2id hasher's.
pub fn django_hasher() -> PasswordHasher {
    PasswordHasher::default().hashing_with(DjangoHashers::new())
}

/// The argon2id hasher that also verifies every Django hash, as outdated, so that a
/// user imported from Django is re-hashed to argon2id on the first successful login;
/// an unusable Django password (`!...`) never matches, after the same work as a wrong
/// one. Once such users are stored, pad failed logins to a Django hash's cost with
/// [`with_dummy_of`](PasswordHasher::with_dummy_of)`(DjangoHashers::new())`.
pub fn upgrading_hasher() -> PasswordHasher {
    PasswordHasher::default().with_scheme(DjangoHashers::new())
}

/// Django's five default hashers as a [`PasswordScheme`]: it recognises their formats
/// ([`DjangoHash`]), caps them ([`limits`]), and writes `pbkdf2_sha256` with
/// [`iterations`](Self::iterations), the only format it calls current (Django's
/// `PBKDF2PasswordHasher.iterations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DjangoHashers {
    iterations: u32,
}

impl Default for DjangoHashers {
    fn default() -> Self {
        Self::new()
    }
}

impl DjangoHashers {
    /// Django 5.2's: `pbkdf2_sha256` with [`DJANGO_PBKDF2_ITERATIONS`].
    pub fn new() -> Self {
        Self::with_iterations(DJANGO_PBKDF2_ITERATIONS)
    }

    /// Another iteration count for new hashes: a `pbkdf2_sha256` hash with any other
    /// count is outdated. Clamped to 1..=[`PBKDF2_MAX_ITERATIONS`](limits::PBKDF2_MAX_ITERATIONS).
    pub fn with_iterations(iterations: u32) -> Self {
        Self {
            iterations: iterations.clamp(1, limits::PBKDF2_MAX_ITERATIONS),
        }
    }

    /// The iteration count of new hashes (and of the dummy).
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl PasswordScheme for DjangoHashers {
    fn name(&self) -> &'static str {
        "django"
    }

    fn recognise(&self, stored: &str) -> Result<bool, MalformedHash> {
        Ok(DjangoHash::parse(stored)?.is_some())
    }

    fn argon2_phc<'a>(&self, stored: &'a str) -> Option<&'a str> {
        match DjangoHash::parse(stored) {
            Ok(Some(DjangoHash::Argon2 { phc })) => Some(phc),
            _ => None,
        }
    }

    fn exceeded_limit(&self, stored: &str) -> Option<HashLimit> {
        DjangoHash::parse(stored).ok()??.within_limits().err()
    }

    fn memory_kib(&self, stored: &str) -> u32 {
        let parsed = DjangoHash::parse(stored).ok().flatten();
        parsed.and_then(|hash| hash.scrypt_memory_kib()).unwrap_or(0)
    }

    fn verify(&self, password: &[u8], stored: &str) -> Result<bool, MalformedHash> {
        match DjangoHash::parse(stored)? {
            Some(hash) => hash.verify(password),
            None => Err(parse::malformed("unknown", "not a Django hash")),
        }
    }

    fn is_current(&self, stored: &str) -> bool {
        let parsed = DjangoHash::parse(stored).ok().flatten();
        parsed.is_some_and(|hash| hash.is_preferred(self.iterations))
    }

    fn hash(&self, password: &str) -> String {
        make_pbkdf2_sha256(password, self.iterations)
    }

    fn dummy(&self) -> String {
        compute::dummy_pbkdf2_sha256(self.iterations)
    }
}
