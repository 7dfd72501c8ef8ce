//! Argon2id password hashing (or Django's PBKDF2, feature `django-hashers`), off the
//! async runtime and bounded.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{self, PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    /// The stored hash names a Django algorithm but cannot be read.
    #[cfg(feature = "django-hashers")]
    #[error(transparent)]
    MalformedDjango(crate::django::MalformedDjangoHash),
    /// The blocking task running the hash was cancelled or panicked.
    #[error("password hashing task failed")]
    Task(#[from] tokio::task::JoinError),
    /// The hashing queue is full, or this request waited in it for the longest wait
    /// allowed ([`PasswordHasher::with_queue`]): nothing was hashed. Try again later.
    #[error("password hashing is busy; try again in {} s", retry_after.as_secs())]
    Busy {
        /// A hint for the client: how long to wait before trying again.
        retry_after: Duration,
    },
}

impl PasswordError {
    /// Whether the stored hash could not be read: a user whose password nobody can
    /// match until it is reset (not a failure of the hasher).
    pub fn is_malformed(&self) -> bool {
        match self {
            Self::Malformed(_) => true,
            #[cfg(feature = "django-hashers")]
            Self::MalformedDjango(_) => true,
            _ => false,
        }
    }
}

/// The default bound on hashes waiting for a slot: 256. With argon2id at OWASP's
/// parameters (about 20 to 40 ms a hash) and one slot per core, a burst of 100
/// concurrent logins on 2 cores queues for at most about 2 s and all succeed.
pub const DEFAULT_HASH_QUEUE: usize = 256;

/// The default longest wait for a hashing slot: 5 seconds. A login that would wait
/// longer is refused at once ([`PasswordError::Busy`]), so a flood cannot make a real
/// user wait longer than this.
pub const DEFAULT_HASH_WAIT: Duration = Duration::from_secs(5);

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
/// With the feature `django-hashers` it also verifies Django's hashes
/// ([`django`](crate::django): `pbkdf2_sha256$...`, `pbkdf2_sha1$...`, `argon2$...`,
/// `bcrypt_sha256$...`, `scrypt$...`) and reports a match as outdated, so that a user
/// imported from Django is re-hashed to argon2id on the first successful login; an
/// unusable Django password (`!...`) never matches, after the same work as a wrong one.
/// [`PasswordHasher::django`] is the hasher for a live Django database: it writes
/// Django's own `pbkdf2_sha256` hashes instead.
///
/// Each hash runs on Tokio's blocking pool, and at most one per CPU runs at a time: a
/// burst of logins queues instead of allocating 19 MiB per request without bound.
/// Verifying against no hash (an unknown user) checks a dummy hash with the same
/// parameters, so it takes as long as a wrong password.
///
/// The queue is bounded in length and in waiting time ([`with_queue`](Self::with_queue),
/// default [`DEFAULT_HASH_QUEUE`] waiting and [`DEFAULT_HASH_WAIT`]): beyond either
/// bound a hash fails at once with [`PasswordError::Busy`] instead of waiting without
/// limit.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    /// What new hashes are.
    scheme: Scheme,
    permits: Arc<Semaphore>,
    /// How many hashes may run at once (the semaphore's permits).
    slots: usize,
    /// Hashes waiting for a slot now.
    waiting: AtomicUsize,
    /// The most hashes that may wait for a slot.
    max_waiting: usize,
    /// The longest a hash may wait for a slot.
    max_wait: Duration,
    /// A hash of nothing in particular, verified for unknown users.
    dummy: String,
    /// Verifications run so far.
    verifications: AtomicU64,
    /// Working memory for verifications, one buffer per slot at most, kept between
    /// them: allocating argon2's 19 MiB afresh for every login leaves the allocator's
    /// per-thread arenas holding several copies, and resident memory grows with each
    /// blocking thread that ever hashed.
    memory: Mutex<Vec<Vec<Block>>>,
}

/// What a hasher writes for new passwords, and so which stored hashes are current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// argon2id PHC strings with the hasher's parameters.
    Argon2id,
    /// Django's `pbkdf2_sha256` with this many iterations.
    #[cfg(feature = "django-hashers")]
    DjangoPbkdf2 { iterations: u32 },
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("scheme", &self.inner.scheme)
            .field("params", &self.inner.params)
            .field("slots", &self.inner.slots)
            .field("max_waiting", &self.inner.max_waiting)
            .field("max_wait", &self.inner.max_wait)
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
        let salt = SaltString::generate(&mut OsRng);
        let dummy = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"tokenauth dummy password", &salt)
            .expect("argon2id hashing with valid parameters and a fresh salt cannot fail")
            .to_string();
        Self::build(params, Scheme::Argon2id, dummy)
    }

    /// The hasher for a database Django shares: it verifies every Django hash
    /// ([`django`](crate::django)) and writes new ones as Django 5.2 does,
    /// `pbkdf2_sha256` with 1,000,000 iterations
    /// ([`DJANGO_PBKDF2_ITERATIONS`](crate::django::DJANGO_PBKDF2_ITERATIONS)), so that
    /// Django keeps reading them. Like Django, a correct password stored in another
    /// format or with another iteration count is reported outdated (and re-hashed on
    /// login). Unknown users are checked against a `pbkdf2_sha256` hash of the same
    /// iterations: as long as a login with Django's default hasher (about 0.2 s of CPU).
    ///
    /// The queue and its bounds are the same as the argon2id hasher's.
    #[cfg(feature = "django-hashers")]
    pub fn django() -> Self {
        Self::django_with_iterations(crate::django::DJANGO_PBKDF2_ITERATIONS)
    }

    /// [`django`](Self::django) with another iteration count for new hashes (Django's
    /// `PBKDF2PasswordHasher.iterations`): a hash with any other count is outdated.
    #[cfg(feature = "django-hashers")]
    pub fn django_with_iterations(iterations: u32) -> Self {
        let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
        let iterations = iterations.max(1);
        let dummy = crate::django::dummy_pbkdf2_sha256(iterations);
        Self::build(params, Scheme::DjangoPbkdf2 { iterations }, dummy)
    }

    fn build(params: Params, scheme: Scheme, dummy: String) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            inner: Arc::new(Inner {
                params,
                scheme,
                permits: Arc::new(Semaphore::new(cpus)),
                slots: cpus,
                waiting: AtomicUsize::new(0),
                max_waiting: DEFAULT_HASH_QUEUE,
                max_wait: DEFAULT_HASH_WAIT,
                dummy,
                verifications: AtomicU64::new(0),
                memory: Mutex::default(),
            }),
        }
    }

    /// Bounds the queue of hashes waiting for a slot (default [`DEFAULT_HASH_QUEUE`]
    /// and [`DEFAULT_HASH_WAIT`]): when `max_waiting` hashes wait already, or one has
    /// waited `max_wait`, it fails with [`PasswordError::Busy`] and hashes nothing.
    /// Clones made before this call keep their own queue.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenauth_core::PasswordHasher;
    ///
    /// let hasher = PasswordHasher::new().with_queue(64, Duration::from_secs(2));
    /// ```
    pub fn with_queue(self, max_waiting: usize, max_wait: Duration) -> Self {
        self.rebuild(|inner| {
            inner.max_waiting = max_waiting;
            inner.max_wait = max_wait;
        })
    }

    /// Sets how many hashes run at once (default: one per CPU; at least 1). Each
    /// holds the parameters' memory (19 MiB by default) while it runs.
    pub fn with_slots(self, slots: usize) -> Self {
        let slots = slots.max(1);
        self.rebuild(|inner| {
            inner.slots = slots;
            inner.permits = Arc::new(Semaphore::new(slots));
        })
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            params: self.inner.params.clone(),
            scheme: self.inner.scheme,
            permits: Arc::clone(&self.inner.permits),
            slots: self.inner.slots,
            waiting: AtomicUsize::new(0),
            max_waiting: self.inner.max_waiting,
            max_wait: self.inner.max_wait,
            dummy: self.inner.dummy.clone(),
            verifications: AtomicU64::new(self.inner.verifications.load(Ordering::Relaxed)),
            memory: Mutex::default(),
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Hashes a password into a PHC string (or, for a [`django`](Self::django) hasher,
    /// Django's `pbkdf2_sha256$...`).
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
            let verification = inner.check(password.as_bytes(), stored)?;
            let matches = verification.matches && real;
            Ok(Verification {
                matches,
                outdated: matches && verification.outdated,
            })
        })
        .await
    }

    /// Whether `hash` is a password hash this hasher can verify: an argon2 PHC string
    /// (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`, or argon2i/argon2d) with valid
    /// parameters, a salt and a hash. Imports check hashes made elsewhere with it, so
    /// that a user whose login could only fail is refused up front.
    ///
    /// ```
    /// use tokenauth_core::PasswordHasher;
    ///
    /// assert!(PasswordHasher::is_supported_hash(
    ///     "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$pcCMu9kmCy7Ix5MQrJhQdCf5fBRDe4dDbApDLaqGpMg"
    /// ));
    /// assert!(!PasswordHasher::is_supported_hash("pbkdf2_sha256$870000$salt$hash"));
    /// ```
    pub fn is_supported_hash(hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        Algorithm::try_from(parsed.algorithm).is_ok()
            && parsed.version.is_none_or(|v| Version::try_from(v).is_ok())
            && Params::try_from(&parsed).is_ok()
            && parsed.salt.is_some()
            && parsed.hash.is_some()
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
        let permit = self.inner.slot().await?;
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
    /// Verifies `password` against the stored hash, whatever its format, and tells
    /// whether a match should be re-hashed.
    fn check(&self, password: &[u8], stored: &str) -> Result<Verification, PasswordError> {
        #[cfg(feature = "django-hashers")]
        {
            use crate::django::DjangoHash;
            match DjangoHash::parse(stored).map_err(PasswordError::MalformedDjango)? {
                // The work of a wrong password, then no match.
                Some(DjangoHash::Unusable) => {
                    self.check(password, &self.dummy)?;
                    return Ok(Verification {
                        matches: false,
                        outdated: false,
                    });
                }
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

    /// Whether `password` matches `hash`, computed in pooled working memory and
    /// compared in constant time.
    fn verify(&self, password: &[u8], hash: &PasswordHash<'_>) -> Result<bool, PasswordError> {
        let malformed = PasswordError::Malformed;
        let algorithm = Algorithm::try_from(hash.algorithm).map_err(malformed)?;
        let version = hash
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|error| malformed(error.into()))?
            .unwrap_or_default();
        let params = Params::try_from(hash).map_err(malformed)?;
        let expected = hash.hash.ok_or(malformed(password_hash::Error::PhcStringField))?;
        let salt = hash.salt.ok_or(malformed(password_hash::Error::PhcStringField))?;
        let mut salt_bytes = [0u8; password_hash::Salt::MAX_LENGTH];
        let salt = salt.decode_b64(&mut salt_bytes).map_err(malformed)?;
        let mut output = vec![0u8; expected.len()];
        let mut memory = self.take_memory(params.block_count());
        let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password,
            salt,
            &mut output,
            &mut memory,
        );
        self.return_memory(memory);
        // A password argon2 refuses (too long, say) matches nothing.
        Ok(computed.is_ok() && bool::from(output.as_slice().ct_eq(expected.as_bytes())))
    }

    /// Working memory of at least `blocks` blocks: a pooled buffer, or a new one.
    fn take_memory(&self, blocks: usize) -> Vec<Block> {
        let pooled = self.memory.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut memory = pooled.unwrap_or_default();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        memory
    }

    /// Keeps `memory` for the next verification if it is the size this hasher's own
    /// hashes need; a larger one (an outdated hash) is freed.
    fn return_memory(&self, memory: Vec<Block>) {
        if memory.len() <= self.params.block_count() {
            let mut pool = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < self.slots {
                pool.push(memory);
            }
        }
    }

    /// A hashing slot, within the queue's bounds.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, PasswordError> {
        let permits = Arc::clone(&self.permits);
        // A free slot needs no place in the queue.
        if let Ok(permit) = Arc::clone(&permits).try_acquire_owned() {
            return Ok(permit);
        }
        let busy = PasswordError::Busy {
            retry_after: self.max_wait.max(Duration::from_secs(1)),
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy);
        }
        let _leave = Leave(&self.waiting);
        match tokio::time::timeout(self.max_wait, permits.acquire_owned()).await {
            Ok(permit) => Ok(permit.expect("the semaphore is never closed")),
            Err(_elapsed) => Err(busy),
        }
    }

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

/// Leaves the queue when dropped: after the wait, or when the waiting caller goes away.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hasher with cheap parameters, one slot, and `max_waiting` / `max_wait` bounds.
    fn hasher(max_waiting: usize, max_wait: Duration) -> PasswordHasher {
        PasswordHasher::with_params(Params::new(8, 1, 1, None).unwrap())
            .with_slots(1)
            .with_queue(max_waiting, max_wait)
    }

    /// Takes the only slot, as a long hash would.
    async fn occupy(hasher: &PasswordHasher) -> OwnedSemaphorePermit {
        Arc::clone(&hasher.inner.permits).acquire_owned().await.unwrap()
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_hashes_nothing() {
        let hasher = hasher(1, Duration::from_secs(3600));
        let slot = occupy(&hasher).await;
        let waiting = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.check("pw", None).await }
        });
        while hasher.inner.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        let refused = hasher.check("pw", None).await.unwrap_err();
        assert!(
            matches!(refused, PasswordError::Busy { retry_after } if retry_after == Duration::from_secs(3600)),
            "{refused:?}"
        );
        assert_eq!(hasher.verifications(), 0);
        drop(slot);
        let verification = waiting.await.unwrap().unwrap();
        assert!(!verification.matches);
        assert_eq!(hasher.verifications(), 1);
        assert_eq!(hasher.inner.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hash_that_waits_too_long_is_refused() {
        let hasher = hasher(10, Duration::from_secs(2));
        let _slot = occupy(&hasher).await;
        let started = tokio::time::Instant::now();
        let refused = hasher.hash("pw").await.unwrap_err();
        assert!(matches!(refused, PasswordError::Busy { .. }), "{refused:?}");
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(hasher.inner.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_free_slot_needs_no_place_in_the_queue() {
        let hasher = hasher(0, Duration::ZERO);
        assert!(hasher.check("pw", None).await.is_ok());
    }
}

#[cfg(test)]
mod verify_tests {
    use super::*;

    /// A PHC hash of `password` made by the argon2 crate's own (allocating) path.
    fn reference(password: &str, algorithm: Algorithm, version: Version, m_cost: u32) -> String {
        let params = Params::new(m_cost, 1, 1, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(algorithm, version, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    /// The pooled-memory verification agrees with the argon2 crate on every algorithm,
    /// version and cost, and keeps at most one buffer per slot, of its own size.
    #[tokio::test]
    async fn verification_in_pooled_memory_agrees_with_argon2() {
        let hasher = PasswordHasher::with_params(Params::new(64, 1, 1, None).unwrap()).with_slots(2);
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            for version in [Version::V0x13, Version::V0x10] {
                for m_cost in [32, 64, 256] {
                    let hash = reference("pw", algorithm, version, m_cost);
                    assert!(hasher.verify("pw", Some(&hash)).await.unwrap(), "{hash}");
                    assert!(!hasher.verify("pW", Some(&hash)).await.unwrap(), "{hash}");
                }
            }
        }
        let own = hasher.hash("pw").await.unwrap();
        assert!(hasher.verify("pw", Some(&own)).await.unwrap());
        let pool = hasher.inner.memory.lock().unwrap();
        assert!(pool.len() <= 2, "{} buffers kept", pool.len());
        assert!(
            pool.iter().all(|m| m.len() <= 64),
            "only buffers of the hasher's own size are kept"
        );
    }
}
