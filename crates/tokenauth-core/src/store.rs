//! The storage contract for tokens.

use std::future::Future;

use crate::expiry::LiveAt;
use crate::record::TokenRecord;
use crate::token::{TokenDigest, TokenId};
use crate::usage::Usage;
use crate::user::UserId;

/// What to do with a user's other tokens when inserting a new one. Applied atomically
/// with the insert, so concurrent logins cannot overshoot a limit.
///
/// Every store handles every variant, so the enum is exhaustive: a new variant is a
/// breaking change for stores, and says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Keep them all.
    Add,
    /// Delete all of them (obtain policy `replace`).
    Replace,
    /// If the user has `max_live` or more live tokens, delete the oldest live ones (by
    /// `created`, then id) so that, with the new one, `max_live` remain.
    EvictOldest {
        /// The limit, at least 1.
        max_live: usize,
        /// Which tokens count: those live at `live.at`...
        live: LiveAt,
        /// ...and these, kept alive by uses not written yet (sliding expiry).
        recently_used: Vec<TokenId>,
    },
    /// If the user has `max_live` or more live tokens, insert nothing.
    Reject {
        /// The limit, at least 1.
        max_live: usize,
        /// Which tokens count: those live at `live.at`...
        live: LiveAt,
        /// ...and these, kept alive by uses not written yet (sliding expiry).
        recently_used: Vec<TokenId>,
    },
}

impl Admission {
    /// Whether `record` counts against the limit: the reference rule for stores.
    pub fn counts(record: &TokenRecord, live: &LiveAt, recently_used: &[TokenId]) -> bool {
        live.is_live(record) || recently_used.contains(&record.id)
    }
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The record was stored; these other tokens of the user were deleted to make room
    /// (or replaced), oldest first.
    Stored {
        /// Ids of the deleted tokens.
        removed: Vec<TokenId>,
    },
    /// The limit was reached ([`Admission::Reject`]); nothing changed.
    Rejected,
}

/// Where token records live.
///
/// Stores are dumb: they save, find and delete records. They never read the clock and
/// never decide whether a token is expired; they return expired records like any other,
/// so that callers can tell `Token has expired` from `Invalid token`. Where a verb needs
/// to know which records are live, it is handed a [`LiveAt`] computed by the policy.
/// Policy lives in [`TokenAuth`](crate::TokenAuth), written once for every store.
///
/// Every lookup on the authentication path goes through
/// [`find_by_digest`](Self::find_by_digest) and every revocation through a `delete*`
/// verb, so a cache that wraps a store and implements this trait can stay coherent with
/// revocation without changing any caller.
///
/// A store is done when it passes the conformance suite
/// (feature `testing`: [`token_store_conformance!`](crate::token_store_conformance)).
pub trait TokenStore: Send + Sync + 'static {
    /// What can go wrong in the backend.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Saves a new record, first applying `admission` to the user's other tokens, all
    /// atomically. Ids and digests are unique; inserting a duplicate of either is an
    /// error and leaves the store unchanged.
    fn insert(
        &self,
        record: &TokenRecord,
        admission: Admission,
    ) -> impl Future<Output = Result<Inserted, Self::Error>> + Send;

    /// The record with this digest, expired or not.
    fn find_by_digest(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<TokenRecord>, Self::Error>> + Send;

    /// The record with this id, expired or not.
    fn find_by_id(
        &self,
        id: &TokenId,
    ) -> impl Future<Output = Result<Option<TokenRecord>, Self::Error>> + Send;

    /// The records of one user, or of every user with `None`, oldest first (ties broken
    /// by id).
    fn list(
        &self,
        user: Option<&UserId>,
    ) -> impl Future<Output = Result<Vec<TokenRecord>, Self::Error>> + Send;

    /// Deletes the record with this id; its user if there was one.
    fn delete(&self, id: &TokenId) -> impl Future<Output = Result<Option<UserId>, Self::Error>> + Send;

    /// Deletes every record of `user` except `keep`; the ids deleted.
    fn delete_for_user(
        &self,
        user: &UserId,
        keep: Option<&TokenId>,
    ) -> impl Future<Output = Result<Vec<TokenId>, Self::Error>> + Send;

    /// Writes a batch of uses: each record's `last_used` becomes the later of its own
    /// and the use's, and `last_ip` the use's address when it has one and is the later
    /// use. Uses of records that no longer exist are ignored.
    fn record_usage(&self, uses: &[Usage]) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Deletes at most `limit` records that are not live at `dead.at`; how many.
    ///
    /// Called repeatedly by the purge, so that no single call holds the store for long.
    fn purge(&self, dead: &LiveAt, limit: usize) -> impl Future<Output = Result<usize, Self::Error>> + Send;
}
