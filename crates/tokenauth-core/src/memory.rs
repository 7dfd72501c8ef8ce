//! In-memory store and user directory: for tests, examples and single-process apps that
//! can afford to lose their tokens on restart.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::expiry::LiveAt;
use crate::record::TokenRecord;
use crate::store::{Admission, Inserted, TokenStore};
use crate::token::{TokenDigest, TokenId};
use crate::usage::Usage;
use crate::user::UserId;

/// A [`TokenStore`] in a `HashMap`, indexed by digest and by id. Clones share the data.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<RwLock<Tables>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The digest index is left out: digests are not for printing.
        f.debug_struct("MemoryStore")
            .field("tokens", &self.read().by_id.len())
            .finish()
    }
}

#[derive(Default)]
struct Tables {
    by_id: HashMap<TokenId, TokenRecord>,
    id_by_digest: HashMap<[u8; 32], TokenId>,
}

/// Inserting a record whose id or digest is already stored.
#[derive(Debug, thiserror::Error)]
#[error("a token with this id or digest is already stored")]
pub struct DuplicateToken;

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // No lock is held across an `.await`, and no code that can panic runs under one, so
    // a poisoned lock still guards consistent data.
    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Tables {
    fn remove(&mut self, id: &TokenId) -> Option<TokenRecord> {
        let record = self.by_id.remove(id)?;
        self.id_by_digest.remove(record.digest.as_bytes());
        Some(record)
    }

    /// The user's records that count against a limit, oldest first.
    fn live_of(&self, user: &UserId, live: &LiveAt, recently_used: &[TokenId]) -> Vec<&TokenRecord> {
        let mut records: Vec<&TokenRecord> = self
            .by_id
            .values()
            .filter(|r| &r.user_id == user && Admission::counts(r, live, recently_used))
            .collect();
        records.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        records
    }
}

impl TokenStore for MemoryStore {
    type Error = DuplicateToken;

    async fn insert(&self, record: &TokenRecord, admission: Admission) -> Result<Inserted, Self::Error> {
        let mut tables = self.write();
        let digest = *record.digest.as_bytes();
        if tables.by_id.contains_key(&record.id) || tables.id_by_digest.contains_key(&digest) {
            return Err(DuplicateToken);
        }
        let removed: Vec<TokenId> = match admission {
            Admission::Add => Vec::new(),
            Admission::Replace => {
                let mut others: Vec<&TokenRecord> = tables
                    .by_id
                    .values()
                    .filter(|r| r.user_id == record.user_id)
                    .collect();
                others.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
                others.into_iter().map(|r| r.id.clone()).collect()
            }
            Admission::EvictOldest {
                max_live,
                live,
                recently_used,
            } => {
                let live = tables.live_of(&record.user_id, &live, &recently_used);
                let excess = (live.len() + 1).saturating_sub(max_live.max(1));
                live.into_iter().take(excess).map(|r| r.id.clone()).collect()
            }
            Admission::Reject {
                max_live,
                live,
                recently_used,
            } => {
                if tables.live_of(&record.user_id, &live, &recently_used).len() >= max_live {
                    return Ok(Inserted::Rejected);
                }
                Vec::new()
            }
        };
        for id in &removed {
            tables.remove(id);
        }
        tables.id_by_digest.insert(digest, record.id.clone());
        tables.by_id.insert(record.id.clone(), record.clone());
        Ok(Inserted::Stored { removed })
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Self::Error> {
        let tables = self.read();
        Ok(tables
            .id_by_digest
            .get(digest.as_bytes())
            .and_then(|id| tables.by_id.get(id))
            .cloned())
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Self::Error> {
        Ok(self.read().by_id.get(id).cloned())
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Self::Error> {
        let mut records: Vec<TokenRecord> = self
            .read()
            .by_id
            .values()
            .filter(|r| user.is_none_or(|u| &r.user_id == u))
            .cloned()
            .collect();
        records.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(records)
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<UserId>, Self::Error> {
        Ok(self.write().remove(id).map(|record| record.user_id))
    }

    async fn delete_for_user(
        &self,
        user: &UserId,
        keep: Option<&TokenId>,
    ) -> Result<Vec<TokenId>, Self::Error> {
        let mut tables = self.write();
        let mut doomed: Vec<&TokenRecord> = tables
            .by_id
            .values()
            .filter(|r| &r.user_id == user && Some(&r.id) != keep)
            .collect();
        doomed.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        let ids: Vec<TokenId> = doomed.into_iter().map(|r| r.id.clone()).collect();
        for id in &ids {
            tables.remove(id);
        }
        Ok(ids)
    }

    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Self::Error> {
        let mut tables = self.write();
        for usage in uses {
            if let Some(record) = tables.by_id.get_mut(&usage.id)
                && record.last_used.is_none_or(|last| usage.at >= last)
            {
                record.last_used = Some(usage.at);
                record.last_ip = usage.ip.or(record.last_ip);
            }
        }
        Ok(())
    }

    async fn purge(&self, dead: &LiveAt, limit: usize) -> Result<usize, Self::Error> {
        let mut tables = self.write();
        let doomed: Vec<TokenId> = tables
            .by_id
            .values()
            .filter(|r| !dead.is_live(r))
            .take(limit)
            .map(|r| r.id.clone())
            .collect();
        for id in &doomed {
            tables.remove(id);
        }
        Ok(doomed.len())
    }
}

#[cfg(feature = "argon2")]
pub use directory::*;

#[cfg(feature = "argon2")]
mod directory {
    use super::*;
    use crate::clock::Clock;
    use crate::password::{PasswordError, PasswordHasher};
    use crate::user::{User, UserDirectory};

    /// A [`UserDirectory`] in memory, with argon2id password hashes. Clones share the
    /// data.
    #[derive(Debug, Clone, Default)]
    pub struct MemoryUserDirectory {
        hasher: PasswordHasher,
        users: Arc<RwLock<HashMap<String, (User, String)>>>,
    }

    impl MemoryUserDirectory {
        /// An empty directory hashing with the default (OWASP) argon2id parameters.
        pub fn new() -> Self {
            Self::default()
        }

        /// Adds a user, or replaces the password and active flag of an existing one
        /// (keeping its id, and without revoking its tokens: this is for setting up
        /// fixtures; see [`change_password`](Self::change_password)). Returns the id.
        pub async fn add_user(
            &self,
            username: &str,
            password: &str,
            is_active: bool,
        ) -> Result<UserId, PasswordError> {
            let hash = self.hasher.hash(password).await?;
            let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
            let next_id = i64::try_from(users.len()).unwrap_or(i64::MAX).saturating_add(1);
            let id = users
                .get(username)
                .map(|(user, _)| user.id.clone())
                .unwrap_or_else(|| UserId::from(next_id));
            let password_changed = users.get(username).and_then(|(user, _)| user.password_changed);
            let user = User {
                id: id.clone(),
                username: username.to_owned(),
                is_active,
                password_changed,
            };
            users.insert(username.to_owned(), (user, hash));
            Ok(id)
        }

        /// Sets a user's password, recording the time of the change (read from `clock`
        /// as the change is made) so that every token issued before it is refused at
        /// once. `false` if there is no such user. Follow it with
        /// [`TokenAuth::revoke_tokens_issued_before`](crate::TokenAuth::revoke_tokens_issued_before)
        /// to delete those tokens too.
        pub async fn change_password(
            &self,
            username: &str,
            password: &str,
            clock: &dyn Clock,
        ) -> Result<bool, PasswordError> {
            let hash = self.hasher.hash(password).await?;
            let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
            Ok(users
                .get_mut(username)
                .map(|(user, stored)| {
                    // Read under the lock, after hashing: a token issued after this
                    // instant was issued after the change became visible.
                    user.password_changed = Some(clock.now());
                    *stored = hash;
                })
                .is_some())
        }

        /// Sets whether a user may authenticate; `false` if there is no such user.
        pub fn set_active(&self, username: &str, is_active: bool) -> bool {
            let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
            users
                .get_mut(username)
                .map(|(user, _)| user.is_active = is_active)
                .is_some()
        }

        fn read(&self) -> RwLockReadGuard<'_, HashMap<String, (User, String)>> {
            self.users.read().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl UserDirectory for MemoryUserDirectory {
        type User = User;
        type Error = PasswordError;

        async fn find_user(&self, id: &UserId) -> Result<Option<User>, Self::Error> {
            Ok(self
                .read()
                .values()
                .map(|(user, _)| user)
                .find(|u| &u.id == id)
                .cloned())
        }

        async fn verify_credentials(
            &self,
            username: &str,
            password: &str,
        ) -> Result<Option<User>, Self::Error> {
            let found = self.read().get(username).cloned();
            let hash = found.as_ref().map(|(_, hash)| hash.as_str());
            let matches = self.hasher.verify(password, hash).await?;
            Ok(found.filter(|_| matches).map(|(user, _)| user))
        }
    }
}
