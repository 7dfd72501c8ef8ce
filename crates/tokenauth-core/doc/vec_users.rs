// A user directory over a `Vec` behind a lock, which tokenauth may administer: the
// example of `UserAdmin` and `UserImport`, compiled by their docs and run through the
// conformance suites.

use std::sync::Mutex;

use tokenauth_core::store::{LoginRecord, UserAdmin, UserDirectory, UserImport};
use tokenauth_core::{User, UserId};

#[derive(Default)]
struct VecUsers {
    inner: Mutex<Rows>,
}

#[derive(Default)]
struct Rows {
    /// Users and their password hashes.
    users: Vec<(User, String)>,
    /// The last id given out: ids are never reused, so that a deleted user's tokens can
    /// never authenticate as someone else.
    last_id: i64,
    /// The last credential version given out, for the same reason: a bumped version
    /// never repeats one an older token carries.
    last_version: u64,
}

impl VecUsers {
    /// Applies `change` to user `id`, under the lock; the user after it.
    fn update(&self, id: &UserId, change: impl FnOnce(&mut Rows, usize)) -> Option<User> {
        let mut rows = self.inner.lock().unwrap();
        let at = rows.users.iter().position(|(user, _)| &user.id == id)?;
        change(&mut rows, at);
        Some(rows.users[at].0.clone())
    }
}

impl Rows {
    fn new_version(&mut self) -> u64 {
        self.last_version += 1;
        self.last_version
    }
}

impl UserDirectory for VecUsers {
    type User = User;
    type Error = std::convert::Infallible;

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, Self::Error> {
        let rows = self.inner.lock().unwrap();
        Ok(rows.users.iter().map(|(user, _)| user).find(|user| &user.id == id).cloned())
    }

    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<User>>, Self::Error> {
        let rows = self.inner.lock().unwrap();
        let row = rows.users.iter().find(|(user, _)| user.username == username);
        Ok(row.map(|(user, hash)| LoginRecord { user: user.clone(), password_hash: hash.clone() }))
    }

    async fn rehash_password(&self, id: &UserId, old_hash: &str, new_hash: &str) -> Result<bool, Self::Error> {
        let mut replaced = false;
        self.update(id, |rows, at| {
            let hash = &mut rows.users[at].1;
            if hash == old_hash {
                new_hash.clone_into(hash);
                replaced = true;
            }
        });
        Ok(replaced)
    }
}

impl UserAdmin for VecUsers {
    async fn create_user(&self, username: &str, hash: &str, is_active: bool) -> Result<Option<User>, Self::Error> {
        let mut rows = self.inner.lock().unwrap();
        if rows.users.iter().any(|(user, _)| user.username == username) {
            return Ok(None);
        }
        rows.last_id += 1;
        let user = User {
            id: UserId::from(rows.last_id),
            username: username.to_owned(),
            is_active,
            credential_version: 0,
        };
        rows.users.push((user.clone(), hash.to_owned()));
        Ok(Some(user))
    }

    async fn set_password_hash(&self, id: &UserId, hash: &str) -> Result<Option<User>, Self::Error> {
        Ok(self.update(id, |rows, at| {
            let version = rows.new_version();
            let (user, stored) = &mut rows.users[at];
            hash.clone_into(stored);
            user.credential_version = version;
        }))
    }

    async fn bump_credential_version(&self, id: &UserId) -> Result<Option<User>, Self::Error> {
        Ok(self.update(id, |rows, at| rows.users[at].0.credential_version = rows.new_version()))
    }

    async fn set_active(&self, id: &UserId, is_active: bool) -> Result<Option<User>, Self::Error> {
        Ok(self.update(id, |rows, at| rows.users[at].0.is_active = is_active))
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, Self::Error> {
        let rows = self.inner.lock().unwrap();
        Ok(rows.users.iter().map(|(user, _)| user).find(|user| user.username == username).cloned())
    }

    async fn list_users(&self) -> Result<Vec<User>, Self::Error> {
        let mut users: Vec<User> = self.inner.lock().unwrap().users.iter().map(|(u, _)| u.clone()).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    async fn delete_user(&self, id: &UserId) -> Result<Option<User>, Self::Error> {
        let mut rows = self.inner.lock().unwrap();
        let at = rows.users.iter().position(|(user, _)| &user.id == id);
        Ok(at.map(|at| rows.users.remove(at).0))
    }
}

// The bulk import, one user at a time through `create_user` (the trait's default); a
// directory whose engine has a bulk insert overrides `import_users`.
impl UserImport for VecUsers {}

// In the directory crate's tests/conformance.rs (tokenauth-conformance runs both on
// this very file):
// tokenauth_conformance::user_directory_conformance!(async { VecUsers::default() });
// tokenauth_conformance::bulk_import_conformance!(users: async { VecUsers::default() });
