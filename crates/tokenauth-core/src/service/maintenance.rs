//! The background upkeep: last-used writes on a schedule, the purge of long-expired
//! tokens, and the final write on shutdown.

#[cfg(feature = "maintenance")]
use std::fmt;
#[cfg(feature = "maintenance")]
use std::future::Future;

use time::Duration;
#[cfg(feature = "maintenance")]
use tokio::sync::watch;
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

/// How long the upkeep's supervisor waits before restarting an upkeep that panicked.
#[cfg(feature = "maintenance")]
const RESTART_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

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
/// `maintenance`), supervised: restarted if it panics.
///
/// If the upkeep died silently, the last-used writes and the purge would stop while the
/// server went on answering, and the uses gathered meanwhile would be lost at
/// shutdown. Restarted (after a pause), it loses only the uses being written when it
/// panicked. A panic in the final write, after the stop, gets one more try, not a loop.
///
/// [`shutdown`](Self::shutdown) stops it and waits for the final write of last-used
/// times. Dropping the handle stops it too, but nothing waits for that write: keep the
/// handle and shut it down after your server has stopped serving.
#[cfg(feature = "maintenance")]
#[must_use = "dropping the handle stops the upkeep; call `shutdown().await` after the server stops"]
pub struct MaintenanceHandle {
    stop: watch::Sender<bool>,
    supervisor: JoinHandle<()>,
}

#[cfg(feature = "maintenance")]
impl fmt::Debug for MaintenanceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaintenanceHandle")
            .field("running", &!self.supervisor.is_finished())
            .finish()
    }
}

#[cfg(feature = "maintenance")]
impl MaintenanceHandle {
    /// Stops the upkeep and waits until the last-used times gathered so far are
    /// written. Errors only if the supervisor itself failed (the upkeep logs its own
    /// write errors, and its panics are restarted).
    pub async fn shutdown(mut self) -> Result<(), tokio::task::JoinError> {
        let _ = self.stop.send(true);
        (&mut self.supervisor).await
    }

    /// Whether the upkeep has ended (after [`shutdown`](Self::shutdown), or if it could
    /// not be restarted).
    pub fn is_finished(&self) -> bool {
        self.supervisor.is_finished()
    }
}

#[cfg(feature = "maintenance")]
impl Drop for MaintenanceHandle {
    fn drop(&mut self) {
        // Stop the loop; its final write still runs, detached.
        let _ = self.stop.send(true);
    }
}

/// Runs `run(stopped)` on a task of its own until it returns, restarting it `pause`
/// after each panic. A run that panics after the stop (in its final work) is restarted
/// once more, at once, so that the final work gets a second chance but cannot loop.
#[cfg(feature = "maintenance")]
async fn supervise<F, Fut>(mut run: F, stopped: watch::Receiver<bool>, pause: std::time::Duration)
where
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut retried_after_stop = false;
    loop {
        let error = match tokio::spawn(run(stopped.clone())).await {
            Ok(()) => return,
            Err(error) => error,
        };
        let stopping = *stopped.borrow();
        if !error.is_panic() || (stopping && retried_after_stop) {
            tracing::error!(%error, "the upkeep failed; not restarting it");
            return;
        }
        retried_after_stop |= stopping;
        tracing::error!(%error, ?pause, "the upkeep panicked; restarting it");
        if !stopping {
            tokio::time::sleep(pause).await;
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

    /// Starts the background upkeep on the current Tokio runtime, supervised (restarted
    /// if it panics, see [`MaintenanceHandle`]): last-used times written every refresh
    /// interval, long-expired tokens purged on `schedule`. Shut the returned handle down
    /// after the server stops, and the last uses are written too.
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
        let (stop, stopped) = watch::channel(false);
        let auth = self.clone();
        let run = move |mut stopped: watch::Receiver<bool>| {
            let auth = auth.clone();
            async move {
                auth.run_maintenance(schedule, async move {
                    // A dropped sender stops the upkeep too.
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await;
            }
        };
        let supervisor = tokio::spawn(supervise(run, stopped, RESTART_PAUSE));
        MaintenanceHandle { stop, supervisor }
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

#[cfg(all(test, feature = "maintenance"))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A task that panics on its first run and on its run after the stop.
    fn flaky(
        runs: Arc<AtomicUsize>,
    ) -> impl FnMut(watch::Receiver<bool>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        move |mut stopped| {
            let run = runs.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                assert!(run != 0, "the first run panics");
                let _ = stopped.wait_for(|stop| *stop).await;
                assert!(run != 1, "the run that saw the stop panics");
            })
        }
    }

    #[tokio::test]
    async fn a_panicked_task_is_restarted_and_its_final_work_retried_once() {
        let runs = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(false);
        let supervisor = tokio::spawn(supervise(flaky(Arc::clone(&runs)), stopped, Duration::ZERO));
        // The restarted run waits for the stop: the task is alive again.
        tokio::task::yield_now().await;
        while runs.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert!(!supervisor.is_finished(), "the restarted task is running");
        stop.send(true).unwrap();
        supervisor.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3, "restarted after each panic");
    }

    #[tokio::test]
    async fn a_task_that_keeps_panicking_after_the_stop_is_given_up() {
        let runs = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(true);
        drop(stop);
        let always = {
            let runs = Arc::clone(&runs);
            move |_: watch::Receiver<bool>| {
                runs.fetch_add(1, Ordering::SeqCst);
                async { panic!("always") }
            }
        };
        supervise(always, stopped, Duration::ZERO).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "one retry after the stop, no loop"
        );
    }
}
