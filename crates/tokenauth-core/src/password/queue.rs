//! The bounded queue in front of the hashing slots, and the memory budget of hashes
//! larger than the hasher's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Inner, PasswordError};

/// What a running hash holds: a slot, and its share of the large-hash memory budget.
pub(super) struct Permits {
    _memory: Option<OwnedSemaphorePermit>,
    _slot: OwnedSemaphorePermit,
}

impl Inner {
    /// A hashing slot and `large_kib` KiB of the budget for hashes larger than the
    /// hasher's own, within the queue's bounds. The budget is taken before the slot,
    /// by every caller, so that a slot is never held waiting for memory.
    pub(super) async fn slot(&self, large_kib: u32) -> Result<Permits, PasswordError> {
        // Free permits need no place in the queue.
        if let Some(permits) = self.try_permits(large_kib) {
            return Ok(permits);
        }
        let busy = PasswordError::Busy {
            retry_after: self.max_wait.max(Duration::from_secs(1)),
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy);
        }
        let _leave = Leave(&self.waiting);
        let queued = std::time::Instant::now();
        let slot = tokio::time::timeout(self.max_wait, self.permits(large_kib)).await;
        let waited = u64::try_from(queued.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.wait_nanos.fetch_add(waited, Ordering::Relaxed);
        slot.map_err(|_elapsed| busy)
    }

    fn try_permits(&self, large_kib: u32) -> Option<Permits> {
        let memory = match large_kib {
            0 => None,
            kib => Some(Arc::clone(&self.large).try_acquire_many_owned(kib).ok()?),
        };
        Some(Permits {
            _memory: memory,
            _slot: Arc::clone(&self.permits).try_acquire_owned().ok()?,
        })
    }

    async fn permits(&self, large_kib: u32) -> Permits {
        let closed = "the semaphores are never closed";
        let memory = match large_kib {
            0 => None,
            kib => Some(
                Arc::clone(&self.large)
                    .acquire_many_owned(kib)
                    .await
                    .expect(closed),
            ),
        };
        Permits {
            _memory: memory,
            _slot: Arc::clone(&self.permits).acquire_owned().await.expect(closed),
        }
    }
}

/// The budget of hashes larger than the hasher's own, in KiB (one permit a KiB).
pub(super) fn large_budget() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(super::limits::ARGON2_MAX_MEMORY_KIB as usize))
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
    use argon2::Params;

    use super::*;
    use crate::PasswordHasher;

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

    /// A hash larger than the hasher's own waits for the memory budget, not for a slot
    /// it would hold meanwhile; once the budget is free it runs.
    #[tokio::test(start_paused = true)]
    async fn a_large_hash_waits_for_the_memory_budget() {
        let hasher = hasher(10, Duration::from_secs(2));
        let budget = Arc::clone(&hasher.inner.large)
            .acquire_many_owned(super::super::limits::ARGON2_MAX_MEMORY_KIB)
            .await
            .unwrap();
        let refused = hasher.inner.slot(1024).await.err().unwrap();
        assert!(matches!(refused, PasswordError::Busy { .. }), "{refused:?}");
        assert_eq!(hasher.inner.permits.available_permits(), 1, "no slot held");
        assert!(hasher.inner.slot(0).await.is_ok(), "small hashes still run");
        drop(budget);
        assert!(hasher.inner.slot(1024).await.is_ok());
    }
}
