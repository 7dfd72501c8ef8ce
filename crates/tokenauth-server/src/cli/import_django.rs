//! `tokenauth import-django`: the move off a Django/DRF database (the last step of the
//! strangler path in docs/django.md), through the bulk writes of `tokenauth import`.
//!
//! Users are copied with Django's hash as it is (the argon2id hasher verifies Django's
//! formats, reports them outdated and re-hashes them to argon2id on the first
//! successful login) and their active flag. DRF's keys are stored as their SHA-256
//! digests with their `created`, so each expires when it would have in Django, and the
//! database records that it holds DRF keys: `serve` then accepts 40-hex keys besides
//! its own format. Users and tokens already imported are skipped, so running it again
//! changes nothing.

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use clap::Args;
use tokenauth::core::TokenAuth;
use tokenauth_core::store::{NewUser, TokenDigest, TokenImport, TokenRecord, UserImport};
use tokenauth_core::{BackendError, PasswordHasher, Scopes, User, UserId};
use tokenauth_django::UserModel;
use tokenauth_django::hashers::DjangoHash;

use super::backend;
use super::import::progress;
use super::{CliError, DatabaseUrl, Io, PolicyStore};

/// Arguments of `tokenauth import-django`.
#[derive(Debug, Args)]
pub struct ImportDjangoArgs {
    /// The Django database to read: `sqlite:///srv/app/db.sqlite3` or
    /// `postgres://USER@HOST/DATABASE`. Only read; its schema is checked first (a
    /// custom user model: --django-user-table and the other --django-* options). From
    /// the environment, a password stays off the command line.
    #[arg(
        long,
        value_name = "URL",
        env = "TOKENAUTH_IMPORT_DJANGO_FROM",
        hide_env_values = true
    )]
    pub from: DatabaseUrl,
}

/// Rows written per transaction.
const BATCH: usize = 10_000;

/// The hash stored for a user whose Django hash tokenauth cannot verify (a hasher
/// outside Django's defaults): an unusable password, as Django writes it.
const UNUSABLE: &str = "!imported-from-django-with-an-unverifiable-hash";

/// Runs `tokenauth import-django` into `auth`'s store and directory; records in
/// `settings` that DRF keys are held.
pub(super) async fn run<S, D, P, R, W>(
    args: ImportDjangoArgs,
    model: &UserModel,
    auth: &TokenAuth<S, D>,
    settings: &P,
    io: &mut Io<R, W>,
) -> Result<(), CliError>
where
    S: TokenImport,
    D: UserImport,
    P: PolicyStore,
    W: Write,
{
    let started = Instant::now();
    let (users, tokens) = backend::read_django(&args.from, model).await?;

    let bar = progress(io.show_progress, Some(users.len() as u64), "users");
    let mut ids: HashMap<UserId, User> = HashMap::with_capacity(users.len());
    let (mut created, mut unverifiable, mut over_limits) = (0, 0, 0);
    for chunk in users.chunks(BATCH) {
        let batch: Vec<NewUser> = chunk
            .iter()
            .map(|user| {
                let over = auth.password_hasher().exceeded_limit(&user.password).is_some();
                let verifiable = !over
                    && (PasswordHasher::is_supported_hash(&user.password)
                        || matches!(DjangoHash::parse(&user.password), Ok(Some(_))));
                if over {
                    over_limits += 1;
                } else if !verifiable {
                    unverifiable += 1;
                }
                NewUser {
                    username: user.username.clone(),
                    password_hash: if verifiable {
                        user.password.clone()
                    } else {
                        UNUSABLE.to_owned()
                    },
                    is_active: user.is_active,
                }
            })
            .collect();
        let imported = auth
            .users()
            .import_users(&batch)
            .await
            .map_err(BackendError::new)?;
        created += imported.created;
        ids.extend(chunk.iter().map(|u| u.id.clone()).zip(imported.users));
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    // Recorded before the tokens are: a serve started meanwhile must accept them.
    settings
        .set_imported_drf_keys()
        .await
        .map_err(BackendError::new)?;

    let bar = progress(io.show_progress, Some(tokens.len() as u64), "tokens");
    let mut generator = auth.format().generator();
    let mut stored = 0;
    let mut malformed = 0;
    for chunk in tokens.chunks(BATCH) {
        let mut records = Vec::with_capacity(chunk.len());
        for token in chunk {
            // A row not in DRF's format could never authenticate here; its user is
            // DRF's foreign key, so it exists.
            let (Some(owner), Some(_)) = (ids.get(&token.user_id), TokenDigest::from_drf_key(&token.key))
            else {
                malformed += 1;
                continue;
            };
            records.push(TokenRecord {
                id: generator.id(),
                // What the native format computes for an imported DRF key.
                digest: TokenDigest::of(&token.key),
                user_id: owner.id.clone(),
                credential_version: owner.credential_version,
                name: None,
                scopes: Scopes::default(),
                created: token.created,
                expires: None,
                last_used: None,
                last_ip: None,
            });
        }
        stored += auth
            .store()
            .import_tokens(&records)
            .await
            .map_err(BackendError::new)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    writeln!(
        io.stdout,
        "{created} user(s) created, {} already there; {stored} token(s) stored, {} already there",
        users.len() - created,
        tokens.len() - malformed - stored,
    )?;
    if unverifiable > 0 {
        writeln!(
            io.stdout,
            "{unverifiable} user(s) had a hash of a hasher tokenauth cannot verify: imported with an unusable password (set one with `tokenauth user add NAME`)"
        )?;
    }
    if over_limits > 0 {
        writeln!(
            io.stdout,
            "{over_limits} user(s) had a hash over tokenauth's limits (SECURITY.md): imported with an unusable password (set one with `tokenauth user add NAME`)"
        )?;
    }
    if malformed > 0 {
        writeln!(io.stdout, "{malformed} token(s) skipped: not a DRF key")?;
    }
    writeln!(io.stdout, "took {:.1}s", started.elapsed().as_secs_f64())?;
    Ok(())
}
