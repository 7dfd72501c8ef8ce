//! A Django database's tables opened for one user model: the pool and the statements
//! built for it, from which the store and the directory are made.

use std::fmt;
use std::sync::Arc;

use sqlx::Pool;

use crate::dialect::{Dialect, Execute};
use crate::knox::KnoxStore;
use crate::schema::{Layout, TokenTable};
use crate::statements::Statements;
use crate::{DjangoStore, DjangoUserDirectory, Error, UserModel};

/// Django's user table (of a [`UserModel`]) and DRF's `authtoken_token` (or knox's
/// `knox_authtoken`: [`open_knox`](Self::open_knox)) on a pool,
/// checked: the store ([`store`](Self::store)) and the directory
/// ([`users`](Self::users)) on them share one table of statements, built from the
/// model's names and the primary key's type when the tables are opened.
///
/// ```no_run
/// use tokenauth_django::{UserModel, django_auth};
///
/// # async fn run() -> Result<(), tokenauth_django::Error> {
/// let model = UserModel::new("accounts_user")?.with_login_field("email")?;
/// let tables = tokenauth_django::sqlite::connect_model("sqlite:///srv/app/db.sqlite3", &model).await?;
/// let auth = django_auth(tables.store(), tables.users());
/// # let _ = auth;
/// # Ok(()) }
/// ```
pub struct DjangoTables<DB: Dialect> {
    pool: Pool<DB>,
    statements: Arc<Statements>,
}

impl<DB: Dialect> DjangoTables<DB> {
    /// Django's own `auth_user`, unchecked (the dialects' `connect` checks it).
    pub(crate) fn stock(pool: Pool<DB>) -> Self {
        Self {
            pool,
            statements: Arc::new(Statements::new::<DB>(Layout::stock())),
        }
    }

    /// The store on DRF's table (tables [`open`](Self::open)ed with it).
    pub fn store(&self) -> DjangoStore<DB> {
        DjangoStore::on(self.pool.clone(), Arc::clone(&self.statements))
    }

    /// The store on knox's table (tables opened with [`open_knox`](Self::open_knox)),
    /// issuing tokens that start with `prefix` (knox's `TOKEN_PREFIX`), valid for
    /// `ttl` unless given a lifespan of their own (see [`KnoxStore`]).
    pub fn knox_store(&self, prefix: &str, ttl: Option<time::Duration>) -> KnoxStore<DB> {
        KnoxStore::on(self.pool.clone(), Arc::clone(&self.statements), prefix, ttl)
    }

    /// The directory on the user table.
    pub fn users(&self) -> DjangoUserDirectory<DB> {
        DjangoUserDirectory::on(self.pool.clone(), Arc::clone(&self.statements))
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    pub(crate) fn statements(&self) -> &Statements {
        &self.statements
    }
}

impl<DB: Execute> DjangoTables<DB> {
    /// Checks that the database behind `pool` has `model`'s table with its key, its
    /// password, its login field and its active flag (if it has one), and DRF's
    /// `authtoken_token`; reads the key's type (integer, big integer, UUID), which
    /// `authtoken_token.user_id` must have too. [`Error::Schema`] names every table
    /// and column missing, [`Error::KeyType`] a key tokenauth does not read. Nothing is
    /// created or migrated.
    pub async fn open(pool: Pool<DB>, model: &UserModel) -> Result<Self, Error> {
        Self::open_on(pool, model, TokenTable::Drf).await
    }

    /// Checks and reads the database behind `pool` as [`open`](Self::open) does, with
    /// django-rest-knox's `knox_authtoken` (`digest`, `token_key`, `created`, `expiry`,
    /// `user_id`) in place of DRF's table ([`Error::KnoxTables`] names what is
    /// missing): for [`knox_store`](Self::knox_store) and [`users`](Self::users).
    pub async fn open_knox(pool: Pool<DB>, model: &UserModel) -> Result<Self, Error> {
        Self::open_on(pool, model, TokenTable::Knox).await
    }

    async fn open_on(pool: Pool<DB>, model: &UserModel, tokens: TokenTable) -> Result<Self, Error> {
        let layout = Layout::read::<DB>(&mut *pool.acquire().await?, model, tokens).await?;
        Ok(Self {
            pool,
            statements: Arc::new(Statements::new::<DB>(layout)),
        })
    }
}

impl<DB: Dialect> Clone for DjangoTables<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            statements: Arc::clone(&self.statements),
        }
    }
}

impl<DB: Dialect> fmt::Debug for DjangoTables<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DjangoTables")
            .field("model", &self.statements.layout.model)
            .field("key", &self.statements.layout.key)
            .finish_non_exhaustive()
    }
}
