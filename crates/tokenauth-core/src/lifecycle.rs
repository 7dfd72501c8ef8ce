//! Issuing, listing and revoking tokens, and the background upkeep: last-used writes
//! and the purge of long-expired tokens.

use time::Duration;

use crate::auth::{Issued, ObtainPolicy, OnLimit, TokenAuth};
use crate::error::{BackendError, IssueError, ObtainError};
use crate::events::{AuthEvent, RevokeReason};
use crate::expiry::Lifespan;
use crate::record::{TokenInfo, TokenRecord};
use crate::scope::Scopes;
use crate::store::{Admission, Inserted, TokenStore};
use crate::token::TokenId;
use crate::user::{AuthUser, UserDirectory, UserId};

/// How long expired tokens are kept before the purge deletes them (7 days), so that
/// their clients keep hearing `Token has expired` rather than `Invalid token`.
pub const DEFAULT_PURGE_GRACE: Duration = Duration::days(7);

/// How many tokens one purge step deletes at most.
pub const DEFAULT_PURGE_BATCH: usize = 500;

/// How many last-used times one store write carries at most.
const USAGE_BATCH: usize = 500;

/// What a client asks for when it obtains a token. Everything is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRequest {
    /// A label: the client or device.
    pub name: Option<String>,
    /// A lifespan shorter than the configured one.
    pub lifespan: Option<Lifespan>,
    /// Scopes; `None` gets every grantable scope.
    pub scopes: Option<Scopes>,
}

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// Trades a username and password for a new token, under the obtain policy
    /// ([`ObtainPolicy`]) and the per-user limit. Unknown users, wrong passwords and
    /// inactive users all get [`ObtainError::InvalidCredentials`].
    ///
    /// `username` is matched exactly; the HTTP endpoint trims it first, as DRF does.
    #[tracing::instrument(name = "tokenauth.obtain", skip_all)]
    pub async fn obtain(
        &self,
        username: &str,
        password: &str,
        request: TokenRequest,
    ) -> Result<Issued, ObtainError> {
        let user = self
            .users
            .verify_credentials(username, password)
            .await
            .map_err(BackendError::new)?
            .filter(AuthUser::is_active)
            .ok_or(ObtainError::InvalidCredentials)?;
        // The password may change while this login runs. Checked again before issuing,
        // so that a stale login cannot replace or evict the tokens of a newer one...
        if self.password_changed_since(&user).await? {
            return Err(ObtainError::InvalidCredentials);
        }
        let replace = self.config.obtain_policy == ObtainPolicy::Replace;
        let issued = self
            .issue_to(&user.id(), user.password_changed(), request, replace)
            .await?;
        // ...and after, so that a token inserted just after the change cannot outlive it.
        if self.password_changed_since(&user).await? {
            let id = &issued.info.id;
            if self.store.delete(id).await.map_err(BackendError::new)?.is_some() {
                self.emit_revoked(vec![id.clone()], &user.id(), RevokeReason::PasswordChanged);
            }
            return Err(ObtainError::InvalidCredentials);
        }
        Ok(issued)
    }

    /// Whether `user`'s password changed (or the user went away) since `user` was read.
    async fn password_changed_since<U: AuthUser>(&self, user: &U) -> Result<bool, BackendError> {
        let now = self
            .users
            .find_user(&user.id())
            .await
            .map_err(BackendError::new)?;
        Ok(now.is_none_or(|u| u.password_changed() != user.password_changed()))
    }

    /// Issues a token to a user without checking a password (for administrators and
    /// trusted code). The per-user limit applies; the obtain policy does not.
    #[tracing::instrument(name = "tokenauth.issue", skip_all, fields(user_id = %user_id))]
    pub async fn issue(&self, user_id: &UserId, request: TokenRequest) -> Result<Issued, IssueError> {
        let user = self.users.find_user(user_id).await.map_err(BackendError::new)?;
        let password_changed = user.and_then(|u| u.password_changed());
        self.issue_to(user_id, password_changed, request, false).await
    }

    async fn issue_to(
        &self,
        user_id: &UserId,
        password_changed: Option<time::OffsetDateTime>,
        request: TokenRequest,
        replace: bool,
    ) -> Result<Issued, IssueError> {
        let policy = self.config.policy;
        if let Some(lifespan) = request.lifespan.filter(|l| *l > policy.lifespan()) {
            tracing::debug!(%lifespan, "requested lifespan too long");
            return Err(IssueError::LifespanTooLong {
                max: policy.lifespan(),
            });
        }
        let grantable = &self.config.grantable;
        let scopes = match request.scopes {
            None => grantable.clone(),
            Some(scopes) => match scopes.first_missing_from(grantable) {
                Some(scope) => {
                    return Err(IssueError::ScopeNotGrantable {
                        scope: scope.to_owned(),
                    });
                }
                None => scopes,
            },
        };

        let token = self.config.format.generate();
        let created = self.clock.now();
        let record = TokenRecord {
            id: TokenId::generate(),
            digest: token.digest(),
            user_id: user_id.clone(),
            name: request.name,
            scopes,
            created,
            expires: request.lifespan.map(|l| created + l.as_duration()),
            last_used: None,
            last_ip: None,
        };
        let limit = self.config.token_limit;
        if let (Some(_), Some(changed)) = (limit, password_changed) {
            // Tokens from before a password change are dead but still stored: delete
            // them, or they would count against the limit.
            self.revoke_tokens_issued_before(user_id, changed, RevokeReason::PasswordChanged)
                .await?;
        }
        let admission = match limit {
            _ if replace => Admission::Replace,
            None => Admission::Add,
            Some(limit) => {
                let (max_live, live) = (limit.max(), policy.live_at(created));
                // Idle liveness is judged by stored last-used times; tokens kept alive
                // by uses not written yet are named, so they count without a write.
                let recently_used = match live.used_since {
                    Some(since) => self.usage.used_since(user_id, since),
                    None => Vec::new(),
                };
                match limit.on_limit() {
                    OnLimit::EvictOldest => Admission::EvictOldest {
                        max_live,
                        live,
                        recently_used,
                    },
                    OnLimit::Reject => Admission::Reject {
                        max_live,
                        live,
                        recently_used,
                    },
                }
            }
        };
        let removed = match self
            .store
            .insert(&record, admission)
            .await
            .map_err(BackendError::new)?
        {
            Inserted::Stored { removed } => removed,
            Inserted::Rejected => {
                let max = limit.map_or(0, |l| l.max());
                self.emit(AuthEvent::LimitReached {
                    user_id: user_id.clone(),
                    max,
                    rejected: true,
                });
                return Err(IssueError::LimitReached { max });
            }
        };
        let reason = if replace {
            RevokeReason::Replaced
        } else {
            RevokeReason::Evicted
        };
        if let (RevokeReason::Evicted, Some(limit), false) = (reason, limit, removed.is_empty()) {
            self.emit(AuthEvent::LimitReached {
                user_id: user_id.clone(),
                max: limit.max(),
                rejected: false,
            });
        }
        self.emit_revoked(removed, user_id, reason);
        self.emit(AuthEvent::Issued {
            token_id: record.id.clone(),
            user_id: user_id.clone(),
            name: record.name.clone(),
        });
        Ok(Issued {
            token,
            info: self.info(&record),
        })
    }

    fn emit_revoked(&self, ids: Vec<TokenId>, user_id: &UserId, reason: RevokeReason) {
        for token_id in ids {
            self.emit(AuthEvent::Revoked {
                token_id,
                user_id: user_id.clone(),
                reason,
            });
        }
    }

    /// Every stored token of one user, or of everyone, oldest first, expired or not.
    pub async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenInfo>, BackendError> {
        let records = self.store.list(user).await.map_err(BackendError::new)?;
        Ok(records.iter().map(|r| self.info(r)).collect())
    }

    /// The tokens that still work for `user`, oldest first: what a "sessions" page
    /// shows.
    pub async fn sessions<U: AuthUser>(&self, user: &U) -> Result<Vec<TokenInfo>, BackendError> {
        let now = self.clock.now();
        let changed = user.password_changed();
        let records = self
            .store
            .list(Some(&user.id()))
            .await
            .map_err(BackendError::new)?;
        Ok(records
            .iter()
            .filter(|r| changed.is_none_or(|changed| r.created >= changed))
            .map(|r| self.info(r))
            .filter(|info| now <= info.expires)
            .collect())
    }

    /// Revokes a token by id (for administrators); `true` if it existed. It stops
    /// working at once.
    #[tracing::instrument(name = "tokenauth.revoke", skip_all, fields(token_id = %id))]
    pub async fn revoke(&self, id: &TokenId) -> Result<bool, BackendError> {
        let deleted = self.store.delete(id).await.map_err(BackendError::new)?;
        Ok(deleted.is_some_and(|user_id| {
            self.emit_revoked(vec![id.clone()], &user_id, RevokeReason::ById);
            true
        }))
    }

    /// Revokes one of `user`'s own tokens by id; `false` if `user` has no such token
    /// (whether it does not exist or belongs to someone else).
    pub async fn revoke_own(&self, user: &UserId, id: &TokenId) -> Result<bool, BackendError> {
        let record = self.store.find_by_id(id).await.map_err(BackendError::new)?;
        if record.is_none_or(|r| &r.user_id != user) {
            return Ok(false);
        }
        // A token never changes hands, so deleting by id now deletes `user`'s token.
        let deleted = self.store.delete(id).await.map_err(BackendError::new)?;
        if deleted.is_some() {
            self.emit_revoked(vec![id.clone()], user, RevokeReason::ById);
        }
        Ok(deleted.is_some())
    }

    /// Revokes the token a request presented (logout).
    pub async fn logout(&self, token: &TokenInfo) -> Result<(), BackendError> {
        if self
            .store
            .delete(&token.id)
            .await
            .map_err(BackendError::new)?
            .is_some()
        {
            self.emit_revoked(vec![token.id.clone()], &token.user_id, RevokeReason::Logout);
        }
        Ok(())
    }

    /// Revokes every token of a user, for `reason` ([`RevokeReason::LogoutAll`], or
    /// [`RevokeReason::PasswordChanged`] after a password change); how many.
    pub async fn revoke_user_tokens(
        &self,
        user: &UserId,
        reason: RevokeReason,
    ) -> Result<usize, BackendError> {
        let ids = self
            .store
            .delete_for_user(user, None)
            .await
            .map_err(BackendError::new)?;
        let count = ids.len();
        self.emit_revoked(ids, user, reason);
        Ok(count)
    }

    /// Revokes the tokens of `user` issued before `instant` (after a password change,
    /// with [`RevokeReason::PasswordChanged`]; tokens issued since are kept); how many.
    ///
    /// A token issued before the user's `password_changed` time already fails; this
    /// deletes it.
    pub async fn revoke_tokens_issued_before(
        &self,
        user: &UserId,
        instant: time::OffsetDateTime,
        reason: RevokeReason,
    ) -> Result<usize, BackendError> {
        let records = self.store.list(Some(user)).await.map_err(BackendError::new)?;
        let mut revoked = Vec::new();
        for record in records.into_iter().filter(|r| r.created < instant) {
            if self
                .store
                .delete(&record.id)
                .await
                .map_err(BackendError::new)?
                .is_some()
            {
                revoked.push(record.id);
            }
        }
        let count = revoked.len();
        self.emit_revoked(revoked, user, reason);
        Ok(count)
    }

    /// Writes the last-used times gathered since the previous flush, in batches; how
    /// many tokens were written. Uses that fail to write are kept for the next flush,
    /// and every use stays visible to authentication until its write has landed.
    pub async fn flush_usage(&self) -> Result<usize, BackendError> {
        let uses = self.usage.snapshot();
        for batch in uses.chunks(USAGE_BATCH) {
            self.store.record_usage(batch).await.map_err(BackendError::new)?;
            // Only now: until the write lands, authentication keeps reading these.
            self.usage.written(batch);
        }
        Ok(uses.len())
    }

    /// Last-used times not yet written.
    pub fn pending_usage(&self) -> usize {
        self.usage.len()
    }

    /// Deletes at most `batch` tokens that expired more than `grace` ago; how many.
    pub async fn purge_step(&self, grace: Duration, batch: usize) -> Result<usize, BackendError> {
        let dead = self.config.policy.live_at(self.clock.now() - grace);
        self.store.purge(&dead, batch).await.map_err(BackendError::new)
    }

    /// Deletes every token that expired more than `grace` ago, in steps of at most
    /// `batch`, calling `progress` with the running total after each step; the total.
    pub async fn purge(
        &self,
        grace: Duration,
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<usize, BackendError> {
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
}
