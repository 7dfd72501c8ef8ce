//! Log lines written to standard error in batches, in the order they were made, by a
//! thread of their own that wakes once a batch rather than once a line.
//!
//! An access line a request, written as it is made, is a system call on every
//! request. Handed to a writer thread over a channel (`tracing-appender`), it is a
//! wake-up of that thread instead: the writer drains the channel faster than requests
//! fill it, sleeps, and is woken again by the next line. Profiles showed that cost
//! about a quarter of `/healthz`'s CPU on the machine of docs/BENCHMARKS.md. Here a
//! line is appended to a shared buffer (a lock and a copy); only the line that finds
//! the buffer empty wakes the writer, which first waits [`GATHER`] for the lines
//! that follow, then writes them all with one call. Under load that is one wake-up
//! and one write each [`GATHER`], whatever the rate; when idle, a line is out within
//! [`GATHER`].
//!
//! Nothing is dropped: a buffer that reaches [`MAX_PENDING`] makes the lines' makers
//! wait for the writer. [`Writer::stop`] (the guard's drop) writes what is left
//! before returning, and every line made after it is written at once. Only a hard
//! kill (`SIGKILL`, an abort) loses lines: at most the last [`GATHER`]'s.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer, once woken, waits for more lines before writing.
pub const GATHER: Duration = Duration::from_millis(5);
/// A buffer this full makes the lines' makers wait for the writer (1 MiB: thousands
/// of lines).
pub const MAX_PENDING: usize = 1 << 20;

/// Where the lines go: standard error, or a test's buffer.
type Sink = Box<dyn FnMut(&[u8]) -> io::Result<()> + Send>;

struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when the buffer stops being empty, or on stop.
    filled: Condvar,
    /// Signalled when the writer has taken the buffer.
    drained: Condvar,
}

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    /// Set by [`Writer::stop`]: the writer thread writes what it has and ends.
    closing: bool,
    /// Set once it has ended: lines are written by their makers from then on.
    stopped: bool,
}

/// The [`MakeWriter`] of the log subscriber. Clones share the buffer.
#[derive(Clone)]
pub struct Lines {
    shared: Arc<Shared>,
    /// Used by the makers once the writer has stopped.
    direct: Arc<Mutex<Sink>>,
}

/// The writer thread; [`stop`](Self::stop) or dropping it writes what is left.
pub struct Writer {
    shared: Arc<Shared>,
    direct: Arc<Mutex<Sink>>,
    thread: Option<JoinHandle<()>>,
}

/// Lines to standard error, in batches: the [`MakeWriter`], and its thread's guard.
pub fn stderr() -> io::Result<(Lines, Writer)> {
    start(Box::new(|bytes| io::stderr().lock().write_all(bytes)))
}

fn start(sink: Sink) -> io::Result<(Lines, Writer)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        filled: Condvar::new(),
        drained: Condvar::new(),
    });
    let direct = Arc::new(Mutex::new(sink));
    let thread = {
        let (shared, direct) = (Arc::clone(&shared), Arc::clone(&direct));
        std::thread::Builder::new()
            .name("tokenauth-logs".into())
            .spawn(move || write_batches(&shared, &direct))?
    };
    let lines = Lines {
        shared: Arc::clone(&shared),
        direct: Arc::clone(&direct),
    };
    let writer = Writer {
        shared,
        direct,
        thread: Some(thread),
    };
    Ok((lines, writer))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves bytes, not broken invariants.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer thread: waits for a line, gathers the ones that follow, writes them all.
fn write_batches(shared: &Shared, sink: &Mutex<Sink>) {
    let mut batch = Vec::new();
    loop {
        {
            let mut pending = lock(&shared.pending);
            while pending.lines.is_empty() && !pending.closing {
                pending = shared
                    .filled
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if pending.lines.is_empty() {
                return; // closing, and everything written
            }
            if !pending.closing {
                drop(pending);
                std::thread::sleep(GATHER);
                pending = lock(&shared.pending);
            }
            std::mem::swap(&mut batch, &mut pending.lines);
        }
        shared.drained.notify_all();
        // Nowhere to report a failed write of the log itself.
        let _ = lock(sink)(&batch);
        batch.clear();
    }
}

impl Writer {
    /// Writes every line made so far and stops the thread; later lines are written
    /// by their makers at once.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        lock(&self.shared.pending).closing = true;
        self.shared.filled.notify_all();
        let _ = thread.join();
        // What was made while the thread ended, then every later line, is written by
        // its maker under the buffer's lock: none can pass another.
        let mut pending = lock(&self.shared.pending);
        pending.stopped = true;
        if !pending.lines.is_empty() {
            let _ = lock(&self.direct)(&pending.lines);
            pending.lines.clear();
        }
        self.shared.drained.notify_all();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Lines;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Write for Lines {
    /// tracing-subscriber writes each line with one `write_all`, so a call is a line.
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = lock(&self.shared.pending);
        while pending.lines.len() >= MAX_PENDING && !pending.stopped {
            pending = self
                .shared
                .drained
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if pending.stopped {
            // Under the buffer's lock, so that a line cannot pass one made before it.
            lock(&self.direct)(line)?;
            return Ok(line.len());
        }
        let was_empty = pending.lines.is_empty();
        pending.lines.extend_from_slice(line);
        drop(pending);
        if was_empty {
            self.shared.filled.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer into a shared buffer, each write recorded as one piece.
    fn recorded() -> (Lines, Writer, Arc<Mutex<Vec<Vec<u8>>>>) {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let writes = Arc::clone(&writes);
            Box::new(move |bytes: &[u8]| {
                writes.lock().unwrap().push(bytes.to_vec());
                Ok(())
            })
        };
        let (lines, writer) = start(sink).unwrap();
        (lines, writer, writes)
    }

    #[test]
    fn every_line_is_written_in_order_by_the_time_the_writer_stops() {
        let (lines, writer, writes) = recorded();
        let makers: Vec<_> = (0..4)
            .map(|maker| {
                let mut lines = lines.clone();
                std::thread::spawn(move || {
                    for n in 0..2_000 {
                        lines.write_all(format!("{maker} {n}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for maker in makers {
            maker.join().unwrap();
        }
        writer.stop();
        let written = writes.lock().unwrap().concat();
        let text = String::from_utf8(written).unwrap();
        let mut next = [0; 4];
        for line in text.lines() {
            let (maker, n) = line.split_once(' ').unwrap();
            let maker: usize = maker.parse().unwrap();
            assert_eq!(
                n.parse::<usize>().unwrap(),
                next[maker],
                "each maker's lines in order"
            );
            next[maker] += 1;
        }
        assert_eq!(next, [2_000; 4], "no line lost");
        // Far fewer writes than lines: they were batched.
        assert!(writes.lock().unwrap().len() < 8_000);
    }

    #[test]
    fn a_line_made_after_the_stop_is_written_at_once() {
        let (mut lines, writer, writes) = recorded();
        lines.write_all(b"before\n").unwrap();
        writer.stop();
        lines.write_all(b"after\n").unwrap();
        assert_eq!(
            *writes.lock().unwrap(),
            [b"before\n".to_vec(), b"after\n".to_vec()]
        );
    }

    #[test]
    fn a_full_buffer_makes_its_makers_wait_rather_than_drop() {
        let (mut lines, writer, writes) = recorded();
        let line = vec![b'x'; 64 * 1024];
        for _ in 0..(MAX_PENDING / line.len()) * 3 {
            lines.write_all(&line).unwrap();
        }
        writer.stop();
        let written: usize = writes.lock().unwrap().iter().map(Vec::len).sum();
        assert_eq!(written, (MAX_PENDING / line.len()) * 3 * line.len());
    }
}
