//! Bulk paths: creating many users and tokens at once (imports, benchmarks, moving a
//! database), without a password hash or a round trip per row.
//!
//! Two traits, each with a default that goes one row at a time through the ordinary
//! verbs, so that every directory and store supports them; the SQL backends override
//! them with their engine's bulk insert (multi-row `INSERT`s in one transaction on
//! SQLite, `UNNEST` arrays on PostgreSQL).
//!
//! Neither hashes a password: argon2id costs tens of milliseconds by design, so
//! [`NewUser`] carries a hash made beforehand (the source's, or one hash shared by
//! every generated user of a benchmark). Neither applies token policy (limits,
//! expiry): the caller decides what to import, and the next login of a user applies
//! the limit as usual.

use std::fmt;
use std::future::Future;

use crate::admin::UserAdmin;
use crate::record::TokenRecord;
use crate::store::{Change, Committed, TokenStore};
use crate::user::User;

/// A user to create in bulk: a name, a password hash made beforehand, an active flag.
///
/// `Debug` does not show the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The login name (matched exactly).
    pub username: String,
    /// The password hash, a PHC string (`$argon2id$v=19$...`), as
    /// [`PasswordHasher::hash`](crate::PasswordHasher::hash) makes it.
    pub password_hash: String,
    /// Whether the user may authenticate.
    pub is_active: bool,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("is_active", &self.is_active)
            .finish()
    }
}

/// What [`UserImport::import_users`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportedUsers {
    /// The stored user of each entry of the batch, in the batch's order: the one just
    /// created, or the one that already had the name.
    pub users: Vec<User>,
    /// How many of them were created by this call.
    pub created: usize,
}

/// A directory that can create many users at once.
///
/// The default creates them one by one through [`UserAdmin`]; backends override it
/// with a bulk insert.
///
/// # Example
///
/// The directory of [`UserAdmin`]'s example, importing through the default (its last
/// lines):
///
#[doc = concat!("```\n", include_str!("../doc/vec_users.rs"), "```")]
pub trait UserImport: UserAdmin {
    /// Creates every user of `batch` whose username is free, with credential version
    /// 0, and leaves users that already exist exactly as they are (their hash, flag
    /// and tokens), so that importing the same users again changes nothing. A name
    /// given twice in one batch is created once, from its first entry.
    ///
    /// Nothing is hashed here: `password_hash` is stored as given.
    fn import_users(
        &self,
        batch: &[NewUser],
    ) -> impl Future<Output = Result<ImportedUsers, Self::Error>> + Send {
        async move {
            let mut imported = ImportedUsers {
                users: Vec::with_capacity(batch.len()),
                created: 0,
            };
            for new in batch {
                // Created, or taken: then it exists, unless it was deleted in between,
                // and then creating it again is right.
                let user = loop {
                    if let Some(user) = self
                        .create_user(&new.username, &new.password_hash, new.is_active)
                        .await?
                    {
                        imported.created += 1;
                        break user;
                    }
                    if let Some(user) = self.find_by_username(&new.username).await? {
                        break user;
                    }
                };
                imported.users.push(user);
            }
            Ok(imported)
        }
    }
}

/// A store that can take many token records at once.
///
/// The default inserts them one by one through the store's compare-and-swap
/// ([`TokenStore::token_set`] + [`TokenStore::commit`]); backends override it with a
/// bulk insert.
///
/// # Example
///
/// The store of [`TokenStore`]'s example, importing through the default (its last
/// lines):
///
#[doc = concat!("```\n", include_str!("../doc/vec_store.rs"), "```")]
pub trait TokenImport: TokenStore {
    /// Inserts the records of `batch` whose id and digest are both not stored yet, and
    /// skips the others (also a second record with the digest of an earlier one in the
    /// batch), so that importing the same records again changes nothing; how many it
    /// inserted.
    ///
    /// Each user that gains a record gets a new token-set version with it, so that a
    /// concurrent [`commit`](TokenStore::commit) for that user conflicts and decides
    /// again. No policy is applied: the records are stored as given (expired ones too,
    /// any number per user).
    fn import_tokens(
        &self,
        batch: &[TokenRecord],
    ) -> impl Future<Output = Result<usize, Self::Error>> + Send {
        async move {
            let mut inserted = 0;
            for record in batch {
                loop {
                    if self.find_by_id(&record.id).await?.is_some()
                        || self.find_by_digest(&record.digest).await?.is_some()
                    {
                        break;
                    }
                    let set = self.token_set(&record.user_id).await?;
                    let change = Change {
                        delete: Vec::new(),
                        insert: Some(record.clone()),
                    };
                    match self.commit(&record.user_id, set.version, change).await? {
                        Committed::Applied { .. } => {
                            inserted += 1;
                            break;
                        }
                        Committed::Conflict => {}
                    }
                }
            }
            Ok(inserted)
        }
    }
}

impl UserImport for crate::MemoryUserDirectory {}

impl TokenImport for crate::MemoryStore {}
