//! A deadline on write progress, for clients that stop reading.
//!
//! hyper's timers cover reading a request head (the header timeout) and our body
//! deadline covers reading a body, but nothing covers writing: a client that pipelines
//! requests and then advertises a zero receive window leaves every write `Pending`, and
//! hyper waits on it forever, holding a connection slot. This wrapper fails a write or
//! flush with `TimedOut` once it has made no progress (no byte accepted by the socket)
//! for the timeout; hyper then drops the connection and its slot is released.
//!
//! Progress, not total time: a large answer to a slow but reading client is not cut
//! off, since every accepted byte restarts the timer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A connection whose writes fail when they make no progress within a timeout.
#[derive(Debug)]
pub(crate) struct WriteDeadline<T> {
    inner: T,
    timeout: Duration,
    /// Armed (`stalled`) at the first `Pending` write since the last progress.
    deadline: Pin<Box<Sleep>>,
    stalled: bool,
}

impl<T> WriteDeadline<T> {
    pub(crate) fn new(inner: T, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            stalled: false,
        }
    }

    /// Passes on a write's outcome: progress disarms the deadline, a `Pending` arms it
    /// (if not already) and polls it, so that the task is woken when it passes.
    fn check<R>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.stalled = false;
            return polled;
        }
        if !self.stalled {
            self.stalled = true;
            self.deadline.as_mut().reset(Instant::now() + self.timeout);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing within the write timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.check(cx, polled)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.check(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.check(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_write_without_progress_fails_after_the_timeout() {
        // A pipe whose reader never reads: 16 bytes fit, then writes stay pending.
        let (client, server) = tokio::io::duplex(16);
        let mut server = WriteDeadline::new(server, Duration::from_secs(30));
        server.write_all(&[0; 16]).await.unwrap();
        let started = Instant::now();
        let error = server.write_all(&[0; 1]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_is_not_cut_off() {
        let (mut client, server) = tokio::io::duplex(16);
        let mut server = WriteDeadline::new(server, Duration::from_secs(30));
        // Reads 16 bytes every 20 s: slower than the whole answer would need, but
        // never 30 s without progress.
        let reader = tokio::spawn(async move {
            let mut buf = [0; 16];
            let mut read = 0;
            while read < 64 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                read += tokio::io::AsyncReadExt::read(&mut client, &mut buf)
                    .await
                    .unwrap();
            }
        });
        server.write_all(&[0; 64]).await.unwrap();
        reader.await.unwrap();
    }
}
