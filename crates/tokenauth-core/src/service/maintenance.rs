//! The background upkeep: last-used writes on a schedule, the purge of long-expired
//! tokens, and the final write on shutdown.

#[cfg(feature = "maintenance")]
use std::fmt;
#[cfg(feature = "maintenance")]
use std::future::Future;

use time::Duration;
#[cfg(feature = "maintenance")]
use tokio::sync::oneshot;
#[cfg(feature = "maintenance")]
use tokio::task::JoinHandle;

use crate::error::BackendError;
use crate::expiry::Lifespan;
use crate::revocation::Revocation;
use crate::service::TokenAuth;
use crate::store::TokenStore;
use crate::user::UserDirectory;

/// How long expired tokens are kept before the purge deletes them (7 days), so that
/// their clients keep hearing `Token has expired` rather than `Invalid token`.
pub const DEFAULT_PURGE_GRACE: Duration = Duration::days(7);

/// How many tokens one purge step deletes at most.
pub const DEFAULT_PURGE_BATCH: usize = 500;

/// How many last-used times one store write carries at most.
const USAGE_BATCH: usize = 500;

/// The background upkeep run by [`TokenAuth::run_maintenance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Maintenance {
    /// How often to purge long-expired tokens; `None` never.
    pub purge_interval: Option<Lifespan>,
    /// How long after expiry a token is purged.
    pub purge_grace: Duration,
}

impl Default for Maintenance {
    /// Purge hourly, tokens expired over [`DEFAULT_PURGE_GRACE`] ago.
    fn default() -> Self {
        Self {
            purge_interval: Some(Lifespan::new(Duration::hours(1)).expect("an hour is a valid interval")),
            purge_grace: DEFAULT_PURGE_GRACE,
        }
    }
}

/// The running upkeep, started by [`TokenAuth::start_maintenance`] (feature
/// `maintenance`).
///
/// [`shutdown`](Self::shutdown) stops it and waits for the final write of last-used
/// times. Dropping the handle stops it too, but nothing waits for that write: keep the
/// handle and shut it down after your server has stopped serving.
#[cfg(feature = "maintenance")]
#[must_use = "dropping the handle stops the upkeep; call `shutdown().await` after the server stops"]
pub struct MaintenanceHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

#[cfg(feature = "maintenance")]
impl fmt::Debug for MaintenanceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaintenanceHandle")
            .field("running", &!self.task.is_finished())
            .finish()
    }
}

#[cfg(feature = "maintenance")]
impl MaintenanceHandle {
    /// Stops the upkeep and waits until the last-used times gathered so far are
    /// written. Errors only if the upkeep task panicked (it logs its own write errors).
    pub async fn shutdown(mut self) -> Result<(), tokio::task::JoinError> {
        if let Some(stop) = self.stop.take() {
            // The task may already be gone (it panicked); then there is nobody to tell.
            let _ = stop.send(());
        }
        (&mut self.task).await
    }

    /// Whether the upkeep task has ended (after [`shutdown`](Self::shutdown), or if
    /// it panicked).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

#[cfg(feature = "maintenance")]
impl Drop for MaintenanceHandle {
    fn drop(&mut self) {
        // Stop the loop; its final write still runs, detached.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// Writes the last-used times gathered since the previous flush, in batches; how
    /// many tokens were written. Uses that fail to write are kept for the next flush,
    /// and every use stays visible to authentication until its write has landed.
    pub async fn flush_usage(&self) -> Result<usize, BackendError> {
        let pending = self.usage.snapshot();
        for batch in pending.chunks(USAGE_BATCH) {
            let uses: Vec<_> = batch.iter().map(|(_, usage)| usage.clone()).collect();
            self.in_store(self.store.record_usage(&uses)).await?;
            // Only now: until the write lands, authentication keeps reading these.
            self.usage.written(batch);
        }
        Ok(pending.len())
    }

    /// Last-used times not yet written.
    pub fn pending_usage(&self) -> usize {
        self.usage.len()
    }

    /// Deletes at most `batch` tokens that expired more than `grace` ago; how many.
    /// Write pending uses first ([`flush_usage`](Self::flush_usage)), or a token kept
    /// alive by uses not yet written may look dead to the store.
    pub async fn purge_step(&self, grace: Duration, batch: usize) -> Result<usize, BackendError> {
        let bounds = self.config.policy.purge_bounds(self.clock.now(), grace);
        let ended = self.in_store(self.store.purge(&bounds, batch)).await?;
        let count = ended.len();
        // Long dead, and possibly many: listeners hear of them, the audit trail does not.
        if count > 0 {
            self.signal(Revocation::Tokens(ended));
        }
        Ok(count)
    }

    /// Deletes every token that expired more than `grace` ago, in steps of at most
    /// `batch`, calling `progress` with the running total after each step; the total.
    ///
    /// It first writes the pending last-used times, so that a token in use is never
    /// purged as idle, however short the grace.
    pub async fn purge(
        &self,
        grace: Duration,
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<usize, BackendError> {
        self.flush_usage().await?;
        let batch = batch.max(1);
        let mut total = 0;
        loop {
            let deleted = self.purge_step(grace, batch).await?;
            total += deleted;
            progress(total);
            if deleted < batch {
                return Ok(total);
            }
        }
    }

    /// Starts the background upkeep on the current Tokio runtime: last-used times
    /// written every refresh interval, long-expired tokens purged on `schedule`. Shut
    /// the returned handle down after the server stops, and the last uses are written
    /// too.
    ///
    /// ```
    /// # use tokenauth_core::{Maintenance, MemoryStore, MemoryUserDirectory, TokenAuth};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
    /// let upkeep = auth.start_maintenance(Maintenance::default());
    /// // ... serve until a shutdown signal ...
    /// upkeep.shutdown().await.expect("the upkeep ran");
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    #[cfg(feature = "maintenance")]
    pub fn start_maintenance(&self, schedule: Maintenance) -> MaintenanceHandle {
        let (stop, stopped) = oneshot::channel::<()>();
        let auth = self.clone();
        let task = tokio::spawn(async move {
            auth.run_maintenance(schedule, async {
                // A dropped sender stops the upkeep too.
                let _ = stopped.await;
            })
            .await;
        });
        MaintenanceHandle {
            stop: Some(stop),
            task,
        }
    }

    /// Runs the background upkeep until `shutdown` completes: writes last-used times
    /// every refresh interval and purges long-expired tokens on schedule; then writes
    /// what is left. Spawn it beside your server.
    #[cfg(feature = "maintenance")]
    pub async fn run_maintenance(&self, schedule: Maintenance, shutdown: impl Future<Output = ()>) {
        // After a stall (a suspended machine), one catch-up tick, not a burst.
        let every = |period: std::time::Duration| {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            interval
        };
        let mut flush = every(self.config.refresh_interval.unsigned_abs());
        let mut purge = schedule
            .purge_interval
            .map(|p| every(p.as_duration().unsigned_abs()));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = flush.tick() => {
                    if let Err(error) = self.flush_usage().await {
                        tracing::warn!(error = &error as &dyn std::error::Error, "writing last-used times failed");
                    }
                }
                _ = async { purge.as_mut().expect("guarded").tick().await }, if purge.is_some() => {
                    match self.purge(schedule.purge_grace, DEFAULT_PURGE_BATCH, |_| {}).await {
                        Ok(0) => {}
                        Ok(count) => tracing::info!(count, "purged long-expired tokens"),
                        Err(error) => tracing::warn!(error = &error as &dyn std::error::Error, "purge failed"),
                    }
                }
            }
        }
        match self.flush_usage().await {
            Ok(count) => tracing::debug!(count, "wrote last-used times on shutdown"),
            Err(error) => tracing::warn!(
                error = &error as &dyn std::error::Error,
                "writing last-used times failed"
            ),
        }
    }
}
