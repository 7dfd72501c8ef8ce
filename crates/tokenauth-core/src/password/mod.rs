//! Argon2id password hashing, off the async runtime and bounded: in the hashes running
//! at once ([`queue`]), in what a stored hash may ask for ([`limits`]), and in what a
//! failed check reveals by its time ([`harden`]). Other stored formats (Django's) are
//! given to a hasher explicitly ([`scheme`]).

mod argon2;
mod formats;
mod harden;
pub mod limits;
mod queue;
mod scheme;
mod threads;

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::argon2::password_hash::rand_core::OsRng;
use ::argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use ::argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

pub use limits::HashLimit;
pub use scheme::{MalformedHash, PasswordScheme};

/// Password hashing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The stored hash is not a PHC string this hasher understands.
    #[error("stored password hash is malformed: {0}")]
    Malformed(::argon2::password_hash::Error),
    /// The stored hash asks for more work or memory than the caps allow
    /// ([`limits`]): nobody can log in with it until the password is reset.
    #[error(transparent)]
    OverLimit(HashLimit),
    /// Hashing itself failed.
    #[error("password hashing failed: {0}")]
    Hash(::argon2::password_hash::Error),
    /// The stored hash is in the format of one of the hasher's other schemes
    /// ([`PasswordScheme`]) but cannot be read.
    #[error(transparent)]
    MalformedForeign(MalformedHash),
    /// The hash panicked, or no hashing thread could be started.
    #[error("password hashing task failed")]
    Task,
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
        matches!(self, Self::Malformed(_) | Self::MalformedForeign(_))
    }

    /// Whether the stored hash cannot be used: malformed, or over the caps
    /// ([`OverLimit`](Self::OverLimit)). The check still cost the dummy's work; a
    /// login treats it as a wrong password.
    pub fn is_unusable(&self) -> bool {
        self.is_malformed() || matches!(self, Self::OverLimit(_))
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

/// The hashing queue of a [`PasswordHasher`] ([`PasswordHasher::queue_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Hashes waiting for a slot now.
    pub waiting: usize,
    /// Hashes that have waited for a slot (none waits while one is free), whether
    /// they got one or gave up.
    pub waits: u64,
    /// Their waits, added up.
    pub waited: Duration,
}

/// Hashes and verifies passwords with argon2id, producing PHC strings
/// (`$argon2id$v=19$m=19456,t=2,p=1$...`).
///
/// It reads only argon2 PHC strings, in every build. Other formats are given to it
/// explicitly ([`PasswordScheme`], [`with_scheme`](Self::with_scheme)): `tokenauth-django`
/// has Django's, read as outdated so that a user imported from Django is re-hashed to
/// argon2id on the first successful login, or written as Django's own `pbkdf2_sha256`
/// for a database Django shares ([`hashing_with`](Self::hashing_with)).
///
/// Each hash runs on a thread of the hasher's own at the lowest scheduling priority, so
/// that a login storm takes the CPU authentication leaves rather than half of it, and
/// at most one per CPU runs at a time: a burst of logins queues instead of allocating
/// 19 MiB per request without bound.
/// Each slot keeps its working memory (the hasher's own parameters) between hashes; a
/// stored hash that needs more (Django's argon2: 100 MiB) or a scheme's own memory is
/// counted in a budget of 256 MiB for all of them at once
/// ([`ARGON2_MAX_MEMORY_KIB`](limits::ARGON2_MAX_MEMORY_KIB)), and freed after. Working
/// memory is so at most slots × the hasher's own plus 256 MiB. A stored hash over the
/// caps ([`limits`]) is never computed.
///
/// Verifying against no hash (an unknown user) checks a dummy hash with the hasher's
/// own parameters (or a scheme's: [`with_dummy_of`](Self::with_dummy_of)); so does a stored hash
/// nobody can use (malformed, or over the caps); and a wrong password against a stored
/// hash cheaper than the dummy is padded with CPU work to the dummy's recent time
/// ([`check`](Self::check)). A failed check so costs about the dummy's time or more,
/// whatever is stored.
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
    /// The other formats read, tried in order before argon2.
    schemes: Vec<Arc<dyn PasswordScheme>>,
    /// The scheme (index in `schemes`) new hashes are written with; argon2id if none.
    writer: Option<usize>,
    permits: Arc<Semaphore>,
    /// How many hashes may run at once (the semaphore's permits).
    slots: usize,
    /// Hashes waiting for a slot now.
    waiting: AtomicUsize,
    /// The most hashes that may wait for a slot.
    max_waiting: usize,
    /// Hashes that waited for a slot, and their total wait (ns): [`QueueStats`].
    waits: AtomicU64,
    wait_nanos: AtomicU64,
    /// The longest a hash may wait for a slot.
    max_wait: Duration,
    /// A hash of nothing in particular, verified for unknown users.
    dummy: String,
    /// The dummy's last verification times.
    dummy_times: harden::DummyTimes,
    /// Verifications run so far.
    verifications: AtomicU64,
    /// Verifications of the dummy run so far.
    dummy_runs: AtomicU64,
    /// The budget of hashes needing more memory than the hasher's own, in KiB.
    large: Arc<Semaphore>,
    /// Working memory for verifications, one buffer per slot at most, kept between
    /// them: allocating argon2's 19 MiB afresh for every login leaves the allocator's
    /// per-thread arenas holding several copies, and resident memory grows with each
    /// thread that ever hashed.
    memory: Mutex<Vec<Vec<Block>>>,
    /// The threads hashes run on, one per slot, at the lowest priority.
    threads: threads::Threads,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let writes = self
            .inner
            .writer
            .map_or("argon2id", |i| self.inner.schemes[i].name());
        let reads: Vec<_> = self.inner.schemes.iter().map(|s| s.name()).collect();
        f.debug_struct("PasswordHasher")
            .field("writes", &writes)
            .field("reads", &reads)
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
    ///
    /// Parameters over the caps ([`limits`]) are allowed: stored hashes up to the
    /// hasher's own parameters verify whatever the caps.
    pub fn with_params(params: Params) -> Self {
        let salt = SaltString::generate(&mut OsRng);
        let started = Instant::now();
        let dummy = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"tokenauth dummy password", &salt)
            .expect("argon2id hashing with valid parameters and a fresh salt cannot fail")
            .to_string();
        let hasher = Self::build(params, dummy);
        // Hashing costs what verifying does: the first estimate of the dummy's time.
        hasher.inner.dummy_times.record(started.elapsed());
        hasher
    }

    fn build(params: Params, dummy: String) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            inner: Arc::new(Inner {
                params,
                schemes: Vec::new(),
                writer: None,
                permits: Arc::new(Semaphore::new(cpus)),
                slots: cpus,
                waiting: AtomicUsize::new(0),
                max_waiting: DEFAULT_HASH_QUEUE,
                waits: AtomicU64::new(0),
                wait_nanos: AtomicU64::new(0),
                max_wait: DEFAULT_HASH_WAIT,
                dummy,
                dummy_times: harden::DummyTimes::default(),
                verifications: AtomicU64::new(0),
                dummy_runs: AtomicU64::new(0),
                large: queue::large_budget(),
                memory: Mutex::default(),
                threads: threads::Threads::new(cpus),
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
            inner.threads = threads::Threads::new(slots);
        })
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            params: self.inner.params.clone(),
            schemes: self.inner.schemes.clone(),
            writer: self.inner.writer,
            permits: Arc::clone(&self.inner.permits),
            slots: self.inner.slots,
            waiting: AtomicUsize::new(0),
            max_waiting: self.inner.max_waiting,
            waits: AtomicU64::new(self.inner.waits.load(Ordering::Relaxed)),
            wait_nanos: AtomicU64::new(self.inner.wait_nanos.load(Ordering::Relaxed)),
            max_wait: self.inner.max_wait,
            dummy: self.inner.dummy.clone(),
            dummy_times: self.inner.dummy_times.clone(),
            verifications: AtomicU64::new(self.inner.verifications.load(Ordering::Relaxed)),
            dummy_runs: AtomicU64::new(self.inner.dummy_runs.load(Ordering::Relaxed)),
            large: Arc::clone(&self.inner.large),
            memory: Mutex::default(),
            threads: threads::Threads::new(self.inner.slots),
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The queue in front of the hashing slots, now and so far: for metrics.
    pub fn queue_stats(&self) -> QueueStats {
        let inner = &self.inner;
        QueueStats {
            waiting: inner.waiting.load(Ordering::Relaxed),
            waits: inner.waits.load(Ordering::Relaxed),
            waited: Duration::from_nanos(inner.wait_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Hashes a password into a PHC string (or, for a hasher
    /// [`hashing_with`](Self::hashing_with) a scheme, in that scheme's format).
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_owned();
        self.run(0, move |inner| inner.hash(&password)).await
    }

    /// Whether `password` matches `hash`. With `None` (no such user) it verifies against
    /// a dummy hash and returns `false`; see [`check`](Self::check).
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, PasswordError> {
        Ok(self.check(password, hash).await?.matches)
    }

    /// Verifies `password` against `hash` (a dummy hash when `None`, taking the same
    /// time and never matching), and tells whether a matching hash should be replaced
    /// because it was made with other parameters than this hasher's.
    ///
    /// A check that does not match costs at least the dummy's work, whatever `hash`
    /// is: a stored hash that cannot be used (an error for which
    /// [`PasswordError::is_unusable`]) is answered after a dummy verification, and a
    /// wrong password against a cheaper hash is padded to the dummy's time.
    pub async fn check(&self, password: &str, hash: Option<&str>) -> Result<Verification, PasswordError> {
        let password = password.to_owned();
        let hash = hash.map(str::to_owned);
        let large = hash.as_deref().map_or(0, |h| self.inner.large_memory_kib(h));
        self.run(large, move |inner| {
            inner.verifications.fetch_add(1, Ordering::Relaxed);
            let password = password.as_bytes();
            let started = Instant::now();
            let Some(stored) = &hash else {
                inner.run_dummy(password);
                return Ok(Verification::NONE);
            };
            match inner.check(password, stored) {
                Ok(verification) if verification.matches => Ok(verification),
                Ok(_) => {
                    inner.harden(password, started);
                    Ok(Verification::NONE)
                }
                Err(error) if error.is_unusable() => {
                    inner.run_dummy(password);
                    Err(error)
                }
                Err(error) => Err(error),
            }
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
    ///
    /// A hash over the caps ([`limits`]) is not supported:
    /// [`exceeded_limit`](Self::exceeded_limit) tells which.
    pub fn is_supported_hash(hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        Algorithm::try_from(parsed.algorithm).is_ok()
            && parsed.version.is_none_or(|v| Version::try_from(v).is_ok())
            && argon2::params(&parsed).is_ok()
            && parsed.salt.is_some()
            && parsed.hash.is_some()
    }

    /// The cap that `hash` exceeds, if it is in a format this hasher reads (an argon2
    /// PHC string, capped by [`limits`], or one of its [schemes](Self::with_scheme),
    /// capped by the scheme) and asks for more than a cap allows.
    ///
    /// ```
    /// use tokenauth_core::PasswordHasher;
    ///
    /// let huge = "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$pcCMu9kmCy7Ix5MQrJhQdCf5fBRDe4dDbApDLaqGpMg";
    /// let over = PasswordHasher::new().exceeded_limit(huge).unwrap();
    /// assert_eq!(over.parameter, "memory (KiB)");
    /// ```
    pub fn exceeded_limit(&self, hash: &str) -> Option<HashLimit> {
        match self.inner.format(hash).ok()? {
            formats::Format::Scheme(scheme) => scheme.exceeded_limit(hash),
            formats::Format::Argon2 => match argon2::params(&PasswordHash::new(hash).ok()?) {
                Err(PasswordError::OverLimit(limit)) => Some(limit),
                _ => None,
            },
        }
    }

    /// How many verifications this hasher (and its clones) has run, against real and
    /// dummy hashes alike: a figure for metrics, and for tests that check that every
    /// login costs the same work.
    pub fn verifications(&self) -> u64 {
        self.inner.verifications.load(Ordering::Relaxed)
    }

    /// How many verifications of the dummy hash it has run: one for each unknown user,
    /// each stored hash that cannot be used, and each wrong password against a hash
    /// cheaper than the dummy checked before the dummy's time was known.
    pub fn dummy_verifications(&self) -> u64 {
        self.inner.dummy_runs.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        large_kib: u32,
        job: impl FnOnce(&Inner) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let inner = Arc::clone(&self.inner);
        let permits = self.inner.slot(large_kib).await?;
        // The permits move into the job, so they are held until the hash is done even
        // if the caller stops waiting (a client that disconnects mid-login).
        self.inner
            .threads
            .run(move || {
                let _permits = permits;
                job(&inner)
            })
            .await?
    }
}

impl Verification {
    /// No match.
    const NONE: Self = Self {
        matches: false,
        outdated: false,
    };
}
