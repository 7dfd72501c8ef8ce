//! Every call to the store and the directory: bounded by the backend timeout, its
//! errors classified (unavailable or failed) by the backend that raised them; and the
//! readiness check built on them.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::error::{BackendError, BackendTimeout};
use crate::service::TokenAuth;
use crate::store::TokenStore;
use crate::user::UserDirectory;

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// Bounds every call to the store and the directory (default: no bound): a call
    /// that has not completed after `timeout` is abandoned and fails as an unavailable
    /// [`BackendError`] ([`is_unavailable`](BackendError::is_unavailable)), which the
    /// web layer answers with 503 and `Retry-After`. A request makes a few calls, each
    /// bounded; when the backend is down, the first one fails and ends the request.
    ///
    /// It is the last line against a backend that stops answering without closing its
    /// connections (a network partition, a stalled server), which no connection pool
    /// timeout catches. Give the pool (acquire) and the database (busy or lock
    /// timeouts) the same bound, so that they report unavailability themselves; the
    /// `tokenauth-sqlx` connect functions take it (`connect_with_timeout`).
    ///
    /// An abandoned write may still complete in the backend, as with any timeout: a
    /// client told 503 may find its logout done, or log in again for a new token.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenAuth};
    /// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new())
    ///     .with_backend_timeout(Some(Duration::from_secs(5)));
    /// assert_eq!(auth.backend_timeout(), Some(Duration::from_secs(5)));
    /// ```
    pub fn with_backend_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config_mut().backend_timeout = timeout;
        self
    }

    /// The bound on each call to the store and the directory, if any.
    pub fn backend_timeout(&self) -> Option<Duration> {
        self.config.backend_timeout
    }

    /// Whether the store and the directory both answer ([`TokenStore::ping`],
    /// [`UserDirectory::ping`], together, each within the backend timeout): for a
    /// readiness probe. The error says why not; it is unavailable when either backend
    /// is.
    pub async fn ready(&self) -> Result<(), BackendError> {
        let (store, users) = tokio::join!(self.in_store(self.store.ping()), self.in_users(self.users.ping()));
        store.and(users)
    }

    /// Runs a call to the store: bounded, its error classified by the store.
    pub(crate) fn in_store<T>(
        &self,
        call: impl Future<Output = Result<T, S::Error>>,
    ) -> impl Future<Output = Result<T, BackendError>> {
        bounded(self.config.backend_timeout, call, S::is_unavailable)
    }

    /// Runs a call to the directory: bounded, its error classified by the directory.
    pub(crate) fn in_users<T>(
        &self,
        call: impl Future<Output = Result<T, D::Error>>,
    ) -> impl Future<Output = Result<T, BackendError>> {
        bounded(self.config.backend_timeout, call, D::is_unavailable)
    }
}

/// Runs `call`, bounded by `timeout` from its first wait: a call that answers at once
/// (from memory, as a lookup served by a decorator in front of the store may) costs no
/// timer.
async fn bounded<T, E: std::error::Error + Send + Sync + 'static>(
    timeout: Option<Duration>,
    call: impl Future<Output = Result<T, E>>,
    is_unavailable: fn(&E) -> bool,
) -> Result<T, BackendError> {
    let mut call = pin!(call);
    let first = poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
    let result = match (first, timeout) {
        (Poll::Ready(result), _) => result,
        (Poll::Pending, Some(timeout)) => tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| BackendError::unavailable(BackendTimeout(timeout)))?,
        (Poll::Pending, None) => call.await,
    };
    result.map_err(|error| {
        if is_unavailable(&error) {
            BackendError::unavailable(error)
        } else {
            BackendError::new(error)
        }
    })
}
