//! The revocation signal: what ended, for caches.
//!
//! Every operation of [`TokenAuth`](crate::TokenAuth) that ends a token (logout,
//! logout-all, revoke by id, eviction, `replace`, a password change, deactivation,
//! deletion of a user, "revoke everything", the purge) tells the
//! [`RevocationListener`] what ended, after the store has committed it. A cache in
//! front of a store and a directory, in the same process, stays exactly coherent by
//! dropping what each [`Revocation`] names.
//!
//! Across processes the same signal travels through a [`RevocationBus`], implemented
//! by a backend with its engine's own mechanism (PostgreSQL `LISTEN/NOTIFY`, Redis
//! pub/sub). [`LocalBus`] is the in-process one, for tests and single-process apps.

use std::fmt;
use std::future::Future;

use tokio::sync::broadcast;

use crate::store::Ended;
use crate::user::UserId;

/// Something that ended, as a cache needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    /// These tokens were deleted.
    Tokens(Vec<Ended>),
    /// Something about this user changed that can end its tokens without deleting them
    /// (a new credential version, deactivation, deletion): drop every cached token of
    /// the user, and the user.
    User(UserId),
    /// Anything may have changed (for example, a bus connection dropped and messages
    /// may have been missed): drop everything.
    Everything,
}

/// Told of every [`Revocation`], after it is committed. Called inline: keep it quick
/// (hand slow work, such as publishing, to a task).
pub trait RevocationListener: Send + Sync + 'static {
    /// Something ended.
    fn revoked(&self, revocation: &Revocation);
}

impl<F: Fn(&Revocation) + Send + Sync + 'static> RevocationListener for F {
    fn revoked(&self, revocation: &Revocation) {
        self(revocation);
    }
}

impl fmt::Debug for dyn RevocationListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RevocationListener")
    }
}

/// The cross-process revocation signal a backend implements, so that caches in every
/// instance drop what any instance ended.
///
/// - [`publish`](Self::publish) sends a revocation to every subscriber of every
///   process (including this one).
/// - [`subscribe`](Self::subscribe) receives them. Whenever revocations may have been
///   missed (the connection to the engine dropped and came back, or the receiver
///   lagged), the subscriber receives [`Revocation::Everything`] (or sees
///   [`broadcast::error::RecvError::Lagged`]) and must flush: a missed revocation must
///   never leave a token valid in a cache.
///
/// PostgreSQL implements it with `NOTIFY tokenauth_revocations, '<payload>'` and a
/// dedicated `LISTEN` connection; Redis with `PUBLISH` and a `SUBSCRIBE` connection.
/// The delay between a commit and every instance's cache dropping the entry is the
/// backend's documented bound.
pub trait RevocationBus: Send + Sync + 'static {
    /// What can go wrong publishing.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Sends `revocation` to every subscriber, in every process.
    fn publish(&self, revocation: &Revocation) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// A receiver of every revocation published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Revocation>;
}

/// A [`RevocationBus`] within one process, on a Tokio broadcast channel. Clones share
/// the channel.
#[derive(Debug, Clone)]
pub struct LocalBus {
    sender: broadcast::Sender<Revocation>,
}

impl LocalBus {
    /// A bus whose subscribers may fall `capacity` messages behind before they see
    /// `Lagged` (and must flush).
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity.max(1)).0,
        }
    }
}

impl Default for LocalBus {
    /// Room for 1024 messages.
    fn default() -> Self {
        Self::new(1024)
    }
}

impl RevocationBus for LocalBus {
    type Error = std::convert::Infallible;

    async fn publish(&self, revocation: &Revocation) -> Result<(), Self::Error> {
        // No subscriber is not an error: nothing is cached anywhere.
        let _ = self.sender.send(revocation.clone());
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.sender.subscribe()
    }
}

/// Publishing on a local bus is synchronous, so the bus is also a listener: pass it to
/// [`TokenAuth::with_revocation_listener`](crate::TokenAuth::with_revocation_listener).
impl RevocationListener for LocalBus {
    fn revoked(&self, revocation: &Revocation) {
        let _ = self.sender.send(revocation.clone());
    }
}
