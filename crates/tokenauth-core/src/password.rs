//! Argon2id password hashing, off the async runtime and bounded.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Password hashing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The stored hash is not a PHC string this hasher understands.
    #[error("stored password hash is malformed: {0}")]
    Malformed(argon2::password_hash::Error),
    /// Hashing itself failed.
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    /// The blocking task running the hash was cancelled or panicked.
    #[error("password hashing task failed")]
    Task(#[from] tokio::task::JoinError),
}

/// The outcome of [`PasswordHasher::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// The password matches the stored hash.
    pub matches: bool,
    /// It matches, but the hash was made with other parameters (or another algorithm
    /// or version) than the hasher's: hash the password again and store that.
    pub outdated: bool,
}

/// Hashes and verifies passwords with argon2id, producing PHC strings
/// (`$argon2id$v=19$m=19456,t=2,p=1$...`).
///
/// Each hash runs on Tokio's blocking pool, and at most one per CPU runs at a time: a
/// burst of logins queues instead of allocating 19 MiB per request without bound.
/// Verifying against no hash (an unknown user) checks a dummy hash with the same
/// parameters, so it takes as long as a wrong password.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of nothing in particular, verified for unknown users.
    dummy: String,
    /// Verifications run so far.
    verifications: AtomicU64,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .finish_non_exhaustive()
    }
}

impl Default for PasswordHasher {
    /// OWASP's recommended argon2id parameters: 19 MiB of memory, 2 iterations, 1 lane.
    fn default() -> Self {
        let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
        Self::with_params(params)
    }
}

impl PasswordHasher {
    /// A hasher with the default (OWASP) parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// A hasher with other argon2id parameters for new hashes. Existing hashes verify
    /// with the parameters they were made with.
    ///
    /// Makes one hash up front (the dummy for unknown users), so that even the first
    /// login of an unknown user costs exactly one verification.
    pub fn with_params(params: Params) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let salt = SaltString::generate(&mut OsRng);
        let dummy = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"tokenauth dummy password", &salt)
            .expect("argon2id hashing with valid parameters and a fresh salt cannot fail")
            .to_string();
        Self {
            inner: Arc::new(Inner {
                params,
                permits: Arc::new(Semaphore::new(cpus)),
                dummy,
                verifications: AtomicU64::new(0),
            }),
        }
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_owned();
        self.run(move |inner| inner.hash(&password)).await
    }

    /// Whether `password` matches `hash`. With `None` (no such user) it verifies against
    /// a dummy hash, taking the same time, and returns `false`.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, PasswordError> {
        Ok(self.check(password, hash).await?.matches)
    }

    /// Verifies `password` against `hash` (a dummy hash when `None`, taking the same
    /// time and never matching), and tells whether a matching hash should be replaced
    /// because it was made with other parameters than this hasher's.
    pub async fn check(&self, password: &str, hash: Option<&str>) -> Result<Verification, PasswordError> {
        let password = password.to_owned();
        let hash = hash.map(str::to_owned);
        self.run(move |inner| {
            let (stored, real) = match &hash {
                Some(h) => (h.as_str(), true),
                None => (inner.dummy.as_str(), false),
            };
            inner.verifications.fetch_add(1, Ordering::Relaxed);
            let parsed = PasswordHash::new(stored).map_err(PasswordError::Malformed)?;
            let matches = real
                && Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok();
            Ok(Verification {
                matches,
                outdated: matches && inner.is_outdated(&parsed),
            })
        })
        .await
    }

    /// How many verifications this hasher (and its clones) has run, against real and
    /// dummy hashes alike: a figure for metrics, and for tests that check that every
    /// login costs the same work.
    pub fn verifications(&self) -> u64 {
        self.inner.verifications.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Inner) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let inner = Arc::clone(&self.inner);
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        // The permit moves into the task, so it is held until the hash is done even if
        // the caller stops waiting (a client that disconnects mid-login).
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job(&inner)
        })
        .await?
    }
}

impl Inner {
    /// Whether `hash` was made otherwise than this hasher would make it now.
    fn is_outdated(&self, hash: &PasswordHash<'_>) -> bool {
        let current = Params::try_from(hash).ok();
        hash.algorithm != Algorithm::Argon2id.ident()
            || hash.version != Some(Version::V0x13.into())
            || current.is_none_or(|p| {
                (p.m_cost(), p.t_cost(), p.p_cost())
                    != (self.params.m_cost(), self.params.t_cost(), self.params.p_cost())
            })
    }

    fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(PasswordError::Hash)
    }
}
