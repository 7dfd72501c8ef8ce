//! The storage contract for tokens.

use std::future::Future;

use crate::record::TokenRecord;
use crate::token::{TokenDigest, TokenId};
use crate::user::UserId;

/// Where token records live.
///
/// Stores are dumb: they save, find and delete records. They never read the clock and
/// never decide whether a token is expired; they return expired records like any other,
/// so that callers can tell `Token has expired` from `Invalid token`. Policy lives in
/// [`TokenAuth`](crate::TokenAuth), written once for every store.
///
/// Every lookup on the authentication path goes through
/// [`find_by_digest`](Self::find_by_digest) and every revocation through
/// [`delete`](Self::delete), so a cache that wraps a store and implements this trait
/// can stay coherent with revocation without changing any caller.
///
/// A store is done when it passes the conformance suite
/// (feature `testing`: [`token_store_conformance!`](crate::token_store_conformance)).
pub trait TokenStore: Send + Sync + 'static {
    /// What can go wrong in the backend.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Saves a new record. Ids and digests are unique; inserting a duplicate of either
    /// is an error and leaves the store unchanged.
    fn insert(&self, record: &TokenRecord) -> impl Future<Output = Result<(), Self::Error>> + Send;

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

    /// Deletes the record with this id; `true` if there was one.
    fn delete(&self, id: &TokenId) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}
