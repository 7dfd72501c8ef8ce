//! Administering users through [`UserAdmin`]: the decisions (hashing, whether a
//! password is new, which tokens a change ends), made once for every directory.

use crate::admin::UserAdmin;
use crate::error::BackendError;
use crate::events::RevokeReason;
use crate::revocation::Revocation;
use crate::service::{Contention, MAX_ATTEMPTS, TokenAuth};
use crate::store::{Change, Committed, TokenStore};
use crate::user::{AuthUser, User, UserId};

/// How many times [`TokenAuth::upsert_user`] decides again when a concurrent call
/// created or changed the same user first.
const MAX_UPSERT_ATTEMPTS: usize = 8;

/// What [`TokenAuth::upsert_user`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The user as stored now.
    pub user: User,
    /// Whether the user was created (`true`) or already existed (`false`).
    pub created: bool,
    /// Whether an existing user got a different password (a new credential version),
    /// so that its older tokens no longer work. `false` for a new user, and for an
    /// existing one given its current password.
    pub password_changed: bool,
    /// How many older tokens were deleted.
    pub revoked: usize,
}

impl<S: TokenStore, D: UserAdmin> TokenAuth<S, D> {
    /// Creates the user `username`, or, if it exists, sets its password and active flag
    /// (it keeps its id).
    ///
    /// - An existing user given a password other than its current one gets a new hash
    ///   and a new credential version in one write: every older token stops working
    ///   when it commits, and is deleted. A stored hash that cannot be read counts as a
    ///   different password.
    /// - An existing user given its current password keeps its hash, its credential
    ///   version and its tokens; only the active flag is set.
    ///
    /// Telling the two apart costs an existing user one password verification on top of
    /// the hash. A concurrent call that creates the same username first makes this one
    /// decide again.
    #[tracing::instrument(name = "tokenauth.upsert_user", skip_all)]
    pub async fn upsert_user(
        &self,
        username: &str,
        password: &str,
        is_active: bool,
    ) -> Result<Upserted, BackendError> {
        for _ in 0..MAX_UPSERT_ATTEMPTS {
            let found = self.in_users(self.users.find_login(username)).await?;
            let Some(login) = found else {
                let hash = self.hasher.hash(password).await.map_err(BackendError::new)?;
                match self
                    .in_users(self.users.create_user(username, &hash, is_active))
                    .await?
                {
                    Some(user) => {
                        return Ok(Upserted {
                            user,
                            created: true,
                            password_changed: false,
                            revoked: 0,
                        });
                    }
                    // Created by someone else meanwhile: decide again.
                    None => continue,
                }
            };
            let same = match self.hasher.check(password, Some(&login.password_hash)).await {
                Ok(verification) => verification.matches,
                Err(error) if error.is_unusable() => false,
                Err(error) => return Err(BackendError::new(error)),
            };
            let id = login.user.id();
            let (user, revoked) = if same {
                (login.user, 0)
            } else {
                match self.set_password(&id, password).await? {
                    Some(changed) => changed,
                    None => continue,
                }
            };
            let user = if user.is_active == is_active {
                user
            } else {
                match self.set_active_by_id(&id, is_active).await? {
                    Some(user) => user,
                    None => continue,
                }
            };
            return Ok(Upserted {
                user,
                created: false,
                password_changed: !same,
                revoked,
            });
        }
        Err(BackendError::new(Contention))
    }

    /// Sets the password of user `username` (even to the same one): a new credential
    /// version ends every older token at once, and they are deleted. The user and how
    /// many tokens were deleted, or `None` if there is no such user.
    #[tracing::instrument(name = "tokenauth.change_password", skip_all)]
    pub async fn change_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<(User, usize)>, BackendError> {
        let Some(user) = self.find_by_username(username).await? else {
            return Ok(None);
        };
        self.set_password(&user.id, password).await
    }

    async fn set_password(&self, id: &UserId, password: &str) -> Result<Option<(User, usize)>, BackendError> {
        let hash = self.hasher.hash(password).await.map_err(BackendError::new)?;
        let changed = self.in_users(self.users.set_password_hash(id, &hash)).await?;
        self.after_new_credentials(changed, RevokeReason::PasswordChanged)
            .await
    }

    /// Ends every token of user `id`, including any being issued at this moment: a new
    /// credential version, then the deletion of the older tokens. The user and how many
    /// tokens were deleted, or `None` if there is no such user.
    #[tracing::instrument(name = "tokenauth.revoke_everything", skip_all, fields(user_id = %id))]
    pub async fn revoke_everything(&self, id: &UserId) -> Result<Option<(User, usize)>, BackendError> {
        let bumped = self.in_users(self.users.bump_credential_version(id)).await?;
        self.after_new_credentials(bumped, RevokeReason::Everything).await
    }

    /// After a new credential version of `user` committed: tell the listeners, and
    /// delete the tokens of older versions.
    async fn after_new_credentials(
        &self,
        user: Option<User>,
        reason: RevokeReason,
    ) -> Result<Option<(User, usize)>, BackendError> {
        let Some(user) = user else { return Ok(None) };
        self.signal(Revocation::User(user.id.clone()));
        let revoked = self.delete_stale_tokens(&user.id, reason).await?;
        Ok(Some((user, revoked)))
    }

    /// Deletes the tokens of `user` issued under another credential version than the
    /// user's current one (they already fail); how many.
    async fn delete_stale_tokens(
        &self,
        user_id: &UserId,
        reason: RevokeReason,
    ) -> Result<usize, BackendError> {
        for _ in 0..MAX_ATTEMPTS {
            let set = self.in_store(self.store.token_set(user_id)).await?;
            let version = self
                .in_users(self.users.find_user(user_id))
                .await?
                .map(|u| u.credential_version());
            let stale: Vec<_> = set
                .records
                .iter()
                .filter(|r| version != Some(r.credential_version))
                .map(|r| r.id.clone())
                .collect();
            if stale.is_empty() {
                return Ok(0);
            }
            let change = Change {
                delete: stale,
                insert: None,
            };
            let committed = self
                .in_store(self.store.commit(user_id, set.version, change))
                .await;
            if let Committed::Applied { ended } = committed? {
                let count = ended.len();
                self.ended(ended, |_| reason);
                return Ok(count);
            }
        }
        Err(BackendError::new(Contention))
    }

    /// Sets whether user `username` may authenticate; the user, or `None` if there is
    /// no such user. A deactivated user's tokens are refused (`User inactive or
    /// deleted`) but kept, and work again on reactivation.
    #[tracing::instrument(name = "tokenauth.set_active", skip_all)]
    pub async fn set_active(&self, username: &str, is_active: bool) -> Result<Option<User>, BackendError> {
        let Some(user) = self.find_by_username(username).await? else {
            return Ok(None);
        };
        self.set_active_by_id(&user.id, is_active).await
    }

    async fn set_active_by_id(&self, id: &UserId, is_active: bool) -> Result<Option<User>, BackendError> {
        let user = self.in_users(self.users.set_active(id, is_active)).await?;
        // Reactivation ends nothing, so it is no revocation (the directory's own change
        // is seen by whatever stands in front of it).
        if !is_active && user.is_some() {
            self.signal(Revocation::User(id.clone()));
        }
        Ok(user)
    }

    /// Deletes user `username` and its tokens; the user and how many tokens, or `None`
    /// if there is no such user.
    #[tracing::instrument(name = "tokenauth.delete_user", skip_all)]
    pub async fn delete_user(&self, username: &str) -> Result<Option<(User, usize)>, BackendError> {
        let Some(user) = self.find_by_username(username).await? else {
            return Ok(None);
        };
        let Some(user) = self.in_users(self.users.delete_user(&user.id)).await? else {
            return Ok(None);
        };
        // From here its tokens fail (`User inactive or deleted`); now they go.
        self.signal(Revocation::User(user.id.clone()));
        let revoked = self
            .revoke_user_tokens(&user.id, RevokeReason::UserDeleted)
            .await?;
        Ok(Some((user, revoked)))
    }

    /// The user named exactly `username`, active or not.
    pub async fn find_by_username(&self, username: &str) -> Result<Option<User>, BackendError> {
        self.in_users(self.users.find_by_username(username)).await
    }

    /// Every user, ordered by username.
    pub async fn list_users(&self) -> Result<Vec<User>, BackendError> {
        self.in_users(self.users.list_users()).await
    }
}
