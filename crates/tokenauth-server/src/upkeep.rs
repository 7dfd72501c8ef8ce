//! The background upkeep, supervised: restarted if it panics.
//!
//! The upkeep writes last-used times and purges long-expired tokens. If it died
//! silently, both would stop while the server went on answering, and the last-used
//! times gathered meanwhile would be lost at shutdown. Restarting it (after a pause)
//! loses only the uses that were being written when it panicked: a server that exited
//! instead would lose every use not yet written, and stop serving.

use std::future::Future;
use std::time::Duration;

use tokenauth::TokenAuth;
use tokenauth_core::{Maintenance, TokenStore, UserDirectory};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long the supervisor waits before restarting a task that panicked.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// The supervised upkeep; [`shutdown`](Self::shutdown) it after the server stops.
#[derive(Debug)]
pub(crate) struct Upkeep {
    stop: watch::Sender<bool>,
    supervisor: JoinHandle<()>,
}

impl Upkeep {
    /// Starts `auth`'s upkeep on `schedule` under supervision.
    pub(crate) fn start<S: TokenStore, D: UserDirectory>(
        auth: TokenAuth<S, D>,
        schedule: Maintenance,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
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
        let supervisor = tokio::spawn(supervise("upkeep", run, stopped, RESTART_PAUSE));
        Self { stop, supervisor }
    }

    /// Stops the upkeep and waits for its final write of last-used times.
    pub(crate) async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.supervisor.await {
            tracing::error!(%error, "the upkeep supervisor failed");
        }
    }
}

/// Runs `run(stopped)` on its own task until it returns, restarting it `pause` after
/// each panic. A run that panics after the stop signal (in its final work) is
/// restarted once more, so that final work gets a second chance but cannot loop.
async fn supervise<F, Fut>(name: &'static str, mut run: F, stopped: watch::Receiver<bool>, pause: Duration)
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
            tracing::error!(task = name, %error, "background task failed; not restarting it");
            return;
        }
        retried_after_stop |= stopping;
        tracing::error!(task = name, %error, ?pause, "background task panicked; restarting it");
        if !stopping {
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

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
        let supervisor = tokio::spawn(supervise(
            "test",
            flaky(Arc::clone(&runs)),
            stopped,
            Duration::ZERO,
        ));
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
        supervise("test", always, stopped, Duration::ZERO).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "one retry after the stop, no loop"
        );
    }
}
