//! The rows of a Django token table (DRF's or knox's), read, deleted and committed
//! alike: what the two stores share, each turning rows into records its own way.

use std::sync::Arc;

use sqlx::{Pool, Transaction};
use tokenauth_core::store::{Change, Committed};
use tokenauth_core::{TokenId, User, UserId};

use crate::Error;
use crate::common::{self, KeyRow};
use crate::dialect::{Arg, Dialect, Execute};
use crate::export::DjangoUser;
use crate::keys::StoredKey;
use crate::statements::Statements;

/// A token table on a pool, with its statements.
pub(crate) struct TokenRows<DB: Dialect> {
    pub(crate) pool: Pool<DB>,
    pub(crate) sql: Arc<Statements>,
}

impl<DB: Dialect> Clone for TokenRows<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            sql: Arc::clone(&self.sql),
        }
    }
}

/// A token's user as the query that found the token read it (DRF's
/// `select_related("user")`): [`PrefetchedUser`](tokenauth_core::store::PrefetchedUser)'s
/// content here, which a directory answers from only when it is on the same pool and
/// the same user table.
pub(crate) struct JoinedUser<DB: Dialect> {
    /// The pool and statements it was read with.
    read_by: TokenRows<DB>,
    user_id: UserId,
    /// None when the row named no user.
    user: Option<User>,
}

impl<DB: Dialect> JoinedUser<DB> {
    /// User `id` as read with its token (none if it had no row), if this was read
    /// on `pool` from the user table `sql` reads, for that user; none where the
    /// directory must read for itself.
    pub(crate) fn answer(self, pool: &Pool<DB>, sql: &Statements, id: &UserId) -> Option<Option<User>> {
        // Clones of one pool share its options: the same address is the same pool.
        let same_pool = std::ptr::eq(self.read_by.pool.options(), pool.options());
        let same_table = self.read_by.sql.user_by_id == sql.user_by_id;
        (same_pool && same_table && self.user_id == *id).then_some(self.user)
    }
}

/// Deletes `rows` by key (knox: digest); those that were still there.
async fn delete_rows<DB: Execute>(
    conn: &mut DB::Connection,
    sql: &Statements,
    rows: &[&KeyRow],
) -> Result<Vec<KeyRow>, Error> {
    let mut gone = Vec::with_capacity(rows.len());
    for row in rows {
        if DB::execute(conn, &sql.delete_token, &[Arg::Text(&row.key)]).await? > 0 {
            gone.push((*row).clone());
        }
    }
    Ok(gone)
}

impl<DB: Execute> TokenRows<DB> {
    /// The user's key, if `user` is one of this table's ids.
    pub(crate) fn key_of(&self, user: &UserId) -> Option<StoredKey> {
        self.sql.key().stored(user)
    }

    /// Deletes the rows `doomed` picks of the users whose keys lie between `low` and
    /// `high`, in one write transaction holding them; those deleted.
    async fn delete_where(
        &self,
        (low, high): (StoredKey, StoredKey),
        doomed: impl Fn(&KeyRow) -> bool + Send,
    ) -> Result<Vec<KeyRow>, Error> {
        let sql = &*self.sql;
        let mut tx = self.pool.begin_with(sql.begin_write).await?;
        let args = [low.arg(), high.arg()];
        let mut rows = DB::tokens(&mut tx, &sql.locked_tokens_between, &args, sql.key()).await?;
        common::sort(&mut rows);
        let doomed: Vec<&KeyRow> = rows.iter().filter(|row| doomed(row)).collect();
        let gone = delete_rows::<DB>(&mut tx, sql, &doomed).await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// The rows of the users whose keys lie between `low` and `high` (one user where
    /// they are equal), outside any transaction, oldest first.
    async fn between(&self, low: &StoredKey, high: &StoredKey) -> Result<Vec<KeyRow>, Error> {
        let mut conn = self.pool.acquire().await?;
        let args = [low.arg(), high.arg()];
        let mut rows = DB::tokens(&mut conn, &self.sql.tokens_between, &args, self.sql.key()).await?;
        common::sort(&mut rows);
        Ok(rows)
    }

    /// The user's rows, or every row; oldest first.
    pub(crate) async fn list(&self, user: Option<&UserId>) -> Result<Vec<KeyRow>, Error> {
        match user {
            Some(user) => match self.key_of(user) {
                Some(user) => self.between(&user, &user).await,
                None => Ok(Vec::new()),
            },
            None => {
                let mut conn = self.pool.acquire().await?;
                let mut rows = DB::tokens(&mut conn, &self.sql.all_tokens, &[], self.sql.key()).await?;
                common::sort(&mut rows);
                Ok(rows)
            }
        }
    }

    /// The rows `token_by_key` finds for `key`.
    pub(crate) async fn by_key(&self, key: &str) -> Result<Vec<KeyRow>, Error> {
        let mut conn = self.pool.acquire().await?;
        DB::tokens(
            &mut conn,
            &self.sql.token_by_key,
            &[Arg::Text(key)],
            self.sql.key(),
        )
        .await
    }

    /// The rows `token_with_user_by_key` finds for `key`, each with its user as the
    /// same query read it ([`JoinedUser`]).
    pub(crate) async fn by_key_with_users(&self, key: &str) -> Result<Vec<(KeyRow, JoinedUser<DB>)>, Error> {
        let mut conn = self.pool.acquire().await?;
        let sql = &self.sql.token_with_user_by_key;
        let rows = DB::tokens_with_users(&mut conn, sql, &[Arg::Text(key)], self.sql.key()).await?;
        let joined = |(row, user): (KeyRow, Option<DjangoUser>)| {
            let user = JoinedUser {
                read_by: self.clone(),
                user_id: row.user_id.clone(),
                user: user.map(common::user),
            };
            (row, user)
        };
        Ok(rows.into_iter().map(joined).collect())
    }

    /// The row whose id is `id`.
    pub(crate) async fn by_id(&self, id: &TokenId) -> Result<Option<KeyRow>, Error> {
        let Some((low, high)) = self.sql.user_range(id) else {
            return Ok(None);
        };
        let rows = self.between(&low, &high).await?;
        Ok(rows.into_iter().find(|r| &r.id() == id))
    }

    /// Deletes the row whose id is `id`; it, if it was there.
    pub(crate) async fn delete(&self, id: &TokenId) -> Result<Option<KeyRow>, Error> {
        let Some(range) = self.sql.user_range(id) else {
            return Ok(None);
        };
        let gone = self.delete_where(range, |row| &row.id() == id).await?;
        Ok(gone.into_iter().next())
    }

    /// Deletes the user's rows but `keep`; those deleted.
    pub(crate) async fn delete_for_user(
        &self,
        user: &UserId,
        keep: Option<&TokenId>,
    ) -> Result<Vec<KeyRow>, Error> {
        let Some(user) = self.key_of(user) else {
            return Ok(Vec::new());
        };
        self.delete_where((user.clone(), user), |row| Some(&row.id()) != keep)
            .await
    }

    /// Deletes the rows `purge_tokens` finds with `args`; those deleted. The rows are
    /// read locked, then deleted by key, in one transaction: no dialect needs `DELETE
    /// ... RETURNING` (MySQL has none).
    pub(crate) async fn purge(&self, args: &[Arg<'_>]) -> Result<Vec<KeyRow>, Error> {
        let sql = &*self.sql;
        let mut tx = self.pool.begin_with(sql.begin_write).await?;
        let rows = DB::tokens(&mut tx, &sql.purge_tokens, args, sql.key()).await?;
        let gone = delete_rows::<DB>(&mut tx, sql, &rows.iter().collect::<Vec<_>>()).await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// A commit's outcome, a transaction the database rolled back whole (MySQL's
    /// deadlock victim) taken for a conflict: nothing was applied, so core reads the
    /// set again and decides again.
    pub(crate) fn conflict_if_rolled_back(done: Result<Committed, Error>) -> Result<Committed, Error> {
        match done {
            Err(Error::Sqlx(error)) if DB::rolled_back(&error) => Ok(Committed::Conflict),
            done => done,
        }
    }

    /// The first half of a commit for `user`: in a write transaction, the user's
    /// password (its row locked shared where the database locks rows: it cannot
    /// change, by tokenauth or by Django, until the commit ends), then its token rows
    /// (locked for update); compares the version derived from them with `expected`
    /// and, when `change` inserts, the password with the record's credential version;
    /// deletes what `change` deletes. `None` on a conflict; else the transaction, in
    /// which the store inserts, and the rows deleted. Every writer of both tables
    /// here locks the user before its tokens, so they cannot deadlock.
    pub(crate) async fn begin_commit(
        &self,
        user: &StoredKey,
        expected: u64,
        change: &Change,
    ) -> Result<Option<(Transaction<'static, DB>, Vec<KeyRow>)>, Error> {
        let sql = &*self.sql;
        // SQLite's write transaction (`BEGIN IMMEDIATE`) takes the write lock before
        // anything is read: no other writer, Django included, enters until it ends.
        let mut tx = self.pool.begin_with(sql.begin_write).await?;
        let password = DB::text(&mut tx, &sql.password_for_commit, &[user.arg()]).await?;
        let args = [user.arg(), user.arg()];
        let mut rows = DB::tokens(&mut tx, &sql.locked_tokens_between, &args, sql.key()).await?;
        common::sort(&mut rows);
        if common::version_of(&rows) != expected || !common::issued_under(change, password.as_deref()) {
            return Ok(None);
        }
        let gone = delete_rows::<DB>(&mut tx, sql, &common::doomed(&rows, change)).await?;
        Ok(Some((tx, gone)))
    }
}
