//! Listing and revoking tokens, and the one place that reports what ended.

use crate::error::BackendError;
use crate::events::{AuthEvent, RevokeReason};
use crate::record::{TokenInfo, TokenRecord};
use crate::revocation::Revocation;
use crate::service::TokenAuth;
use crate::store::{Ended, TokenStore};
use crate::token::TokenId;
use crate::user::{AuthUser, UserDirectory, UserId};

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// Every stored token of one user, or of everyone, oldest first, whether it works
    /// or not.
    pub async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenInfo>, BackendError> {
        let records = self.in_store(self.store.list(user)).await?;
        Ok(records.iter().map(|r| self.info(r)).collect())
    }

    /// The tokens that still work for `user`, oldest first: what a "sessions" page
    /// shows. The same rule as authentication ([`status`](Self::status)).
    pub async fn sessions<U: AuthUser>(&self, user: &U) -> Result<Vec<TokenInfo>, BackendError> {
        let records = self.in_store(self.store.list(Some(&user.id()))).await?;
        Ok(records
            .iter()
            .filter(|r| self.status(r, Some(user)).is_valid())
            .map(|r| self.info(r))
            .collect())
    }

    /// Revokes a token by id (for administrators); `true` if it existed. It stops
    /// working at once.
    #[tracing::instrument(name = "tokenauth.revoke", skip_all, fields(token_id = %id))]
    pub async fn revoke(&self, id: &TokenId) -> Result<bool, BackendError> {
        self.revoke_with(id, RevokeReason::ById).await
    }

    /// Revokes one of `user`'s own tokens by id; `false` if `user` has no such token
    /// (whether it does not exist or belongs to someone else).
    pub async fn revoke_own(&self, user: &UserId, id: &TokenId) -> Result<bool, BackendError> {
        let record = self.in_store(self.store.find_by_id(id)).await?;
        let Some(record) = record.filter(|r| &r.user_id == user) else {
            return Ok(false);
        };
        // A token never changes hands, so deleting by id now deletes `user`'s token.
        self.delete_announced(id, Some(record), RevokeReason::ById).await
    }

    /// Revokes the token a request presented (logout).
    pub async fn logout(&self, token: &TokenInfo) -> Result<(), BackendError> {
        self.revoke_with(&token.id, RevokeReason::Logout).await?;
        Ok(())
    }

    /// Revokes `token`, given in plaintext: by whoever holds it (RFC 7009 revocation),
    /// or by an operator holding a leaked one. What it was, if it was stored, whether
    /// it still worked or had expired. Text that is not a well-formed token names
    /// none: `None`, without a store lookup. Announced as logout's are
    /// ([`RevokeReason::ByValue`]).
    ///
    /// ```
    /// # use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenAuth, TokenRequest};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let users = MemoryUserDirectory::new();
    /// let alice = users.add_user("alice", "correct horse", true).await?;
    /// let auth = TokenAuth::new(MemoryStore::new(), users);
    /// let issued = auth.issue(&alice, TokenRequest::default()).await?;
    ///
    /// let revoked = auth.revoke_by_value(issued.token.expose_secret()).await?;
    /// assert_eq!(revoked.map(|info| info.id), Some(issued.info.id));
    /// assert!(auth.authenticate(issued.token.expose_secret(), None).await.is_err());
    /// assert!(auth.revoke_by_value(issued.token.expose_secret()).await?.is_none()); // gone already
    /// # Ok(()) }
    /// ```
    #[tracing::instrument(name = "tokenauth.revoke_by_value", skip_all)]
    pub async fn revoke_by_value(&self, token: &str) -> Result<Option<TokenInfo>, BackendError> {
        let Some(digest) = self.config.format.digest_if_well_formed(token) else {
            return Ok(None);
        };
        // The store itself, not a cache: a deletion decides on what is stored.
        let record = self.in_store(self.store.find_by_digest(&digest)).await?;
        // Whatever the store's collation matched, only this digest counts.
        let Some(record) = record.filter(|record| record.digest == digest) else {
            return Ok(None);
        };
        let info = self.info(&record);
        let found = self
            .delete_announced(&info.id, Some(record), RevokeReason::ByValue)
            .await?;
        Ok(found.then_some(info))
    }

    async fn revoke_with(&self, id: &TokenId, reason: RevokeReason) -> Result<bool, BackendError> {
        let record = self.in_store(self.store.find_by_id(id)).await?;
        self.delete_announced(id, record, reason).await
    }

    /// Deletes token `id` (read just before as `asked`) and announces it, whether or not
    /// this call's delete is the one that removed it: a delete that a driver resent
    /// after a lost reply (redis-rs does, on a cluster's response timeout) ran twice,
    /// and the second run, which answers, finds nothing. Announcing only what the
    /// answer reports would then leave every listener unaware that the token is gone.
    async fn delete_announced(
        &self,
        id: &TokenId,
        asked: Option<TokenRecord>,
        reason: RevokeReason,
    ) -> Result<bool, BackendError> {
        let deleted = self.in_store(self.store.delete(id)).await?;
        let ended = deleted.or_else(|| asked.as_ref().map(Ended::from));
        let found = ended.is_some();
        self.ended(ended.into_iter().collect(), |_| reason);
        Ok(found)
    }

    /// Deletes every token of a user, for `reason` ([`RevokeReason::LogoutAll`] for
    /// "log out everywhere"); how many. To also end tokens being issued at this very
    /// moment, use [`revoke_everything`](Self::revoke_everything), which changes the
    /// user's credential version.
    pub async fn revoke_user_tokens(
        &self,
        user: &UserId,
        reason: RevokeReason,
    ) -> Result<usize, BackendError> {
        let ended = self.in_store(self.store.delete_for_user(user, None)).await?;
        let count = ended.len();
        if ended.is_empty() {
            // Nothing reported is not nothing deleted: a delete resent after a lost
            // reply reports nothing, its first run having deleted everything. Listeners
            // drop every token of the user.
            self.signal(Revocation::User(user.clone()));
        }
        self.ended(ended, |_| reason);
        Ok(count)
    }

    /// Reports tokens the store deleted: an `AuthEvent::Revoked` each, and one
    /// [`Revocation`] for the listeners. The one place a deletion is announced.
    pub(crate) fn ended(&self, ended: Vec<Ended>, reason: impl Fn(&TokenId) -> RevokeReason) {
        if ended.is_empty() {
            return;
        }
        for token in &ended {
            self.emit(AuthEvent::Revoked {
                token_id: token.id.clone(),
                user_id: token.user_id.clone(),
                reason: reason(&token.id),
            });
        }
        self.signal(Revocation::Tokens(ended));
    }

    /// Tells tokenauth that something about `user` changed outside it, in your own users
    /// table (deactivated, deleted, a new password or credential version): the cache
    /// ([`with_cache`](Self::with_cache)) drops the user and their tokens at once, and a
    /// [`Publisher`](crate::Publisher) among the revocation listeners tells the other
    /// processes. Changes made through this service (`set_active`, `set_password`,
    /// `delete_user`...) need no call; without a cache or listener this does nothing.
    ///
    /// Until it is called, a caching service may serve the user as they were for the
    /// cache's TTL.
    ///
    /// ```
    /// # use tokenauth_core::{AuthCache, MemoryStore, MemoryUserDirectory, TokenAuth, UserId};
    /// # use tokenauth_core::store::UserAdmin;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let members = MemoryUserDirectory::new(); // your own table, in this example
    /// let auth = TokenAuth::new(MemoryStore::new(), members.clone()).with_cache(AuthCache::default());
    /// # let alice = members.add_user("alice", "pw", true).await?;
    /// // Your code deactivates alice in its own table, then tells tokenauth.
    /// members.set_active(&alice, false).await?;
    /// auth.user_changed(&alice);
    /// # Ok(()) }
    /// ```
    pub fn user_changed(&self, user: &UserId) {
        self.signal(Revocation::User(user.clone()));
    }

    /// Tells every revocation listener.
    pub(crate) fn signal(&self, revocation: Revocation) {
        for listener in self.listeners.iter() {
            listener.revoked(&revocation);
        }
    }
}
