//! `tokenauth copy-database`: makes one database's tokenauth tables a copy of
//! another's (the move from SQLite to PostgreSQL), through the bulk writes.
//!
//! Rows are copied as they are (user ids, hashes, credential versions, token ids and
//! digests, times, scopes, names, last uses, set versions, the stored serving
//! policy), so every token answers exactly as before. Running it again copies again:
//! the same source gives the same target, and tokens the target holds but the source
//! no longer does (revoked or purged since) are deleted.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::time::Instant;

use clap::Args;
use tokenauth_core::store::{LoginRecord, Settings, TokenRecord, TokenStore};
use tokenauth_core::{TokenId, User, UserId};
use tokenauth_sqlx::mysql::{MySqlStore, MySqlUserDirectory};
use tokenauth_sqlx::postgres::{PostgresStore, PostgresUserDirectory};
use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory};

use super::backend::{self, CopyRunner};
use super::import::progress;
use super::{CliError, DatabaseUrl, Io};

/// Arguments of `tokenauth copy-database`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to copy: `sqlite://FILE` (or `postgres://...`), migrated already
    /// (`tokenauth --database URL migrate`); only read. From the environment, a
    /// password stays off the command line.
    #[arg(long, value_name = "URL", env = "TOKENAUTH_COPY_FROM", hide_env_values = true)]
    pub from: DatabaseUrl,
    /// The database to copy into: `postgres://USER@HOST/DATABASE` (or `sqlite://FILE`),
    /// migrated first (`tokenauth --database URL migrate`, which creates a SQLite
    /// file).
    #[arg(long, value_name = "URL", env = "TOKENAUTH_COPY_TO", hide_env_values = true)]
    pub to: DatabaseUrl,
}

/// Rows read from the source at a time.
const PAGE: usize = 10_000;

/// A database's tokenauth tables, read and written as rows.
pub(super) trait Tables {
    async fn users_after(
        &self,
        after: Option<&UserId>,
    ) -> Result<Vec<LoginRecord<User>>, tokenauth_sqlx::Error>;
    async fn user_ids_given(&self) -> Result<i64, tokenauth_sqlx::Error>;
    async fn tokens_after(&self, after: Option<&TokenId>) -> Result<Vec<TokenRecord>, tokenauth_sqlx::Error>;
    async fn token_sets(&self) -> Result<Vec<(UserId, u64)>, tokenauth_sqlx::Error>;
    async fn settings(&self) -> Result<BTreeMap<String, String>, tokenauth_sqlx::Error>;
    async fn write_users(&self, users: &[LoginRecord<User>]) -> Result<(), tokenauth_sqlx::Error>;
    async fn reserve_user_ids(&self, given: i64) -> Result<(), tokenauth_sqlx::Error>;
    async fn write_tokens(&self, records: &[TokenRecord]) -> Result<(), tokenauth_sqlx::Error>;
    async fn delete_token(&self, id: &TokenId) -> Result<(), tokenauth_sqlx::Error>;
    async fn write_token_sets(&self, sets: &[(UserId, u64)]) -> Result<(), tokenauth_sqlx::Error>;
    async fn write_settings(&self, settings: &BTreeMap<String, String>) -> Result<(), tokenauth_sqlx::Error>;
}

/// [`Tables`] over a backend's store and directory, by their inherent bulk verbs.
macro_rules! tables {
    ($($store:ty, $users:ty);+) => {$(
        impl Tables for ($store, $users) {
            async fn users_after(&self, after: Option<&UserId>) -> Result<Vec<LoginRecord<User>>, tokenauth_sqlx::Error> {
                self.1.export_users(after, PAGE).await
            }
            async fn user_ids_given(&self) -> Result<i64, tokenauth_sqlx::Error> {
                self.1.user_ids_given().await
            }
            async fn tokens_after(&self, after: Option<&TokenId>) -> Result<Vec<TokenRecord>, tokenauth_sqlx::Error> {
                self.0.export_tokens(after, PAGE).await
            }
            async fn token_sets(&self) -> Result<Vec<(UserId, u64)>, tokenauth_sqlx::Error> {
                self.0.export_token_sets().await
            }
            async fn settings(&self) -> Result<BTreeMap<String, String>, tokenauth_sqlx::Error> {
                self.0.settings("").await
            }
            async fn write_users(&self, users: &[LoginRecord<User>]) -> Result<(), tokenauth_sqlx::Error> {
                self.1.copy_users(users).await
            }
            async fn reserve_user_ids(&self, given: i64) -> Result<(), tokenauth_sqlx::Error> {
                self.1.reserve_user_ids(given).await
            }
            async fn write_tokens(&self, records: &[TokenRecord]) -> Result<(), tokenauth_sqlx::Error> {
                self.0.copy_tokens(records).await
            }
            async fn delete_token(&self, id: &TokenId) -> Result<(), tokenauth_sqlx::Error> {
                self.0.delete(id).await.map(drop)
            }
            async fn write_token_sets(&self, sets: &[(UserId, u64)]) -> Result<(), tokenauth_sqlx::Error> {
                self.0.copy_token_sets(sets).await
            }
            async fn write_settings(&self, settings: &BTreeMap<String, String>) -> Result<(), tokenauth_sqlx::Error> {
                self.0.replace_settings("", settings).await
            }
        }
    )+};
}

tables!(
    SqliteStore, SqliteUserDirectory;
    PostgresStore, PostgresUserDirectory;
    MySqlStore, MySqlUserDirectory
);

/// Runs `tokenauth copy-database`: opens both databases, then copies.
pub(super) async fn run<R, W: Write>(args: &CopyArgs, io: &mut Io<R, W>) -> Result<(), CliError> {
    if args.from.as_str() == args.to.as_str() {
        return Err(CliError::Options(
            "--from and --to name the same database".to_owned(),
        ));
    }
    backend::open_tables(&args.from, &args.to, Copier { io }).await
}

/// Copies between the databases [`backend::open_tables`] opens.
struct Copier<'a, R, W> {
    io: &'a mut Io<R, W>,
}

impl<R, W: Write> CopyRunner for Copier<'_, R, W> {
    async fn copy(self, from: &impl Tables, to: &impl Tables) -> Result<(), CliError> {
        copy(from, to, self.io).await
    }
}

/// Copies every row of `from` into `to`, then deletes the tokens `to` holds that
/// `from` does not; prints a summary.
async fn copy<R, W: Write>(from: &impl Tables, to: &impl Tables, io: &mut Io<R, W>) -> Result<(), CliError> {
    let started = Instant::now();

    let bar = progress(io.show_progress, None, "users copied");
    let mut users = 0;
    let mut after = None;
    loop {
        let page = from.users_after(after.as_ref()).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.user.id.clone());
        to.write_users(&page).await?;
        users += page.len();
        bar.inc(page.len() as u64);
    }
    // Ids of users deleted in the source are never given to anyone in the target.
    to.reserve_user_ids(from.user_ids_given().await?).await?;
    bar.finish_and_clear();

    let bar = progress(io.show_progress, None, "tokens copied");
    let mut copied = HashSet::new();
    let mut after = None;
    loop {
        let page = from.tokens_after(after.as_ref()).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        to.write_tokens(&page).await?;
        copied.extend(page.into_iter().map(|record| record.id));
        bar.set_position(copied.len() as u64);
    }
    bar.finish_and_clear();

    // What the target still holds beyond the source: revoked or purged in the source
    // since an earlier copy. It must not work again after the move.
    let mut stale = Vec::new();
    let mut after = None;
    loop {
        let page = to.tokens_after(after.as_ref()).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        stale.extend(page.into_iter().map(|r| r.id).filter(|id| !copied.contains(id)));
    }
    for id in &stale {
        to.delete_token(id).await?;
    }

    let sets = from.token_sets().await?;
    to.write_token_sets(&sets).await?;
    let settings = from.settings().await?;
    to.write_settings(&settings).await?;

    writeln!(
        io.stdout,
        "copied {users} user(s), {} token(s), {} token-set version(s) and {} setting(s); \
         deleted {} token(s) the source no longer has\ntook {:.1}s",
        copied.len(),
        sets.len(),
        settings.len(),
        stale.len(),
        started.elapsed().as_secs_f64(),
    )?;
    Ok(())
}
