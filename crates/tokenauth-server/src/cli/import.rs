//! `tokenauth import`: users and tokens in bulk, from JSON Lines files or generated
//! for benchmarks, through the backends' bulk inserts ([`UserImport`],
//! [`TokenImport`]).
//!
//! No password is hashed per user: a users file carries hashes made elsewhere, and
//! generated users share one hash of the password given. Tokens given in plaintext
//! are stored as their digests; generated tokens are written, in plaintext, to the
//! `--tokens-out` file only.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use tokenauth::core::TokenAuth;
use tokenauth_core::store::{NewUser, TokenImport, TokenRecord, UserImport};
use tokenauth_core::time::{OffsetDateTime, UtcOffset};
use tokenauth_core::{BackendError, PasswordHasher, Scopes, User};

mod tokens_out;

use super::password::{password_from, password_from_terminal};
use super::{CliError, Io};

/// Arguments of `tokenauth import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Users to create, one JSON object a line:
    /// `{"username": "alice", "password_hash": "$argon2id$v=19$...", "active": true}`
    /// (`active` is optional, default true). Existing users are left as they are.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Tokens to store, one JSON object a line: `{"username": "alice", "token":
    /// "tka_...", "name": "laptop", "scope": "read write", "created":
    /// "2026-01-01T00:00:00Z", "expires": "2026-02-01T00:00:00Z"}` (all but `username`
    /// and `token` optional; `created` defaults to now). Tokens already stored are
    /// skipped.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// Create this many users, named PREFIX1 to PREFIXN, all with the one password
    /// read from standard input (--password-stdin) or the terminal, hashed once.
    #[arg(long, value_name = "N")]
    pub generate_users: Option<u64>,
    /// Issue this many new tokens, spread evenly over the generated users; their
    /// plaintext goes to --tokens-out, one a line.
    #[arg(long, value_name = "N", requires_all = ["generate_users", "tokens_out"])]
    pub generate_tokens: Option<u64>,
    /// Where the generated tokens are written: a new file, created with mode 0600
    /// before anything is imported; an existing path, a symbolic link included, is
    /// refused.
    #[arg(long, value_name = "FILE")]
    pub tokens_out: Option<PathBuf>,
    /// The generated users' name prefix (--generate-users).
    #[arg(long, default_value = "user")]
    pub username_prefix: String,
    /// Read the generated users' password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Rows per transaction, from 1 to 1000000.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch: u64,
}

/// Why an import stopped. What was imported before stays (each batch commits).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A line of an input file is not what it must be.
    #[error("{file}, line {line}: {reason}")]
    Line {
        /// The file.
        file: String,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An input or output file cannot be opened.
    #[error("cannot open {file}")]
    File {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The `--tokens-out` file exists already (or is a symbolic link).
    #[error("{file} exists: --tokens-out writes a new file only, remove it or name another")]
    Exists {
        /// The file.
        file: String,
    },
    /// Nothing to import was given.
    #[error("nothing to import: give --users, --tokens or --generate-users")]
    Nothing,
}

/// A line of a users file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserLine {
    username: String,
    password_hash: String,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

/// A line of a tokens file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenLine {
    username: String,
    token: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default, with = "tokenauth_core::time::serde::rfc3339::option")]
    created: Option<OffsetDateTime>,
    #[serde(default, with = "tokenauth_core::time::serde::rfc3339::option")]
    expires: Option<OffsetDateTime>,
}

/// What an import did, for the summary line.
#[derive(Debug, Default)]
struct Summary {
    users_created: usize,
    users_existing: usize,
    tokens_stored: usize,
    tokens_skipped: usize,
}

/// Runs `tokenauth import`.
pub(super) async fn run<S, D, R, W>(
    args: ImportArgs,
    auth: &TokenAuth<S, D>,
    io: &mut Io<R, W>,
) -> Result<(), CliError>
where
    S: TokenImport,
    D: UserImport,
    R: BufRead,
    W: Write,
{
    if args.users.is_none() && args.tokens.is_none() && args.generate_users.is_none() {
        return Err(ImportError::Nothing.into());
    }
    // Before anything is imported: a path that cannot take the tokens changes nothing.
    let tokens_out = match (args.generate_tokens, &args.tokens_out) {
        (Some(count), Some(path)) => Some((count, tokens_out::create(path)?)),
        _ => None,
    };
    let batch = usize::try_from(args.batch).unwrap_or(usize::MAX);
    let mut summary = Summary::default();
    let started = std::time::Instant::now();
    if let Some(path) = &args.users {
        import_users_file(auth, path, batch, io.show_progress, &mut summary).await?;
    }
    let mut generated = Vec::new();
    if let Some(count) = args.generate_users {
        let password = if args.password_stdin {
            password_from(&mut io.stdin)?
        } else if io.interactive {
            password_from_terminal()?
        } else {
            return Err(CliError::Password(
                "standard input is not a terminal: pass the generated users' password with --password-stdin",
            ));
        };
        let hash = auth
            .password_hasher()
            .hash(&password)
            .await
            .map_err(BackendError::new)?;
        generated = generate_users(
            auth,
            &args.username_prefix,
            count,
            &hash,
            batch,
            io.show_progress,
            &mut summary,
        )
        .await?;
    }
    if let Some(path) = &args.tokens {
        import_tokens_file(auth, path, batch, io.show_progress, &mut summary).await?;
    }
    if let Some((count, out)) = tokens_out {
        tokens_out::generate_tokens(
            auth,
            &generated,
            count,
            out,
            batch,
            io.show_progress,
            &mut summary,
        )
        .await?;
    }
    writeln!(
        io.stdout,
        "{} user(s) created, {} already there; {} token(s) stored, {} already there\ntook {:.1}s",
        summary.users_created,
        summary.users_existing,
        summary.tokens_stored,
        summary.tokens_skipped,
        started.elapsed().as_secs_f64(),
    )?;
    Ok(())
}

/// A progress display on standard error when `show`, hidden otherwise: a bar with a
/// rate when the total is known, a counter when not.
pub(super) fn progress(show: bool, total: Option<u64>, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::new(total),
            format!("{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, {{eta}} left)"),
        ),
        None => (
            ProgressBar::new_spinner(),
            format!("{{spinner}} {{pos}} {what} ({{per_sec}})"),
        ),
    };
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
    bar
}

/// The non-empty lines of `path`, numbered from 1, in batches of `batch`, each given
/// to `each` with its line numbers.
async fn for_batches(
    path: &Path,
    batch: usize,
    mut each: impl AsyncFnMut(Vec<(usize, String)>) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let file = File::open(path).map_err(|source| ImportError::File {
        file: path.display().to_string(),
        source,
    })?;
    let mut lines = Vec::with_capacity(batch);
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        lines.push((index + 1, line));
        if lines.len() == batch {
            each(std::mem::take(&mut lines)).await?;
        }
    }
    if !lines.is_empty() {
        each(lines).await?;
    }
    Ok(())
}

fn bad_line(path: &Path, line: usize, reason: impl Into<String>) -> CliError {
    ImportError::Line {
        file: path.display().to_string(),
        line,
        reason: reason.into(),
    }
    .into()
}

/// Whether `username` could log in: logins trim the username, as DRF does.
fn valid_username(username: &str) -> bool {
    !username.is_empty() && username.trim() == username
}

async fn import_users_file<S, D>(
    auth: &TokenAuth<S, D>,
    path: &Path,
    batch: usize,
    show_progress: bool,
    summary: &mut Summary,
) -> Result<(), CliError>
where
    S: TokenImport,
    D: UserImport,
{
    let bar = progress(show_progress, None, "users");
    for_batches(path, batch, async |lines| {
        let mut users = Vec::with_capacity(lines.len());
        for (number, line) in lines {
            let parsed: UserLine =
                serde_json::from_str(&line).map_err(|e| bad_line(path, number, e.to_string()))?;
            if !valid_username(&parsed.username) {
                return Err(bad_line(
                    path,
                    number,
                    "a username must not be empty or start or end with whitespace",
                ));
            }
            if let Some(over) = auth.password_hasher().exceeded_limit(&parsed.password_hash) {
                // Never verified: a login could only fail (SECURITY.md, the caps).
                return Err(bad_line(path, number, over.to_string()));
            }
            if !PasswordHasher::is_supported_hash(&parsed.password_hash) {
                return Err(bad_line(
                    path,
                    number,
                    "password_hash is not an argon2 PHC string",
                ));
            }
            users.push(NewUser {
                username: parsed.username,
                password_hash: parsed.password_hash,
                is_active: parsed.active,
            });
        }
        let imported = auth
            .users()
            .import_users(&users)
            .await
            .map_err(BackendError::new)?;
        summary.users_created += imported.created;
        summary.users_existing += users.len() - imported.created;
        bar.inc(users.len() as u64);
        Ok(())
    })
    .await?;
    bar.finish_and_clear();
    Ok(())
}

async fn generate_users<S, D>(
    auth: &TokenAuth<S, D>,
    prefix: &str,
    count: u64,
    hash: &str,
    batch: usize,
    show_progress: bool,
    summary: &mut Summary,
) -> Result<Vec<User>, CliError>
where
    S: TokenImport,
    D: UserImport,
{
    if !valid_username(&format!("{prefix}1")) {
        return Err(CliError::Username);
    }
    let bar = progress(show_progress, Some(count), "users");
    let mut users = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut next = 1;
    while next <= count {
        let last = count.min(next + batch as u64 - 1);
        let chunk: Vec<NewUser> = (next..=last)
            .map(|n| NewUser {
                username: format!("{prefix}{n}"),
                password_hash: hash.to_owned(),
                is_active: true,
            })
            .collect();
        let imported = auth
            .users()
            .import_users(&chunk)
            .await
            .map_err(BackendError::new)?;
        summary.users_created += imported.created;
        summary.users_existing += chunk.len() - imported.created;
        users.extend(imported.users);
        bar.inc(chunk.len() as u64);
        next = last + 1;
    }
    bar.finish_and_clear();
    Ok(users)
}

/// A time as stored: UTC, whole microseconds.
fn stored_time(t: OffsetDateTime) -> OffsetDateTime {
    let utc = t.to_offset(UtcOffset::UTC);
    utc.replace_nanosecond(utc.microsecond() * 1000).unwrap_or(utc)
}

async fn import_tokens_file<S, D>(
    auth: &TokenAuth<S, D>,
    path: &Path,
    batch: usize,
    show_progress: bool,
    summary: &mut Summary,
) -> Result<(), CliError>
where
    S: TokenImport,
    D: UserImport,
{
    let bar = progress(show_progress, None, "tokens");
    let now = auth.now();
    let mut owners: HashMap<String, User> = HashMap::new();
    let mut generator = auth.format().generator();
    for_batches(path, batch, async |lines| {
        let mut records = Vec::with_capacity(lines.len());
        for (number, line) in lines {
            let parsed: TokenLine =
                serde_json::from_str(&line).map_err(|e| bad_line(path, number, e.to_string()))?;
            let Some(digest) = auth.format().digest_if_well_formed(&parsed.token) else {
                // It could never authenticate: authentication checks the format first.
                return Err(bad_line(
                    path,
                    number,
                    "token is not a token of this format (prefix, length or checksum)",
                ));
            };
            if parsed
                .name
                .as_deref()
                .is_some_and(|n| n.chars().any(char::is_control))
            {
                return Err(bad_line(
                    path,
                    number,
                    "a token name must not contain control characters",
                ));
            }
            let scopes = match &parsed.scope {
                Some(scope) => Scopes::parse(scope).map_err(|e| bad_line(path, number, e.to_string()))?,
                None => Scopes::default(),
            };
            if !owners.contains_key(&parsed.username) {
                let user = auth
                    .find_by_username(&parsed.username)
                    .await?
                    .ok_or_else(|| bad_line(path, number, format!("no user named {:?}", parsed.username)))?;
                owners.insert(parsed.username.clone(), user);
            }
            let owner = &owners[&parsed.username];
            records.push(TokenRecord {
                id: generator.id(),
                digest,
                user_id: owner.id.clone(),
                credential_version: owner.credential_version,
                name: parsed.name,
                scopes,
                created: parsed.created.map_or(now, stored_time),
                expires: parsed.expires.map(stored_time),
                last_used: None,
                last_ip: None,
            });
        }
        let stored = auth
            .store()
            .import_tokens(&records)
            .await
            .map_err(BackendError::new)?;
        summary.tokens_stored += stored;
        summary.tokens_skipped += records.len() - stored;
        bar.inc(records.len() as u64);
        Ok(())
    })
    .await?;
    bar.finish_and_clear();
    Ok(())
}
