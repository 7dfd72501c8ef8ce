//! Revocations made elsewhere: the cache listens to the service it stands in front of
//! (for what a write cannot show), and follows a bus for those of other processes.

use std::fmt;
use std::sync::atomic::Ordering;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::AuthCache;
use crate::revocation::{Revocation, RevocationBus, RevocationListener};

impl AuthCache {
    /// Applies every revocation published on `bus` from now on, on a task of the
    /// current Tokio runtime: a [`Revocation::Everything`] or a lagging receiver
    /// flushes; while the bus is not [connected](RevocationBus::connected) the cache is
    /// [paused](Self::pause). Dropping the returned handle stops it (and leaves the
    /// cache paused, as nothing is followed any more).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn follow<B: RevocationBus>(&self, bus: &B) -> Following {
        let mut revocations = bus.subscribe();
        let mut connected = bus.connected();
        let cache = self.clone();
        if !*connected.borrow_and_update() {
            cache.pause();
        }
        let task = tokio::spawn(async move {
            let mut watching = true;
            loop {
                tokio::select! {
                    received = revocations.recv() => match received {
                        Ok(revocation) => cache.revoked(&revocation),
                        Err(RecvError::Lagged(missed)) => {
                            cache.inner.stats.lagged.fetch_add(missed, Ordering::Relaxed);
                            cache.clear();
                        }
                        Err(RecvError::Closed) => break,
                    },
                    changed = connected.changed(), if watching => match changed {
                        Ok(()) if *connected.borrow_and_update() => cache.resume(),
                        Ok(()) => cache.pause(),
                        // No one vouches for the bus any more (its listening task
                        // ended, perhaps by a panic): serve nothing from memory.
                        Err(_) => {
                            watching = false;
                            cache.pause();
                        }
                    },
                }
            }
            cache.pause();
        });
        Following {
            task,
            cache: self.clone(),
        }
    }
}

/// The cache hears every revocation of the service it is attached to; attach it to
/// other sources (a bus's subscribers) through [`AuthCache::follow`] or this impl.
impl RevocationListener for AuthCache {
    fn revoked(&self, revocation: &Revocation) {
        match revocation {
            Revocation::Tokens(ended) => self.forget_ended(ended),
            Revocation::User(id) => self.forget_user(id),
            // `Revocation` is non-exhaustive: whatever it says, flushing is safe.
            _ => self.clear(),
        }
    }
}

/// The task started by [`AuthCache::follow`]. Dropping it stops following, and pauses
/// the cache.
#[must_use = "dropping the handle stops following the bus (and pauses the cache)"]
pub struct Following {
    task: JoinHandle<()>,
    cache: AuthCache,
}

impl fmt::Debug for Following {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Following")
            .field("running", &!self.task.is_finished())
            .finish()
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        self.task.abort();
        self.cache.pause();
    }
}
