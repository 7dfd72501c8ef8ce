//! tokenauth's own migration runner, written once for every dialect: `sqlite::migrate`
//! and `postgres::migrate`.
//!
//! The migrations are sqlx's (embedded and checksummed by `sqlx::migrate!`), but they
//! are recorded in a table of tokenauth's own, `tokenauth_migrations`, not in sqlx's
//! `_sqlx_migrations`: an application's own sqlx migrator on the same database then
//! never meets a version it does not know, and neither side needs
//! `set_ignore_missing`.
//!
//! Each transaction takes the dialect's lock first ([`Migrations::begin_locked`]), so
//! processes migrating at once run one after the other, and then: creates the record
//! if missing, adopts what an earlier tokenauth recorded in `_sqlx_migrations`, checks
//! the record against this build, and applies the first pending migration. The loop
//! ends with a transaction that finds nothing pending.

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;

use sqlx::migrate::Migration;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Transaction, Type};

use crate::Error;

/// What a dialect gives the migration runner.
pub trait Migrations: sqlx::Database {
    /// Creates `tokenauth_migrations` (`version`, `description`, `checksum`,
    /// `applied_at` with a default) unless it exists.
    const CREATE_RECORD: &'static str;

    /// A row if sqlx's `_sqlx_migrations` table is there (where an unqualified name
    /// finds it, as sqlx's migrator did), none otherwise.
    const SQLX_RECORD_EXISTS: &'static str;

    /// A row if `tokenauth_migrations` is there, none otherwise.
    const RECORD_EXISTS: &'static str;

    /// Records migration `$1` (description `$2`, checksum `$3`) as applied now.
    const RECORD: &'static str =
        "INSERT INTO tokenauth_migrations (version, description, checksum) VALUES ($1, $2, $3)";

    /// Copies sqlx's row of version `$1` into tokenauth's record, as sqlx recorded it.
    /// (SQLite needs the `WHERE` to read `ON CONFLICT` as the upsert's.)
    const ADOPT: &'static str = "INSERT INTO tokenauth_migrations (version, description, checksum, applied_at) \
         SELECT version, description, checksum, installed_on FROM _sqlx_migrations WHERE version = $1 \
         ON CONFLICT (version) DO NOTHING";

    /// Deletes sqlx's row of version `$1` with checksum `$2`.
    const FORGET: &'static str = "DELETE FROM _sqlx_migrations WHERE version = $1 AND checksum = $2";

    /// The dialect's migrations, embedded from `migrations/<dialect>`, oldest first.
    fn migrations() -> &'static [Migration];

    /// A transaction holding the lock that every process migrating this database takes
    /// first, until it ends ([`commit_locked`](Self::commit_locked), or a rollback).
    fn begin_locked(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, Error>> + Send;

    /// Commits a transaction of [`begin_locked`](Self::begin_locked), and lets go of its
    /// lock if the commit does not (MySQL's named locks outlive transactions).
    fn commit_locked(tx: Transaction<'static, Self>) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        tx.commit()
    }

    /// Rolls back a transaction of [`begin_locked`](Self::begin_locked) that failed,
    /// and lets go of its lock as [`commit_locked`](Self::commit_locked) does; a
    /// failure here changes nothing (the connection then closes, which frees both).
    fn rollback_locked(tx: Transaction<'static, Self>) -> impl Future<Output = ()> + Send {
        async {
            let _ = tx.rollback().await;
        }
    }
}

/// The applied migrations, by version, with their checksums.
const APPLIED: &str = "SELECT version, checksum FROM tokenauth_migrations ORDER BY version";

/// Every row of sqlx's record: the application's, and an earlier tokenauth's.
const SQLX_APPLIED: &str = "SELECT version, checksum FROM _sqlx_migrations ORDER BY version";

/// tokenauth's record of its migrations on dialect `D`, and the runner that keeps it.
pub(crate) struct Record<D>(PhantomData<D>);

// The `where` clause says what the runner binds and reads (see `store.rs`).
impl<D: Migrations> Record<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    usize: ColumnIndex<D::Row>,
    i64: for<'q> Encode<'q, D> + for<'r> Decode<'r, D> + Type<D>,
    Vec<u8>: for<'r> Decode<'r, D> + Type<D>,
    for<'q> &'q [u8]: Encode<'q, D> + Type<D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
{
    /// Applies `D`'s pending migrations on `pool`, oldest first, each in a
    /// transaction of its own.
    pub(crate) async fn run(pool: &Pool<D>) -> Result<(), Error> {
        // Every one a plain migration (see the test below).
        let known: BTreeMap<i64, &'static Migration> = D::migrations()
            .iter()
            .map(|migration| (migration.version, migration))
            .collect();
        loop {
            let mut tx = D::begin_locked(pool).await?;
            match Self::apply_next(&mut tx, &known).await {
                Ok(None) => {
                    D::commit_locked(tx).await?;
                    return Ok(());
                }
                Ok(Some(next)) => {
                    let version = next.version;
                    D::commit_locked(tx)
                        .await
                        .map_err(|source| Error::MigrationFailed { version, source })?;
                    tracing::info!(version, description = %next.description, "applied a tokenauth migration");
                }
                Err(error) => {
                    D::rollback_locked(tx).await;
                    return Err(error);
                }
            }
        }
    }

    /// In `tx`: creates the record if missing, adopts an earlier tokenauth's, checks
    /// it, and applies the first pending migration; which, or `None` if none is.
    async fn apply_next(
        tx: &mut Transaction<'static, D>,
        known: &BTreeMap<i64, &'static Migration>,
    ) -> Result<Option<&'static Migration>, Error> {
        sqlx::query(D::CREATE_RECORD).execute(&mut **tx).await?;
        Self::adopt(tx, known).await?;
        let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(APPLIED).fetch_all(&mut **tx).await?;
        check(&applied, known)?;
        let Some(next) = known
            .values()
            .find(|migration| !applied.iter().any(|(version, _)| *version == migration.version))
        else {
            return Ok(None);
        };
        let version = next.version;
        let failed = |source| Error::MigrationFailed { version, source };
        // Several statements, so `raw_sql`; called through `Executor`, as
        // `RawSql::execute`'s bounds cannot be met here.
        Executor::execute(&mut **tx, sqlx::raw_sql(&next.sql))
            .await
            .map_err(failed)?;
        sqlx::query(D::RECORD)
            .bind(version)
            .bind(&*next.description)
            .bind(&*next.checksum)
            .execute(&mut **tx)
            .await
            .map_err(failed)?;
        Ok(Some(next))
    }

    /// The versions of `D`'s migrations that `pool`'s database lacks, oldest first
    /// (all of them where it has no record), read without changing anything; an error
    /// if its record does not match this build ([`check`]).
    pub(crate) async fn pending(pool: &Pool<D>) -> Result<Vec<i64>, Error> {
        let mut connection = pool.acquire().await?;
        let applied: Vec<(i64, Vec<u8>)> = if sqlx::query(D::RECORD_EXISTS)
            .fetch_optional(&mut *connection)
            .await?
            .is_some()
        {
            sqlx::query_as(APPLIED).fetch_all(&mut *connection).await?
        } else {
            Vec::new()
        };
        let known: BTreeMap<i64, &Migration> = D::migrations()
            .iter()
            .map(|migration| (migration.version, migration))
            .collect();
        check(&applied, &known)?;
        Ok(known
            .into_keys()
            .filter(|version| !applied.iter().any(|(applied, _)| applied == version))
            .collect())
    }

    /// [`Self::pending`], as an error if any.
    pub(crate) async fn require_applied(pool: &Pool<D>) -> Result<(), Error> {
        let pending = Self::pending(pool).await?;
        match pending.last() {
            None => Ok(()),
            Some(&newest) => Err(Error::NotMigrated {
                pending: pending.len(),
                newest,
            }),
        }
    }

    /// Moves the rows an earlier tokenauth wrote in sqlx's `_sqlx_migrations`
    /// (tokenauth's versions, with this build's checksums) into
    /// `tokenauth_migrations`, and leaves the table and every other row to the
    /// application that may own them.
    async fn adopt(tx: &mut Transaction<'static, D>, known: &BTreeMap<i64, &Migration>) -> Result<(), Error> {
        if sqlx::query(D::SQLX_RECORD_EXISTS)
            .fetch_optional(&mut **tx)
            .await?
            .is_none()
        {
            return Ok(());
        }
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(SQLX_APPLIED).fetch_all(&mut **tx).await?;
        for (version, checksum) in rows {
            // Not one of tokenauth's versions: the application's.
            let Some(migration) = known.get(&version) else {
                continue;
            };
            if *migration.checksum != *checksum {
                return Err(Error::MigrationChanged { version });
            }
            sqlx::query(D::ADOPT).bind(version).execute(&mut **tx).await?;
            sqlx::query(D::FORGET)
                .bind(version)
                .bind(checksum.as_slice())
                .execute(&mut **tx)
                .await?;
            tracing::info!(
                version,
                "moved a tokenauth migration from _sqlx_migrations to tokenauth_migrations"
            );
        }
        Ok(())
    }
}

/// Whether the record matches this build: every applied version is one it knows,
/// with the same checksum.
fn check(applied: &[(i64, Vec<u8>)], known: &BTreeMap<i64, &Migration>) -> Result<(), Error> {
    for (version, checksum) in applied {
        let version = *version;
        match known.get(&version) {
            None => return Err(Error::MigrationUnknown { version }),
            Some(migration) if *migration.checksum != **checksum => {
                return Err(Error::MigrationChanged { version });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::migrate::{Migration, MigrationType};

    /// The runner applies each migration in a transaction, and has no use for the
    /// "down" halves of reversible ones: every migration must be a plain one.
    #[test]
    fn every_migration_is_a_plain_one_that_runs_in_a_transaction() {
        let plain = |m: &Migration| !m.no_tx && matches!(m.migration_type, MigrationType::Simple);
        #[cfg(feature = "sqlite")]
        assert!(crate::sqlite::migrations().iter().all(plain));
        #[cfg(feature = "postgres")]
        assert!(crate::postgres::migrations().iter().all(plain));
        #[cfg(feature = "mysql")]
        assert!(crate::mysql::migrations().iter().all(plain));
    }
}
