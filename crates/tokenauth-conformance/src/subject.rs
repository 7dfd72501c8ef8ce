//! What the token-store suite runs against ([`StoreSubject`]), and how it makes and
//! stores records for it.

use std::fmt;

use time::Duration;

use tokenauth_core::store::{Capabilities, Change, Committed, TokenRecord, TokenStore, UserAdmin};
use tokenauth_core::{MemoryUserDirectory, Scopes, TokenFormat, TokenId, User, UserId};

use crate::tokens::BASE;

/// What [`token_store_conformance!`](crate::token_store_conformance) runs each case
/// against: a fresh, empty store; the directory of the users its tokens belong to;
/// the format of its tokens.
///
/// A store of tokenauth's own needs nothing more than [`StoreSubject::new`] (users in
/// a [`MemoryUserDirectory`], tokenauth's own format), which
/// `token_store_conformance!(make)` applies by itself. A store over another program's
/// tables says more: a token's user must be a row of that program's users table
/// (Django's `auth_user`), with the credential version its directory gives, and the
/// store takes keys of one format only (DRF's):
///
/// ```
/// use tokenauth_conformance::StoreSubject;
/// use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenFormat};
///
/// // Django's tests write `SqliteStore` and `SqliteUserDirectory` on one database.
/// async fn subject() -> StoreSubject<MemoryStore, MemoryUserDirectory> {
///     StoreSubject::new(MemoryStore::new())
///         .with_users(MemoryUserDirectory::new())
///         .with_format(TokenFormat::drf())
/// }
///
/// tokenauth_conformance::token_store_conformance!(subject: subject());
/// # fn main() {}
/// ```
///
/// The suite creates the users it needs through [`UserAdmin::create_user`], makes its
/// records with the fields the store declares it holds
/// ([`TokenStore::capabilities`]), and uses the id the store gives a record when it
/// declares it chooses its own.
pub struct StoreSubject<S, D = MemoryUserDirectory> {
    store: S,
    users: D,
    records: Records,
}

impl<S: TokenStore> StoreSubject<S> {
    /// `store` (fresh and empty), with users in a [`MemoryUserDirectory`] and tokens
    /// of tokenauth's own format.
    pub fn new(store: S) -> Self {
        let records = Records {
            format: TokenFormat::default(),
            holds: store.capabilities(),
        };
        Self {
            store,
            users: MemoryUserDirectory::new(),
            records,
        }
    }
}

impl<S: TokenStore, D: UserAdmin> StoreSubject<S, D> {
    /// The users the store's tokens belong to: `users` (fresh, without users), where
    /// the store checks a token's user or its credential version against a table of
    /// its own.
    pub fn with_users<U: UserAdmin>(self, users: U) -> StoreSubject<S, U> {
        StoreSubject {
            store: self.store,
            users,
            records: self.records,
        }
    }

    /// Tokens of `format`, where the store takes no other (DRF's keys:
    /// [`TokenFormat::drf`]).
    pub fn with_format(mut self, format: TokenFormat) -> Self {
        self.records.format = format;
        self
    }

    /// The store under test.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The directory of the store's users.
    pub fn users(&self) -> &D {
        &self.users
    }

    /// The format of the store's tokens.
    pub fn format(&self) -> &TokenFormat {
        &self.records.format
    }

    /// What the store declares it holds.
    pub(crate) fn holds(&self) -> Capabilities {
        self.records.holds
    }

    /// The store, the directory, and how records are made for them.
    pub(crate) fn into_parts(self) -> (S, D, Records) {
        (self.store, self.users, self.records)
    }

    /// A new active user named `username`, with a hash of `pw`.
    pub(crate) async fn user(&self, username: &str) -> User {
        let hash = crate::fast_hasher().hash("pw").await.expect("hash");
        self.users
            .create_user(username, &hash, true)
            .await
            .expect("create user")
            .unwrap_or_else(|| panic!("{username} is a new username"))
    }

    /// A user for a token beside one of `user`'s: `user` where the store holds
    /// several tokens per user, else a new user.
    pub(crate) async fn user_beside(&self, user: &User) -> User {
        if self.holds().several_tokens_per_user {
            return user.clone();
        }
        self.user(&format!("beside {}", user.username)).await
    }

    /// See [`Records::record`].
    pub(crate) fn record(&self, user: &User, minutes: i64) -> TokenRecord {
        self.records.record(user, minutes)
    }

    /// See [`Records::add`].
    pub(crate) async fn add(&self, rec: TokenRecord) -> TokenRecord {
        self.records.add(&self.store, rec).await
    }

    /// See [`Records::stored`].
    pub(crate) async fn stored(&self, rec: TokenRecord) -> TokenRecord {
        self.records.stored(&self.store, rec).await
    }
}

impl<S, D> fmt::Debug for StoreSubject<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSubject")
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

/// How the suite makes records for a subject's store: tokens of its format, with the
/// fields it holds.
#[derive(Debug, Clone)]
pub(crate) struct Records {
    format: TokenFormat,
    holds: Capabilities,
}

impl Records {
    /// A record of `user` (under its credential version), created `minutes` after
    /// [`BASE`], with a name and scopes where the store holds them.
    pub(crate) fn record(&self, user: &User, minutes: i64) -> TokenRecord {
        self.kept(TokenRecord {
            id: TokenId::generate(),
            digest: self.format.generate().digest(),
            user_id: user.id.clone(),
            credential_version: user.credential_version,
            name: Some(format!("device of {}", user.username)),
            scopes: Scopes::parse("read write").expect("valid scopes"),
            created: BASE + Duration::minutes(minutes),
            expires: None,
            last_used: None,
            last_ip: None,
        })
    }

    /// `rec` without the fields the store does not hold (it may refuse a record with
    /// them; `capabilities.rs` checks what it does).
    fn kept(&self, rec: TokenRecord) -> TokenRecord {
        let holds = &self.holds;
        TokenRecord {
            name: rec.name.filter(|_| holds.names),
            scopes: if holds.scopes { rec.scopes } else { Scopes::none() },
            expires: rec.expires.filter(|_| holds.own_lifespans),
            last_used: rec.last_used.filter(|_| holds.usage),
            last_ip: rec.last_ip.filter(|_| holds.usage),
            ..rec
        }
    }

    /// Inserts `rec` alone, without the fields the store does not hold, and checks
    /// that it was applied; the record as stored (see [`stored`](Self::stored)).
    pub(crate) async fn add<S: TokenStore>(&self, store: &S, rec: TokenRecord) -> TokenRecord {
        let rec = self.kept(rec);
        let committed = insert(store, &rec).await.expect("insert");
        assert_eq!(committed, Committed::Applied { ended: vec![] });
        self.stored(store, rec).await
    }

    /// `rec`, committed, with the id the store gave it: its own where it keeps the
    /// ids given, else the one found by its digest.
    pub(crate) async fn stored<S: TokenStore>(&self, store: &S, rec: TokenRecord) -> TokenRecord {
        if self.holds.given_ids {
            return rec;
        }
        let found = store.find_by_digest(&rec.digest).await.expect("find");
        let found = found.expect("a record committed is found by its digest");
        TokenRecord { id: found.id, ..rec }
    }
}

/// Inserts `rec` alone, through a commit on the version read just before.
pub(crate) async fn insert<S: TokenStore>(store: &S, rec: &TokenRecord) -> Result<Committed, S::Error> {
    let expected = version(store, &rec.user_id).await;
    let change = Change {
        delete: vec![],
        insert: Some(rec.clone()),
    };
    store.commit(&rec.user_id, expected, change).await
}

/// The version of `user`'s token set.
pub(crate) async fn version<S: TokenStore>(store: &S, user: &UserId) -> u64 {
    store.token_set(user).await.expect("token set").version
}

/// The ids of `user`'s records, oldest first.
pub(crate) async fn ids_of<S: TokenStore>(store: &S, user: &UserId) -> Vec<TokenId> {
    let records = store.list(Some(user)).await.expect("list");
    records.into_iter().map(|r| r.id).collect()
}
