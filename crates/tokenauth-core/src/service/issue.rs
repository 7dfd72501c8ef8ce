//! Issuing tokens: login, issue by an administrator, and the policy that decides what
//! a new token does to the user's others (the limit, `replace`, the cap on rows).

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::error::{BackendError, IssueError, ObtainError};
use crate::events::{AuthEvent, LoginOutcome, RevokeReason};
use crate::expiry::{Lifespan, saturating_add};
use crate::password::PasswordError;
use crate::record::{TokenInfo, TokenRecord};
use crate::scope::Scopes;
use crate::service::{Contention, Issued, MAX_ATTEMPTS, ObtainPolicy, OnLimit, TokenAuth};
use crate::store::{Change, Committed, TokenStore};
use crate::token::TokenId;
use crate::user::{AuthUser, LoginRecord, UserDirectory, UserId};

/// What a client asks for when it obtains a token, and where it asks from. Everything
/// is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRequest {
    /// The client's address, if known: reported in the login events
    /// ([`AuthEvent::LoginSucceeded`], [`AuthEvent::LoginFailed`]).
    pub client_ip: Option<IpAddr>,
    /// A label: the client or device.
    pub name: Option<String>,
    /// A lifespan shorter than the configured one.
    pub lifespan: Option<Lifespan>,
    /// Scopes; `None` gets every grantable scope.
    pub scopes: Option<Scopes>,
}

/// The outcome of checking a username and password.
pub(crate) enum Login<U> {
    /// The active user with that password.
    Valid(U),
    /// Refused; `known` if the username names a user.
    Refused { known: bool },
}

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// Trades a username and password for a new token, under the obtain policy
    /// ([`ObtainPolicy`]) and the per-user limit. Unknown users, wrong passwords and
    /// inactive users all get [`ObtainError::InvalidCredentials`], after the same
    /// password work.
    ///
    /// What does not depend on the user (the lifespan and scopes asked for) is checked
    /// first, before the password: a request that fails those checks gets the same
    /// answer whether its password is right or wrong, so it cannot serve as a password
    /// oracle. A login that succeeds is an [`AuthEvent::LoginSucceeded`]; one refused
    /// for its credentials an [`AuthEvent::LoginFailed`]; both carry
    /// [`TokenRequest::client_ip`].
    ///
    /// When the password hasher's queue is full ([`PasswordHasher::with_queue`]), the
    /// login fails at once with [`ObtainError::Busy`], and no event fires.
    ///
    /// A correct password stored with outdated hashing parameters is hashed again and
    /// stored ([`UserDirectory::rehash_password`]).
    ///
    /// `username` is matched exactly; the HTTP endpoint trims it first, as DRF does.
    ///
    /// [`PasswordHasher::with_queue`]: crate::PasswordHasher::with_queue
    #[tracing::instrument(name = "tokenauth.obtain", skip_all)]
    pub async fn obtain(
        &self,
        username: &str,
        password: &str,
        request: TokenRequest,
    ) -> Result<Issued, ObtainError> {
        self.check_request(request.lifespan, request.scopes.clone())?;
        let ip = request.client_ip;
        let failed = |known: bool| {
            self.report_login(LoginOutcome::Failed);
            self.emit(AuthEvent::LoginFailed {
                username: known.then(|| username.to_owned()),
                ip,
            });
            ObtainError::InvalidCredentials
        };
        let user = match self.verify_password(username, password).await {
            Ok(Login::Valid(user)) => user,
            Ok(Login::Refused { known }) => return Err(failed(known)),
            Err(error) => {
                if let ObtainError::Busy { .. } = error {
                    self.report_login(LoginOutcome::Busy);
                }
                return Err(error);
            }
        };
        let mode = self.config.obtain_policy;
        // The password may change while this login runs: the token is issued only if
        // the credential version verified is still the user's when it is committed.
        match self
            .issue_as(&user.id(), Some(user.credential_version()), request, mode)
            .await
        {
            Ok(issued) => {
                self.report_login(LoginOutcome::Ok);
                self.emit(AuthEvent::LoginSucceeded {
                    user_id: user.id(),
                    ip,
                });
                Ok(issued)
            }
            Err(IssueError::CredentialsChanged) => Err(failed(true)),
            Err(error) => Err(error.into()),
        }
    }

    /// Whether `password` is the password of the active user named `username`.
    ///
    /// One password verification runs whatever the outcome: against a dummy hash for
    /// an unknown user or an unusable stored hash, against the real one for an
    /// inactive user, and a wrong password costs at least the dummy's work
    /// ([`PasswordHasher::check`](crate::PasswordHasher::check)), so that response
    /// times do not tell them apart.
    pub(crate) async fn verify_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Login<D::User>, ObtainError> {
        let found = self.in_users(self.users.find_login(username)).await?;
        let known = found.is_some();
        let hash = found.as_ref().map(|login| login.password_hash.as_str());
        let verification = match self.hasher.check(password, hash).await {
            Ok(verification) => verification,
            Err(error) if error.is_unusable() => {
                // A hash nobody can match (malformed, or over the caps), checked after
                // the dummy's work: this user cannot log in until it is reset. The
                // error names the algorithm and parameter, never the hash.
                tracing::warn!(%error, "stored password hash is unusable");
                return Ok(Login::Refused { known });
            }
            Err(PasswordError::Busy { retry_after }) => return Err(ObtainError::Busy { retry_after }),
            Err(error) => return Err(BackendError::new(error).into()),
        };
        let Some(mut login) = found.filter(|_| verification.matches) else {
            return Ok(Login::Refused { known });
        };
        if verification.outdated {
            login = self.rehash(login, username, password).await;
        }
        Ok(match Some(login.user).filter(AuthUser::is_active) {
            Some(user) => Login::Valid(user),
            None => Login::Refused { known },
        })
    }

    /// Stores `password` hashed with current parameters in place of `login`'s hash, then
    /// the login to go on with: `login` itself, or the user as it is now if its
    /// credential version changed with the hash. A failure is logged, not fatal: the
    /// old hash still works.
    ///
    /// A directory may derive the version from the stored hash (Django's): the re-hash,
    /// this login's or a concurrent login's of the same password, then gives the user a
    /// new version, and the login goes on under it if the hash stored now is this
    /// password's. A hash of another password (a real change meanwhile) leaves the
    /// login with the version it verified, and the issue's version check refuses it.
    async fn rehash(
        &self,
        login: LoginRecord<D::User>,
        username: &str,
        password: &str,
    ) -> LoginRecord<D::User> {
        let id = login.user.id();
        let written = self.store_rehash(&id, &login.password_hash, password).await;
        let now = match self.in_users(self.users.find_login(username)).await {
            Ok(Some(now)) if now.user.id() == id => now,
            Ok(_) => return login,
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "reading a re-hashed user failed"
                );
                return login;
            }
        };
        if now.user.credential_version() == login.user.credential_version() {
            return login;
        }
        if written.as_deref() == Some(now.password_hash.as_str()) {
            return now;
        }
        // Re-hashed by a concurrent login, or changed: only the password can tell.
        match self.hasher.check(password, Some(&now.password_hash)).await {
            Ok(verification) if verification.matches => now,
            _ => login,
        }
    }

    /// Stores `password` hashed with current parameters in place of `old_hash`; the
    /// hash written, if it was.
    async fn store_rehash(&self, id: &UserId, old_hash: &str, password: &str) -> Option<String> {
        let outcome = match self.hasher.hash(password).await {
            Ok(new_hash) => self
                .in_users(self.users.rehash_password(id, old_hash, &new_hash))
                .await
                .map(|done| done.then_some(new_hash)),
            Err(error) => Err(BackendError::new(error)),
        };
        match outcome {
            Ok(written) => {
                if written.is_some() {
                    tracing::debug!(user_id = %id, "password re-hashed with current parameters");
                }
                written
            }
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "re-hashing a password failed"
                );
                None
            }
        }
    }

    /// Issues a token to a user without checking a password (for administrators and
    /// trusted code), under the user's current credential version. The per-user limit
    /// applies; the obtain policy does not.
    #[tracing::instrument(name = "tokenauth.issue", skip_all, fields(user_id = %user_id))]
    pub async fn issue(&self, user_id: &UserId, request: TokenRequest) -> Result<Issued, IssueError> {
        self.issue_as(user_id, None, request, ObtainPolicy::New).await
    }

    /// Issues a personal token (GitHub's personal access tokens, Sanctum's API tokens)
    /// to `user`, at the request of a client authenticated with `presented`, its token:
    /// as a login issues one, but with no password, so the token asking is the proof.
    ///
    /// - Scopes: those asked for, each of which `presented` must carry (else
    ///   [`IssueError::ScopeNotHeld`]: a token cannot mint a broader one) and the service
    ///   grant (else [`IssueError::ScopeNotGrantable`], checked first); without a request,
    ///   `presented`'s own.
    /// - Lifespan: at most the configured one ([`IssueError::LifespanTooLong`]), as for
    ///   a login. It may outlive `presented`.
    /// - The per-user limit applies; the obtain policy does not (the user's other
    ///   tokens are kept).
    /// - Issued under the credential version `user` was authenticated with: if the
    ///   password changed meanwhile, nothing is issued
    ///   ([`IssueError::CredentialsChanged`]), so a token that a password change ended
    ///   cannot leave a successor behind.
    /// - A store that keeps one token per user, or no names
    ///   ([`Capabilities`](crate::store::Capabilities)), cannot hold one:
    ///   [`IssueError::PersonalTokensUnsupported`].
    ///
    /// An [`AuthEvent::Issued`] reports it, as for every token.
    #[tracing::instrument(name = "tokenauth.issue_personal", skip_all, fields(token_id = %presented.id))]
    pub async fn issue_personal(
        &self,
        user: &D::User,
        presented: &TokenInfo,
        mut request: TokenRequest,
    ) -> Result<Issued, IssueError> {
        let holds = self.store.capabilities();
        if !holds.several_tokens_per_user || !holds.names {
            return Err(IssueError::PersonalTokensUnsupported);
        }
        let scopes = request
            .scopes
            .get_or_insert_with(|| presented.scopes.clone())
            .clone();
        self.check_request(request.lifespan, Some(scopes.clone()))?;
        if let Some(scope) = scopes.first_missing_from(&presented.scopes) {
            return Err(IssueError::ScopeNotHeld {
                scope: scope.to_owned(),
            });
        }
        let version = Some(user.credential_version());
        self.issue_as(&user.id(), version, request, ObtainPolicy::New)
            .await
    }

    /// Issues a token to `user_id`, under credential version `verified` if given (it
    /// must still be the user's), applying the limit, `replace` or `reuse` atomically
    /// through the store's compare-and-swap.
    async fn issue_as(
        &self,
        user_id: &UserId,
        verified: Option<u64>,
        mut request: TokenRequest,
        mode: ObtainPolicy,
    ) -> Result<Issued, IssueError> {
        if mode == ObtainPolicy::Reuse {
            // One token shared by all the user's clients: nothing of one login's own.
            request.name = None;
            request.lifespan = None;
        }
        let (lifespan, scopes) = self.check_request(request.lifespan, request.scopes)?;
        let token = self.config.format.generate();
        let id = TokenId::generate();
        for _ in 0..MAX_ATTEMPTS {
            // The set first, then the user: a token of a newer credential version in
            // the set read implies a user read that sees that version too.
            let set = self.in_store(self.store.token_set(user_id)).await?;
            let user = self.in_users(self.users.find_user(user_id)).await?;
            let version = user.as_ref().map_or(0, AuthUser::credential_version);
            if verified.is_some_and(|verified| user.is_none() || verified != version) {
                return Err(IssueError::CredentialsChanged);
            }
            let created = self.clock.now();
            if mode == ObtainPolicy::Reuse
                && let Some(reused) = self.reusable(&set.records, version, created)
            {
                return Ok(reused);
            }
            let replace = mode != ObtainPolicy::New;
            let doomed = match self.make_room(&set.records, version, created, replace) {
                Ok(doomed) => doomed,
                Err(max) => {
                    self.emit(AuthEvent::LimitReached {
                        user_id: user_id.clone(),
                        max,
                        rejected: true,
                    });
                    return Err(IssueError::LimitReached { max });
                }
            };
            let record = TokenRecord {
                id: id.clone(),
                digest: token.digest(),
                user_id: user_id.clone(),
                credential_version: version,
                name: request.name.clone(),
                scopes: scopes.clone(),
                created,
                expires: lifespan.map(|l| saturating_add(created, l.as_duration())),
                last_used: None,
                last_ip: None,
            };
            let mut info = self.info(&record);
            let change = Change {
                delete: doomed.iter().map(|(id, _)| id.clone()).collect(),
                insert: Some(record),
            };
            let ended = match self
                .in_store(self.store.commit(user_id, set.version, change))
                .await?
            {
                Committed::Applied { ended } => ended,
                Committed::Conflict => continue,
            };
            // A store that chooses its own ids (DRF's derives one from the key) knows
            // the token by that one: it is the one to report and to withdraw by.
            let id = if self.store.capabilities().given_ids {
                id.clone()
            } else {
                let stored = self.in_store(self.store.find_by_digest(&token.digest())).await?;
                stored.map_or_else(|| id.clone(), |stored| stored.id)
            };
            info.id = id.clone();
            if doomed.iter().any(|(_, reason)| *reason == RevokeReason::Evicted) {
                self.emit(AuthEvent::LimitReached {
                    user_id: user_id.clone(),
                    max: self.config.token_limit.map_or(0, |l| l.max()),
                    rejected: false,
                });
            }
            self.ended(ended, |id| {
                doomed
                    .iter()
                    .find(|(doomed, _)| doomed == id)
                    .map_or(RevokeReason::Evicted, |(_, reason)| *reason)
            });
            if let Some(verified) = verified {
                // A password change that landed between the check above and the commit
                // left a token of the old version: withdraw it rather than hand out a
                // token that cannot work.
                let now = self.in_users(self.users.find_user(user_id)).await?;
                if now.is_none_or(|u| u.credential_version() != verified) {
                    let withdrawn = self.in_store(self.store.delete(&id)).await?;
                    self.ended(withdrawn.into_iter().collect(), |_| RevokeReason::PasswordChanged);
                    return Err(IssueError::CredentialsChanged);
                }
            }
            self.emit(AuthEvent::Issued {
                token_id: id.clone(),
                user_id: user_id.clone(),
                name: info.name.clone(),
            });
            return Ok(Issued { token, info });
        }
        Err(IssueError::Backend(BackendError::new(Contention)))
    }

    /// The user's live token of credential `version` whose key the store can give
    /// back ([`ObtainPolicy::Reuse`]), as issued again: the newest one.
    fn reusable(&self, records: &[TokenRecord], version: u64, now: OffsetDateTime) -> Option<Issued> {
        records
            .iter()
            .rev()
            .filter(|r| r.credential_version == version && self.is_live(r, now))
            .find_map(|r| {
                let token = r.digest.drf_key()?;
                Some(Issued {
                    token,
                    info: self.info(r),
                })
            })
    }

    /// The requested lifespan and scopes, checked against the configuration.
    fn check_request(
        &self,
        lifespan: Option<Lifespan>,
        scopes: Option<Scopes>,
    ) -> Result<(Option<Lifespan>, Scopes), IssueError> {
        let max = self.config.policy.lifespan();
        if let Some(lifespan) = lifespan.filter(|l| *l > max) {
            tracing::debug!(%lifespan, "requested lifespan too long");
            return Err(IssueError::LifespanTooLong { max });
        }
        let grantable = &self.config.grantable;
        let scopes = match scopes {
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
        Ok((lifespan, scopes))
    }

    /// The policy, decided once for every store: which of the user's `records` (oldest
    /// first) a new token issued at `now` under credential `version` deletes, and why;
    /// or the refusal of [`OnLimit::Reject`] (`Err` with the limit).
    ///
    /// - Tokens of another credential version are dead for good: deleted.
    /// - `replace`: every other token is deleted.
    /// - With a limit of `max` live tokens: at the limit, the oldest live ones are
    ///   evicted (or the token refused); tokens kept alive by uses not yet written
    ///   count as live.
    /// - The cap on rows ([`TokenLimit::max_rows`](crate::TokenLimit::max_rows)): the
    ///   oldest expired tokens beyond it are deleted, so that clients asking for short
    ///   lifespans cannot pile up rows until the purge.
    fn make_room(
        &self,
        records: &[TokenRecord],
        version: u64,
        now: OffsetDateTime,
        replace: bool,
    ) -> Result<Vec<(TokenId, RevokeReason)>, usize> {
        let mut doomed = Vec::new();
        let mut kept = Vec::with_capacity(records.len());
        for record in records {
            if record.credential_version == version && !replace {
                kept.push(record);
            } else if record.credential_version == version {
                doomed.push((record.id.clone(), RevokeReason::Replaced));
            } else {
                doomed.push((record.id.clone(), RevokeReason::PasswordChanged));
            }
        }
        let Some(limit) = self.config.token_limit else {
            return Ok(doomed);
        };
        let (live, expired): (Vec<&TokenRecord>, Vec<&TokenRecord>) =
            kept.into_iter().partition(|r| self.is_live(r, now));
        let excess = (live.len() + 1).saturating_sub(limit.max());
        if excess > 0 && limit.on_limit() == OnLimit::Reject {
            return Err(limit.max());
        }
        doomed.extend(
            live.iter()
                .take(excess)
                .map(|r| (r.id.clone(), RevokeReason::Evicted)),
        );
        // Rows left with the new one: the live ones kept, the expired ones, and one.
        let rows = (live.len() - excess) + expired.len() + 1;
        let over_cap = rows.saturating_sub(limit.max_rows());
        doomed.extend(
            expired
                .iter()
                .take(over_cap)
                .map(|r| (r.id.clone(), RevokeReason::Pruned)),
        );
        Ok(doomed)
    }
}
