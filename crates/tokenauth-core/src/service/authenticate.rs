//! The authenticate path, and the one rule that decides whether a token works.

use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::error::AuthError;
use crate::events::AuthEvent;
use crate::record::{TokenInfo, TokenRecord};
use crate::service::{TokenAuth, Verified};
use crate::store::{PrefetchedUser, TokenStore};
use crate::token::TokenDigest;
use crate::user::{AuthUser, UserDirectory, UserId};
use crate::verdict::TokenStatus;

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// Authenticates an `Authorization` header value: `Ok(None)` when it carries no
    /// credentials for this scheme (anonymous). `ip` is the client's address, when
    /// known, recorded as the token's last-used address.
    pub async fn authenticate_header(
        &self,
        header: Option<&[u8]>,
        ip: Option<IpAddr>,
    ) -> Result<Option<Verified<D::User>>, AuthError> {
        match self.token_from_header(header) {
            Ok(Some(token)) => self.authenticate(token, ip).await.map(Some),
            Ok(None) => Ok(None),
            Err(error) => {
                self.report_authentication(crate::AuthOutcome::Malformed);
                Err(error)
            }
        }
    }

    /// Authenticates a token. The checks run in the original's order: unknown token
    /// (or revoked, or issued under an older credential version), then inactive or
    /// deleted user, then expiry ([`TokenStatus`]). A successful use is recorded in
    /// memory, not written: see [`flush_usage`](Self::flush_usage).
    #[tracing::instrument(
        name = "tokenauth.authenticate",
        level = "debug",
        skip_all,
        err(level = "debug", Display)
    )]
    pub async fn authenticate(
        &self,
        token: &str,
        ip: Option<IpAddr>,
    ) -> Result<Verified<D::User>, AuthError> {
        let verdict = self.use_token(token, ip).await;
        self.report_authentication(crate::AuthOutcome::of(&verdict));
        verdict
    }

    /// [`authenticate`](Self::authenticate), unreported.
    async fn use_token(&self, token: &str, ip: Option<IpAddr>) -> Result<Verified<D::User>, AuthError> {
        let judged = self.judge(token).await?;
        if let TokenStatus::Expired { .. } = judged.status {
            self.emit(AuthEvent::ExpiredRejected {
                token_id: judged.record.id.clone(),
                user_id: judged.record.user_id.clone(),
            });
        }
        judged.status.check()?;
        let user = judged.user.ok_or(AuthError::UserInactive)?;
        let latest = self.record_use(&judged.record, judged.now, ip);
        Ok(Verified {
            user,
            token: self.info_with(&judged.record, latest_of(&judged.record, Some(latest))),
        })
    }

    /// The verdict [`authenticate`](Self::authenticate) would give on `token`, for
    /// someone who asks about a token rather than uses it (RFC 7662 introspection): no
    /// use is recorded, so the token's last use, and with it a sliding expiry, stay as
    /// they were, and no event is emitted. The expiry it reports counts the uses not
    /// yet written, as authentication does.
    ///
    /// ```
    /// # use tokenauth_core::{Lifespan, ManualClock, MemoryStore, MemoryUserDirectory, TokenAuth, TokenRequest};
    /// # use tokenauth_core::time::{Duration, macros::datetime};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
    /// let users = MemoryUserDirectory::new();
    /// let alice = users.add_user("alice", "correct horse", true).await?;
    /// let auth = TokenAuth::new(MemoryStore::new(), users)
    ///     .with_clock(clock.clone())
    ///     .with_idle_timeout(Some("1h".parse::<Lifespan>()?));
    /// let issued = auth.issue(&alice, TokenRequest::default()).await?;
    ///
    /// clock.advance(Duration::minutes(50));
    /// let seen = auth.inspect(issued.token.expose_secret()).await?;
    /// assert_eq!(seen.token.last_used, None); // not a use
    /// clock.advance(Duration::minutes(20)); // idle for 70 minutes
    /// assert!(auth.inspect(issued.token.expose_secret()).await.is_err());
    /// # Ok(()) }
    /// ```
    #[tracing::instrument(
        name = "tokenauth.inspect",
        level = "debug",
        skip_all,
        err(level = "debug", Display)
    )]
    pub async fn inspect(&self, token: &str) -> Result<Verified<D::User>, AuthError> {
        let judged = self.judge(token).await?;
        judged.status.check()?;
        let user = judged.user.ok_or(AuthError::UserInactive)?;
        Ok(Verified {
            user,
            token: self.info_with(&judged.record, latest_of(&judged.record, judged.buffered)),
        })
    }

    /// Looks `token` up and judges it, recording nothing. The checks run in the
    /// original's order: unknown token, then its user, then expiry.
    async fn judge(&self, token: &str) -> Result<Judged<D::User>, AuthError> {
        // Garbage never reaches the store.
        let digest = self
            .config
            .format
            .digest_if_well_formed(token)
            .ok_or(AuthError::InvalidToken)?;
        // The buffer first, then the store: a use cleared from the buffer has been
        // written, so a store read that starts later sees it. The other order can miss
        // a use in both places while a flush lands, and refuse a live token once.
        let buffered = self.usage.latest(&digest);
        // One reading of the clock for the whole check, lookups included.
        let now = self.clock.now();
        // The user comes with the token where the store reads both at once.
        let (record, prefetched) = self
            .find_record(&digest, now)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let user = self.find_user(&record.user_id, now, prefetched).await?;
        // `Option`'s order puts `None` first: the later of the two uses.
        let last_used = record.last_used.max(buffered.map(|(at, _)| at));
        let status = TokenStatus::of(&self.config.policy, &record, user.as_ref(), last_used, now);
        Ok(Judged {
            record,
            user,
            buffered,
            status,
            now,
        })
    }

    /// The record with `digest`, as the store answers authentication at `now`, and
    /// its user if the store read it too.
    async fn find_record(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Option<(Arc<TokenRecord>, PrefetchedUser)>, AuthError> {
        Ok(self
            .in_store(self.store.find_with_user_to_authenticate(digest, now))
            .await?)
    }

    /// The user `id`, as the directory answers authentication at `now`, from what the
    /// store prefetched where the directory can.
    async fn find_user(
        &self,
        id: &UserId,
        now: OffsetDateTime,
        prefetched: PrefetchedUser,
    ) -> Result<Option<D::User>, AuthError> {
        Ok(self
            .in_users(
                self.users
                    .find_prefetched_user_to_authenticate(id, now, prefetched),
            )
            .await?)
    }

    /// Whether `record` works now for `user` (its user as the directory has it, `None`
    /// if gone), counting uses not yet written: the rule authentication applies, for
    /// lists and administrators.
    pub fn status<U: AuthUser>(&self, record: &TokenRecord, user: Option<&U>) -> TokenStatus {
        let (last_used, _) = self.latest_use(record);
        TokenStatus::of(&self.config.policy, record, user, last_used, self.clock.now())
    }

    /// Whether `record` is live (not expired) at `now`, counting uses not yet written.
    pub(crate) fn is_live(&self, record: &TokenRecord, now: OffsetDateTime) -> bool {
        let (last_used, _) = self.latest_use(record);
        now <= self.config.policy.expires_at(record, last_used)
    }

    /// The freshest use known here, when and from where: the record's, or a newer one
    /// not yet written.
    fn latest_use(&self, record: &TokenRecord) -> (Option<OffsetDateTime>, Option<IpAddr>) {
        latest_of(record, self.usage.latest(&record.digest))
    }

    /// Records a use; the token's latest use not yet written, this one included.
    fn record_use(
        &self,
        record: &TokenRecord,
        now: OffsetDateTime,
        ip: Option<IpAddr>,
    ) -> (OffsetDateTime, Option<IpAddr>) {
        let recorded = self.usage.record(record, now, ip);
        if let Some(ip) = ip {
            let previous = recorded.previous_ip.or(record.last_ip);
            if previous != Some(ip) {
                self.emit(AuthEvent::UsedFromNewIp {
                    token_id: record.id.clone(),
                    user_id: record.user_id.clone(),
                    ip,
                    previous,
                });
            }
        }
        if recorded.first_in_window && self.config.policy.idle_timeout().is_some() {
            self.emit(AuthEvent::Renewed {
                token_id: record.id.clone(),
                user_id: record.user_id.clone(),
                until: self.config.policy.expires_at(record, Some(now)),
            });
        }
        recorded.latest
    }

    /// The public view of a record under the current policy, with its latest use
    /// (including uses not yet written). Its scopes are those the service still grants:
    /// a scope removed from [`with_scopes`](Self::with_scopes) stops working on every
    /// token, as a lowered lifespan does.
    pub fn info(&self, record: &TokenRecord) -> TokenInfo {
        self.info_with(record, self.latest_use(record))
    }

    fn info_with(
        &self,
        record: &TokenRecord,
        (last_used, last_ip): (Option<OffsetDateTime>, Option<IpAddr>),
    ) -> TokenInfo {
        TokenInfo {
            id: record.id.clone(),
            user_id: record.user_id.clone(),
            name: record.name.clone(),
            scopes: record.scopes.intersection(&self.config.grantable),
            created: record.created,
            expires: self.config.policy.expires_at(record, last_used),
            last_used,
            last_ip,
        }
    }
}

/// A token as looked up and judged at `now`, before anything is recorded.
struct Judged<U> {
    record: Arc<TokenRecord>,
    /// Its user, `None` if deleted.
    user: Option<U>,
    /// Its latest use not yet written, if any.
    buffered: Option<(OffsetDateTime, Option<IpAddr>)>,
    status: TokenStatus,
    now: OffsetDateTime,
}

/// The freshest use of `record`: its stored one, or `buffered` (a use not yet written)
/// when that is at least as recent.
fn latest_of(
    record: &TokenRecord,
    buffered: Option<(OffsetDateTime, Option<IpAddr>)>,
) -> (Option<OffsetDateTime>, Option<IpAddr>) {
    match buffered {
        Some((at, ip)) if record.last_used.is_none_or(|stored| at >= stored) => {
            (Some(at), ip.or(record.last_ip))
        }
        _ => (record.last_used, record.last_ip),
    }
}
