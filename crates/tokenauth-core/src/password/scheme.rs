//! Stored-hash formats other than argon2, given to a hasher explicitly
//! ([`PasswordScheme`]): core itself reads only argon2 PHC strings, so what a hasher
//! accepts never depends on which crates a build happens to enable.

use std::sync::Arc;

use super::limits::HashLimit;
use super::{Inner, PasswordHasher, harden};

/// A format of stored password hashes that a [`PasswordHasher`] verifies besides its
/// own argon2 PHC strings (such as Django's, in `tokenauth-django`), and may write new
/// hashes in ([`PasswordHasher::hashing_with`]).
///
/// The hasher does the rest: it runs every method but [`name`](Self::name) on a
/// hashing thread in its bounded queue, checks the caps before any work, checks a
/// stored hash nobody can use (malformed, over the caps) against the dummy, and pads a
/// wrong password against a hash cheaper than the dummy to the dummy's time. A match in
/// this scheme's format is reported outdated, so that it is re-hashed on login, unless
/// this scheme writes the hasher's new hashes and says it is
/// [current](Self::is_current).
///
/// # Example
///
/// An old application's salted SHA-256 hashes, read so that its users can log in once
/// and be re-hashed to argon2id:
///
/// ```
/// use sha2::{Digest as _, Sha256};
/// use subtle::ConstantTimeEq as _;
/// use tokenauth_core::{HashLimit, MalformedHash, PasswordHasher, PasswordScheme};
///
/// /// `sha256$<salt>$<lowercase hex of SHA-256(salt, password)>`.
/// struct LegacySha256;
///
/// const MALFORMED: MalformedHash = MalformedHash {
///     scheme: "legacy",
///     algorithm: "sha256",
///     reason: "expected sha256$salt$hex",
/// };
///
/// fn hex_digest(salt: &str, password: &[u8]) -> String {
///     let digest = Sha256::new().chain_update(salt).chain_update(password).finalize();
///     digest.iter().map(|byte| format!("{byte:02x}")).collect()
/// }
///
/// /// The salt and the hex digest of a stored hash.
/// fn parts(stored: &str) -> Option<(&str, &str)> {
///     let (salt, hex) = stored.strip_prefix("sha256$")?.split_once('$')?;
///     (hex.len() == 64).then_some((salt, hex))
/// }
///
/// impl PasswordScheme for LegacySha256 {
///     fn name(&self) -> &'static str {
///         "legacy-sha256"
///     }
///
///     fn recognise(&self, stored: &str) -> Result<bool, MalformedHash> {
///         if !stored.starts_with("sha256$") {
///             return Ok(false);
///         }
///         parts(stored).map(|_| true).ok_or(MALFORMED)
///     }
///
///     fn exceeded_limit(&self, _stored: &str) -> Option<HashLimit> {
///         None // one SHA-256 whatever is stored: nothing to cap
///     }
///
///     fn verify(&self, password: &[u8], stored: &str) -> Result<bool, MalformedHash> {
///         let (salt, expected) = parts(stored).ok_or(MALFORMED)?;
///         let computed = hex_digest(salt, password);
///         Ok(computed.as_bytes().ct_eq(expected.as_bytes()).into())
///     }
///
///     fn hash(&self, password: &str) -> String {
///         let salt = format!("{:032x}", rand::random::<u128>());
///         format!("sha256${salt}${}", hex_digest(&salt, password.as_bytes()))
///     }
///
///     fn dummy(&self) -> String {
///         let key = format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>());
///         format!("sha256${:032x}${key}", rand::random::<u128>())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth_core::PasswordError> {
/// let hasher = PasswordHasher::default().with_scheme(LegacySha256);
/// let stored = LegacySha256.hash("correct horse");
///
/// let checked = hasher.check("correct horse", Some(&stored)).await?;
/// assert!(checked.matches && checked.outdated, "re-hashed to argon2id on login");
/// assert!(!hasher.verify("wrong horse", Some(&stored)).await?);
/// let broken = hasher.check("correct horse", Some("sha256$salt$beef")).await;
/// assert!(broken.unwrap_err().is_malformed());
/// // The plain hasher does not read it.
/// assert!(PasswordHasher::default().check("correct horse", Some(&stored)).await.is_err());
/// # Ok(()) }
/// ```
pub trait PasswordScheme: Send + Sync + 'static {
    /// A short name, shown by the hasher's `Debug`. A hasher holds one scheme of each
    /// name: adding another of the same name replaces it.
    fn name(&self) -> &'static str;

    /// Whether `stored` is in one of this scheme's formats. `Ok(false)` leaves it to the
    /// hasher's next scheme, and finally to argon2; an error says it is this scheme's
    /// but cannot be read (nobody can log in with it until the password is reset).
    /// Asked of anything stored: it must be cheap, and compute no hash.
    fn recognise(&self, stored: &str) -> Result<bool, MalformedHash>;

    /// The argon2 PHC string a recognised `stored` wraps, if it does (Django's
    /// `argon2$argon2id$...`): the hasher then verifies that string as its own, in its
    /// pooled working memory, and neither [`memory_kib`](Self::memory_kib) nor
    /// [`verify`](Self::verify) is asked.
    fn argon2_phc<'a>(&self, stored: &'a str) -> Option<&'a str> {
        let _ = stored;
        None
    }

    /// The cap a recognised `stored` exceeds, if any: such a hash is never computed,
    /// and its check costs the dummy's work and fails. Bound every parameter a stored
    /// hash chooses (work, memory, parallelism), or a row of the database can hold a
    /// hashing slot for hours or abort the process on allocation.
    fn exceeded_limit(&self, stored: &str) -> Option<HashLimit>;

    /// The working memory, in KiB, that [`verify`](Self::verify) allocates for a
    /// recognised `stored` within the caps: the hasher counts it in its budget for
    /// large hashes ([`ARGON2_MAX_MEMORY_KIB`](super::limits::ARGON2_MAX_MEMORY_KIB)
    /// for all of them at once; a larger figure counts as the whole budget). Default:
    /// none worth counting.
    fn memory_kib(&self, stored: &str) -> u32 {
        let _ = stored;
        0
    }

    /// Whether `password` matches a recognised `stored` within the caps, computed here
    /// and now (slow by design: the hasher calls it on a hashing thread). Compare in
    /// constant time. A stored hash that can never match (Django's unusable `!...`) is
    /// `Ok(false)`.
    fn verify(&self, password: &[u8], stored: &str) -> Result<bool, MalformedHash>;

    /// Whether a matching `stored` is what [`hash`](Self::hash) would write now: asked
    /// only when this scheme writes the hasher's new hashes
    /// ([`PasswordHasher::hashing_with`]). Default: never, so every match is re-hashed.
    fn is_current(&self, stored: &str) -> bool {
        let _ = stored;
        false
    }

    /// Hashes a new password in this scheme's format, for a hasher that writes with it
    /// ([`PasswordHasher::hashing_with`]).
    fn hash(&self, password: &str) -> String;

    /// A hash in this scheme's format that no password matches (a random key), whose
    /// check costs what a usual stored hash of this scheme costs: what unknown users are
    /// checked against when the hasher writes with this scheme or pads to it
    /// ([`PasswordHasher::with_dummy_of`]). It must be recognised and within the caps.
    fn dummy(&self) -> String;
}

/// A stored hash that a [`PasswordScheme`] recognises but cannot read. Names the
/// format and what is wrong, never the hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed {scheme} {algorithm} hash: {reason}")]
pub struct MalformedHash {
    /// The scheme (`Django`).
    pub scheme: &'static str,
    /// The algorithm named by the hash (`pbkdf2_sha256`).
    pub algorithm: &'static str,
    /// What is wrong.
    pub reason: &'static str,
}

impl PasswordHasher {
    /// Also verifies the hashes `scheme` recognises (before argon2, in the order the
    /// schemes were added; one of the same [`name`](PasswordScheme::name) is replaced).
    /// A match is outdated, so that a login re-hashes it with this hasher's own format;
    /// new hashes and the dummy are unchanged.
    pub fn with_scheme(self, scheme: impl PasswordScheme) -> Self {
        self.rebuild(|inner| {
            inner.add_scheme(Arc::new(scheme));
        })
    }

    /// Writes new hashes with `scheme` instead of argon2id (and verifies its format):
    /// for a database another application reads, such as Django's. A match in this
    /// format is outdated unless the scheme says it is
    /// [current](PasswordScheme::is_current); argon2 hashes and other schemes' always
    /// are. Unknown users are checked against the scheme's
    /// [dummy](PasswordScheme::dummy), timed on its first run.
    pub fn hashing_with(self, scheme: impl PasswordScheme) -> Self {
        self.rebuild(|inner| {
            let writer = inner.add_scheme(Arc::new(scheme));
            inner.replace_dummy(writer);
            inner.writer = Some(writer);
        })
    }

    /// Checks unknown users (and hashes nobody can use) against `scheme`'s
    /// [dummy](PasswordScheme::dummy), and so pads every failed login to its time, and
    /// verifies `scheme`'s format: for a directory holding users whose stored hashes
    /// in that format cost more than the hasher's own dummy. Without it such a user
    /// takes longer to refuse than an unknown one: a username oracle. New hashes are
    /// unchanged.
    pub fn with_dummy_of(self, scheme: impl PasswordScheme) -> Self {
        self.rebuild(|inner| {
            let index = inner.add_scheme(Arc::new(scheme));
            inner.replace_dummy(index);
        })
    }
}

impl Inner {
    /// Adds `scheme`, or replaces the one of its name; returns its index.
    fn add_scheme(&mut self, scheme: Arc<dyn PasswordScheme>) -> usize {
        let same_name = self.schemes.iter().position(|s| s.name() == scheme.name());
        match same_name {
            Some(index) => {
                self.schemes[index] = scheme;
                index
            }
            None => {
                self.schemes.push(scheme);
                self.schemes.len() - 1
            }
        }
    }

    /// Makes the dummy the scheme's at `index`, not yet timed (its first use times it).
    fn replace_dummy(&mut self, index: usize) {
        self.dummy = self.schemes[index].dummy();
        self.dummy_times = harden::DummyTimes::default();
    }
}

#[cfg(test)]
pub(super) mod tests {
    use ::argon2::Params;

    use super::*;
    use crate::{PasswordError, Verification};

    /// `<name>$<version>$<password>` (version 2 current, a password `!` never matches,
    /// `<name>$9$...` over a cap): no work at all, for tests of the plumbing.
    pub(crate) struct Toy(pub(crate) &'static str);

    impl PasswordScheme for Toy {
        fn name(&self) -> &'static str {
            self.0
        }

        fn recognise(&self, stored: &str) -> Result<bool, MalformedHash> {
            let Some(rest) = stored.strip_prefix(self.0).and_then(|s| s.strip_prefix('$')) else {
                return Ok(false);
            };
            let malformed = MalformedHash {
                scheme: "toy",
                algorithm: self.0,
                reason: "expected version$password",
            };
            let version = rest.split_once('$').and_then(|(v, _)| v.parse::<u8>().ok());
            version.map(|_| true).ok_or(malformed)
        }

        fn exceeded_limit(&self, stored: &str) -> Option<HashLimit> {
            let version: u64 = stored.split('$').nth(1)?.parse().ok()?;
            crate::password_limits::at_most("toy", "version", version, 8).err()
        }

        fn verify(&self, password: &[u8], stored: &str) -> Result<bool, MalformedHash> {
            let expected = stored.splitn(3, '$').nth(2).unwrap_or("!");
            Ok(expected != "!" && expected.as_bytes() == password)
        }

        fn is_current(&self, stored: &str) -> bool {
            stored.split('$').nth(1) == Some("2")
        }

        fn hash(&self, password: &str) -> String {
            format!("{}$2${password}", self.0)
        }

        fn dummy(&self) -> String {
            format!("{}$2$!", self.0)
        }
    }

    fn cheap() -> PasswordHasher {
        PasswordHasher::with_params(Params::new(8, 1, 1, None).unwrap())
    }

    fn checked(matches: bool, outdated: bool) -> Verification {
        Verification { matches, outdated }
    }

    #[tokio::test]
    async fn a_scheme_is_read_as_outdated_and_only_by_a_hasher_given_it() {
        let hasher = cheap().with_scheme(Toy("toy"));
        let own = hasher.hash("pw").await.unwrap();
        assert!(own.starts_with("$argon2id$"), "{own}");
        for stored in ["toy$1$pw", "toy$2$pw"] {
            assert_eq!(
                hasher.check("pw", Some(stored)).await.unwrap(),
                checked(true, true)
            );
            assert_eq!(
                hasher.check("pW", Some(stored)).await.unwrap(),
                checked(false, false)
            );
            assert!(
                cheap()
                    .check("pw", Some(stored))
                    .await
                    .unwrap_err()
                    .is_malformed()
            );
        }
        let error = hasher.check("pw", Some("toy$x")).await.unwrap_err();
        assert!(matches!(error, PasswordError::MalformedForeign(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            "malformed toy toy hash: expected version$password"
        );
        let over = hasher.check("pw", Some("toy$9$pw")).await.unwrap_err();
        assert!(matches!(over, PasswordError::OverLimit(_)), "{over:?}");
        assert_eq!(hasher.exceeded_limit("toy$9$pw").unwrap().parameter, "version");
        assert_eq!(cheap().exceeded_limit("toy$9$pw"), None);
        assert_eq!(hasher.dummy_verifications(), 2, "the unusable ones ran the dummy");
    }

    #[tokio::test]
    async fn a_writing_scheme_makes_its_current_hashes_current_and_argon2_outdated() {
        let argon2 = cheap().hash("pw").await.unwrap();
        let hasher = cheap().with_scheme(Toy("old")).hashing_with(Toy("toy"));
        assert_eq!(hasher.hash("pw").await.unwrap(), "toy$2$pw");
        assert_eq!(
            hasher.check("pw", Some("toy$2$pw")).await.unwrap(),
            checked(true, false)
        );
        assert_eq!(
            hasher.check("pw", Some("toy$1$pw")).await.unwrap(),
            checked(true, true)
        );
        assert_eq!(
            hasher.check("pw", Some("old$2$pw")).await.unwrap(),
            checked(true, true)
        );
        assert_eq!(
            hasher.check("pw", Some(&argon2)).await.unwrap(),
            checked(true, true)
        );
        assert!(!hasher.verify("pw", None).await.unwrap());
        assert_eq!(hasher.dummy_verifications(), 1);
        let debug = format!("{hasher:?}");
        assert!(
            debug.contains(r#"writes: "toy", reads: ["old", "toy"]"#),
            "{debug}"
        );
    }

    #[tokio::test]
    async fn a_scheme_of_the_same_name_replaces_the_first_and_its_dummy_can_be_chosen() {
        let hasher = cheap().with_scheme(Toy("toy")).with_dummy_of(Toy("toy"));
        assert_eq!(hasher.inner.schemes.len(), 1);
        assert_eq!(hasher.inner.dummy, "toy$2$!");
        assert!(hasher.hash("pw").await.unwrap().starts_with("$argon2id$"));
    }
}
