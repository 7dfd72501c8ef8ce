//! The hashing threads: a pool of the hasher's own, at the lowest scheduling priority.
//!
//! A hash is 20-40 ms of CPU. On Tokio's blocking pool it competes with the threads
//! that answer requests as an equal, so a login storm on a 2-core machine halves what
//! authentication gets. Here the threads ask the kernel for the lowest priority
//! (on Linux `SCHED_IDLE`, below every niceness; elsewhere niceness 19): hashing
//! takes the CPU authentication leaves idle, and under contention it waits, bounded by
//! the queue ([`super::queue`]), instead of the requests.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use thread_priority::ThreadPriority;

use super::PasswordError;

type Job = Box<dyn FnOnce() + Send>;

/// Up to `count` threads, started on the first hash; they end when the pool is dropped
/// (its sender goes, so their `recv` fails).
pub(super) struct Threads {
    count: usize,
    jobs: OnceLock<Mutex<Sender<Job>>>,
}

impl Threads {
    pub(super) fn new(count: usize) -> Self {
        Self {
            count,
            jobs: OnceLock::new(),
        }
    }

    /// Runs `job` on one of the threads and waits for its result. The hashing slots
    /// ([`super::queue`]) already bound the jobs running at once to the thread count,
    /// so a job waits for a thread only while the previous one hands over.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // A dropped receiver (the caller went away) is not an error: the permits
            // the job holds are released all the same.
            let _ = done.send(job());
        });
        self.sender()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| PasswordError::Task)?;
        // The job panicked (its sender dropped unsent), or no thread could start.
        result.await.map_err(|_| PasswordError::Task)
    }

    fn sender(&self) -> &Mutex<Sender<Job>> {
        self.jobs.get_or_init(|| {
            let (jobs, queue) = mpsc::channel::<Job>();
            let queue = Arc::new(Mutex::new(queue));
            for n in 0..self.count {
                let queue = Arc::clone(&queue);
                let started = std::thread::Builder::new()
                    .name(format!("tokenauth-hash-{n}"))
                    .spawn(move || work(&queue));
                if let Err(error) = started {
                    tracing::warn!(%error, "could not start a password hashing thread");
                }
            }
            Mutex::new(jobs)
        })
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    if let Err(error) = lower_priority() {
        // A sandbox that forbids it: hashing runs, at the requests' priority.
        tracing::warn!(?error, "could not lower the password hashing thread's priority");
    }
    loop {
        let job = match queue.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // A panicking job fails its own caller (its result is never sent) and leaves
        // the thread serving the next.
        let _ = panic::catch_unwind(AssertUnwindSafe(job));
    }
}

/// The lowest priority the platform gives an ordinary thread. On Linux, `SCHED_IDLE`:
/// a waking request thread preempts the hash at once, where niceness 19 alone still
/// gives the hash a share of each core and its time slice to finish.
fn lower_priority() -> Result<(), thread_priority::Error> {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle).is_ok() {
            return Ok(());
        }
    }
    thread_priority::set_current_thread_priority(ThreadPriority::Min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_runs_on_a_named_thread_and_returns_its_result() {
        let threads = Threads::new(2);
        let name = threads
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("tokenauth-hash-"));
    }

    /// The scheduling policy the kernel reports for the thread: field 41 of
    /// `/proc/thread-self/stat`, counted after the command name's closing parenthesis.
    #[cfg(target_os = "linux")]
    fn policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(38).unwrap().parse().unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_lowest_priority() {
        const SCHED_IDLE: u32 = 5;
        let ours = policy();
        let theirs = Threads::new(1).run(policy).await.unwrap();
        assert_eq!(theirs, SCHED_IDLE, "the requests' thread has policy {ours}");
    }

    #[tokio::test]
    async fn a_panicking_job_fails_its_caller_and_the_thread_serves_the_next() {
        let threads = Threads::new(1);
        let failed = threads.run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(failed, Err(PasswordError::Task)), "{failed:?}");
        assert_eq!(threads.run(|| 7).await.unwrap(), 7);
    }
}
