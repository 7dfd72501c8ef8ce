//! In-memory store and user directory: for tests, examples and single-process apps that
//! can afford to lose their tokens on restart.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::admin::UserAdmin;
use crate::password::{PasswordError, PasswordHasher};
use crate::record::TokenRecord;
use crate::store::{Change, Committed, Ended, PurgeBounds, TokenSet, TokenStore};
use crate::token::{TokenDigest, TokenId};
use crate::usage::Usage;
use crate::user::{LoginRecord, User, UserDirectory, UserId};

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
    id_by_digest: HashMap<TokenDigest, TokenId>,
    /// Each user's token-set version ([`TokenStore::commit`]).
    versions: HashMap<UserId, u64>,
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
    fn remove(&mut self, id: &TokenId) -> Option<Ended> {
        let record = self.by_id.remove(id)?;
        self.id_by_digest.remove(&record.digest);
        Some(Ended::from(&record))
    }

    /// Records matching `keep`, oldest first.
    fn sorted(&self, keep: impl Fn(&TokenRecord) -> bool) -> Vec<&TokenRecord> {
        let mut records: Vec<&TokenRecord> = self.by_id.values().filter(|r| keep(r)).collect();
        records.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        records
    }
}

impl TokenStore for MemoryStore {
    type Error = DuplicateToken;

    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Self::Error> {
        let tables = self.read();
        Ok(TokenSet {
            version: tables.versions.get(user).copied().unwrap_or(0),
            records: tables
                .sorted(|r| &r.user_id == user)
                .into_iter()
                .cloned()
                .collect(),
        })
    }

    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Self::Error> {
        let mut tables = self.write();
        let version = tables.versions.get(user).copied().unwrap_or(0);
        if version != expected {
            return Ok(Committed::Conflict);
        }
        if let Some(record) = &change.insert
            && (tables.by_id.contains_key(&record.id) || tables.id_by_digest.contains_key(&record.digest))
        {
            return Err(DuplicateToken);
        }
        let doomed: Vec<TokenId> = tables
            .sorted(|r| &r.user_id == user && change.delete.contains(&r.id))
            .into_iter()
            .map(|r| r.id.clone())
            .collect();
        let ended: Vec<Ended> = doomed.iter().filter_map(|id| tables.remove(id)).collect();
        if let Some(record) = change.insert {
            tables.id_by_digest.insert(record.digest, record.id.clone());
            tables.by_id.insert(record.id.clone(), record);
        }
        tables.versions.insert(user.clone(), version + 1);
        Ok(Committed::Applied { ended })
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Self::Error> {
        let tables = self.read();
        Ok(tables
            .id_by_digest
            .get(digest)
            .and_then(|id| tables.by_id.get(id))
            .cloned())
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Self::Error> {
        Ok(self.read().by_id.get(id).cloned())
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Self::Error> {
        let tables = self.read();
        let records = tables.sorted(|r| user.is_none_or(|u| &r.user_id == u));
        Ok(records.into_iter().cloned().collect())
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Self::Error> {
        Ok(self.write().remove(id))
    }

    async fn delete_for_user(
        &self,
        user: &UserId,
        keep: Option<&TokenId>,
    ) -> Result<Vec<Ended>, Self::Error> {
        let mut tables = self.write();
        let doomed: Vec<TokenId> = tables
            .sorted(|r| &r.user_id == user && Some(&r.id) != keep)
            .into_iter()
            .map(|r| r.id.clone())
            .collect();
        Ok(doomed.iter().filter_map(|id| tables.remove(id)).collect())
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

    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Self::Error> {
        let mut tables = self.write();
        let doomed: Vec<TokenId> = tables
            .by_id
            .values()
            .filter(|r| bounds.matches(r))
            .take(limit)
            .map(|r| r.id.clone())
            .collect();
        Ok(doomed.iter().filter_map(|id| tables.remove(id)).collect())
    }
}

/// A [`UserDirectory`] and [`UserAdmin`] in memory, with argon2id password hashes.
/// Clones share the data. User ids are never reused, even after a deletion.
///
/// [`UserDirectory`]: crate::store::UserDirectory
/// [`UserAdmin`]: crate::store::UserAdmin
#[derive(Debug, Clone, Default)]
pub struct MemoryUserDirectory {
    hasher: PasswordHasher,
    inner: Arc<RwLock<Users>>,
}

#[derive(Debug, Default)]
struct Users {
    /// By username: the user and its hash.
    by_name: HashMap<String, (User, String)>,
    /// The last id given out.
    last_id: i64,
}

impl MemoryUserDirectory {
    /// An empty directory hashing with the default (OWASP) argon2id parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user, or replaces the password and active flag of an existing one
    /// (keeping its id and credential version, so without revoking its tokens: this is
    /// for setting up fixtures; applications use
    /// [`TokenAuth::upsert_user`](crate::TokenAuth::upsert_user)). Returns the id.
    pub async fn add_user(
        &self,
        username: &str,
        password: &str,
        is_active: bool,
    ) -> Result<UserId, PasswordError> {
        let hash = self.hasher.hash(password).await?;
        let mut users = self.write();
        let existing = users.by_name.get(username).map(|(user, _)| user.clone());
        let user = match existing {
            Some(user) => User { is_active, ..user },
            None => users.new_user(username, is_active),
        };
        let id = user.id.clone();
        users.by_name.insert(username.to_owned(), (user, hash));
        Ok(id)
    }

    fn read(&self) -> RwLockReadGuard<'_, Users> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Users> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `change` to user `id`; the user after it, or `None`.
    fn update(&self, id: &UserId, change: impl FnOnce(&mut User, &mut String)) -> Option<User> {
        let mut users = self.write();
        let (user, hash) = users.by_name.values_mut().find(|(user, _)| &user.id == id)?;
        change(user, hash);
        Some(user.clone())
    }
}

impl Users {
    fn new_user(&mut self, username: &str, is_active: bool) -> User {
        self.last_id += 1;
        User {
            id: UserId::from(self.last_id),
            username: username.to_owned(),
            is_active,
            credential_version: 0,
        }
    }
}

impl UserDirectory for MemoryUserDirectory {
    type User = User;
    type Error = std::convert::Infallible;

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, Self::Error> {
        let users = self.read();
        Ok(users
            .by_name
            .values()
            .map(|(user, _)| user)
            .find(|u| &u.id == id)
            .cloned())
    }

    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<User>>, Self::Error> {
        Ok(self.read().by_name.get(username).map(|(user, hash)| LoginRecord {
            user: user.clone(),
            password_hash: hash.clone(),
        }))
    }

    async fn rehash_password(
        &self,
        id: &UserId,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, Self::Error> {
        let mut replaced = false;
        self.update(id, |_, hash| {
            if hash == old_hash {
                new_hash.clone_into(hash);
                replaced = true;
            }
        });
        Ok(replaced)
    }
}

impl UserAdmin for MemoryUserDirectory {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_active: bool,
    ) -> Result<Option<User>, Self::Error> {
        let mut users = self.write();
        if users.by_name.contains_key(username) {
            return Ok(None);
        }
        let user = users.new_user(username, is_active);
        users
            .by_name
            .insert(username.to_owned(), (user.clone(), password_hash.to_owned()));
        Ok(Some(user))
    }

    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<Option<User>, Self::Error> {
        Ok(self.update(id, |user, hash| {
            password_hash.clone_into(hash);
            user.credential_version += 1;
        }))
    }

    async fn bump_credential_version(&self, id: &UserId) -> Result<Option<User>, Self::Error> {
        Ok(self.update(id, |user, _| user.credential_version += 1))
    }

    async fn set_active(&self, id: &UserId, is_active: bool) -> Result<Option<User>, Self::Error> {
        Ok(self.update(id, |user, _| user.is_active = is_active))
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, Self::Error> {
        Ok(self.read().by_name.get(username).map(|(user, _)| user.clone()))
    }

    async fn list_users(&self) -> Result<Vec<User>, Self::Error> {
        let mut users: Vec<User> = self
            .read()
            .by_name
            .values()
            .map(|(user, _)| user.clone())
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    async fn delete_user(&self, id: &UserId) -> Result<Option<User>, Self::Error> {
        let mut users = self.write();
        let name = users
            .by_name
            .iter()
            .find(|(_, (user, _))| &user.id == id)
            .map(|(name, _)| name.clone());
        Ok(name
            .and_then(|name| users.by_name.remove(&name))
            .map(|(user, _)| user))
    }
}
