//! `tokenauth import-django`: the move off a Django/DRF database (the last step of the
//! strangler path in docs/django.md), through the bulk writes of `tokenauth import`.
//!
//! Users are copied with Django's hash as it is (the argon2id hasher verifies Django's
//! formats, reports them outdated and re-hashes them to argon2id on the first
//! successful login) and their active flag. DRF's keys are stored as their SHA-256
//! digests with their `created`, so each expires when it would have in Django, and the
//! database records that it holds DRF keys: `serve` then accepts 40-hex keys besides
//! its own format. With `--django-tokens knox`, django-rest-knox's tokens are read
//! from `knox_authtoken` instead: each is stored by the digest of knox's SHA-512
//! (`TokenDigest::from_knox_digest`), with its `created` and knox's `expiry` as its own
//! expiry, and `serve` then accepts tokens of knox's shape. Users and tokens already
//! imported are skipped, so running it again changes nothing.

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use clap::Args;
use tokenauth::core::TokenAuth;
use tokenauth_core::store::{NewUser, TokenDigest, TokenImport, TokenRecord, UserImport};
use tokenauth_core::{BackendError, Lifespan, PasswordHasher, Scopes, User, UserId};
use tokenauth_django::UserModel;
use tokenauth_django::hashers::DjangoHash;
use tokenauth_django::knox::KnoxToken;
use tokenauth_django::{DjangoToken, DjangoUser};

use super::backend;
use super::import::progress;
use super::{CliError, DatabaseUrl, Io, PolicyStore};

/// Arguments of `tokenauth import-django`.
#[derive(Debug, Args)]
pub struct ImportDjangoArgs {
    /// The Django database to read: `sqlite:///srv/app/db.sqlite3`,
    /// `postgres://USER@HOST/DATABASE` or `mysql://USER@HOST/DATABASE`. Only read; its schema is checked first (a
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

/// The token package of a Django project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DjangoTokens {
    /// Django REST Framework's `rest_framework.authtoken`: one 40-hex key per user, in
    /// plaintext.
    #[default]
    Drf,
    /// django-rest-knox: many tokens per user, kept as their SHA-512 digests (knox's
    /// default `SECURE_HASH_ALGORITHM`), each with its own expiry.
    Knox,
}

/// Rows written per transaction.
const BATCH: usize = 10_000;

/// The hash stored for a user whose Django hash tokenauth cannot verify (a hasher
/// outside Django's defaults): an unusable password, as Django writes it.
const UNUSABLE: &str = "!imported-from-django-with-an-unverifiable-hash";

/// The tokens read from the Django database, of either package.
enum Tokens {
    Drf(Vec<DjangoToken>),
    Knox(Vec<KnoxToken>),
}

/// What importing the users did.
#[derive(Default)]
struct ImportedUsers {
    /// The user each Django id became.
    ids: HashMap<UserId, User>,
    created: usize,
    unverifiable: usize,
    over_limits: usize,
}

/// Runs `tokenauth import-django` into `auth`'s store and directory; records in
/// `settings` which tokens are held.
pub(super) async fn run<S, D, P, R, W>(
    args: ImportDjangoArgs,
    model: &UserModel,
    django_tokens: DjangoTokens,
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
    let (users, tokens) = match django_tokens {
        DjangoTokens::Drf => {
            let (users, tokens) = backend::read_django(&args.from, model).await?;
            (users, Tokens::Drf(tokens))
        }
        DjangoTokens::Knox => {
            // The knox import reads Django's stock auth_user; a user model named here
            // would be ignored, which is a mistake to say, not to pass over.
            if *model != UserModel::default() {
                return Err(CliError::Options(
                    "--django-tokens knox imports Django's stock auth_user only: --django-user-table, \
                     --django-login-field and --django-active-field do not apply to it yet"
                        .to_owned(),
                ));
            }
            let (users, tokens) = backend::read_knox(&args.from).await?;
            (users, Tokens::Knox(tokens))
        }
    };
    let imported = import_users(&users, auth, io.show_progress).await?;
    // Recorded before the tokens are: a serve started meanwhile must accept them.
    settings
        .set_imported(django_tokens)
        .await
        .map_err(BackendError::new)?;

    let mut generator = auth.format().generator();
    let mut record = |user_id: &UserId, digest: Option<TokenDigest>, created, expires| {
        // A row whose digest could never match here is skipped; its user is the
        // table's foreign key, so it exists.
        let (digest, owner) = (digest?, imported.ids.get(user_id)?);
        Some(TokenRecord {
            id: generator.id(),
            digest,
            user_id: owner.id.clone(),
            credential_version: owner.credential_version,
            name: None,
            scopes: Scopes::default(),
            created,
            expires,
            last_used: None,
            last_ip: None,
        })
    };
    let (read, records, skipped) = match &tokens {
        Tokens::Drf(tokens) => {
            let records: Vec<_> = tokens
                .iter()
                // What the native format computes for an imported DRF key.
                .filter_map(|t| {
                    let digest = TokenDigest::from_drf_key(&t.key).map(|_| TokenDigest::of(&t.key));
                    record(&t.user_id, digest, t.created, None)
                })
                .collect();
            (tokens.len(), records, "not a DRF key")
        }
        Tokens::Knox(tokens) => {
            let records: Vec<_> = tokens
                .iter()
                .filter_map(|t| {
                    record(
                        &t.user_id,
                        TokenDigest::from_knox_digest(&t.digest),
                        t.created,
                        t.expiry,
                    )
                })
                .collect();
            (tokens.len(), records, "not a knox SHA-512 digest")
        }
    };
    let stored = store_tokens(auth, &records, io.show_progress).await?;

    writeln!(
        io.stdout,
        "{} user(s) created, {} already there; {stored} token(s) stored, {} already there",
        imported.created,
        users.len() - imported.created,
        records.len() - stored,
    )?;
    if imported.unverifiable > 0 {
        writeln!(
            io.stdout,
            "{} user(s) had a hash of a hasher tokenauth cannot verify: imported with an unusable password (set one with `tokenauth user add NAME`)",
            imported.unverifiable
        )?;
    }
    if imported.over_limits > 0 {
        writeln!(
            io.stdout,
            "{} user(s) had a hash over tokenauth's limits (SECURITY.md): imported with an unusable password (set one with `tokenauth user add NAME`)",
            imported.over_limits
        )?;
    }
    if read > records.len() {
        writeln!(io.stdout, "{} token(s) skipped: {skipped}", read - records.len())?;
    }
    if let Tokens::Knox(_) = tokens {
        knox_expiry_advice(&records, io)?;
    }
    writeln!(io.stdout, "took {:.1}s", started.elapsed().as_secs_f64())?;
    Ok(())
}

/// Creates the users (those already there are kept as they are).
async fn import_users<S, D>(
    users: &[DjangoUser],
    auth: &TokenAuth<S, D>,
    show_progress: bool,
) -> Result<ImportedUsers, CliError>
where
    S: TokenImport,
    D: UserImport,
{
    let bar = progress(show_progress, Some(users.len() as u64), "users");
    let mut imported = ImportedUsers {
        ids: HashMap::with_capacity(users.len()),
        ..ImportedUsers::default()
    };
    for chunk in users.chunks(BATCH) {
        let batch: Vec<NewUser> = chunk
            .iter()
            .map(|user| {
                let over = auth.password_hasher().exceeded_limit(&user.password).is_some();
                let verifiable = !over
                    && (PasswordHasher::is_supported_hash(&user.password)
                        || matches!(DjangoHash::parse(&user.password), Ok(Some(_))));
                if over {
                    imported.over_limits += 1;
                } else if !verifiable {
                    imported.unverifiable += 1;
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
        let created = auth
            .users()
            .import_users(&batch)
            .await
            .map_err(BackendError::new)?;
        imported.created += created.created;
        imported
            .ids
            .extend(chunk.iter().map(|u| u.id.clone()).zip(created.users));
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(imported)
}

/// Stores the records (those already there are skipped); how many it stored.
async fn store_tokens<S, D>(
    auth: &TokenAuth<S, D>,
    records: &[TokenRecord],
    show_progress: bool,
) -> Result<usize, CliError>
where
    S: TokenImport,
    D: UserImport,
{
    let bar = progress(show_progress, Some(records.len() as u64), "tokens");
    let mut stored = 0;
    for chunk in records.chunks(BATCH) {
        stored += auth
            .store()
            .import_tokens(chunk)
            .await
            .map_err(BackendError::new)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(stored)
}

/// Says how long `serve`'s lifespan must be for knox's expiries to be the ones that
/// count: tokenauth's configured lifespan applies to every token from its `created`
/// (lowering it ends older tokens at once), an imported knox token's `expiry` only
/// caps it.
fn knox_expiry_advice<R, W: Write>(records: &[TokenRecord], io: &mut Io<R, W>) -> Result<(), CliError> {
    let longest = records.iter().filter_map(|r| Some(r.expires? - r.created)).max();
    if let Some(longest) = longest.filter(|l| l.is_positive()) {
        // Whole seconds, rounded up.
        let seconds = longest.whole_seconds() + i64::from(longest.subsec_nanoseconds() > 0);
        let lifespan = Lifespan::new(time::Duration::seconds(seconds))
            .map_or_else(|_| format!("{seconds}s"), |l| l.to_string());
        writeln!(
            io.stdout,
            "knox's expiries reach {lifespan} after creation: serve with --lifespan \"{lifespan}\" or longer, or a shorter lifespan ends them earlier"
        )?;
    }
    let never = records.iter().filter(|r| r.expires.is_none()).count();
    if never > 0 {
        writeln!(
            io.stdout,
            "{never} knox token(s) never expire in knox (expiry NULL): here they expire at the end of serve's --lifespan from their creation"
        )?;
    }
    Ok(())
}
