//! The `--tokens-out` file: generated tokens, in plaintext, in a new file of the
//! owner's only.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::Path;

use tokenauth::core::TokenAuth;
use tokenauth_core::store::{TokenImport, TokenRecord, UserImport};
use tokenauth_core::{BackendError, User};

use super::{CliError, ImportError, Summary, progress};

/// Creates `path`, new, for secrets: readable and writable by its owner only. An
/// existing path is refused, a symbolic link too (even one to nowhere: `O_EXCL`), so
/// nothing is overwritten and no other file gets the tokens.
pub(super) fn create(path: &Path) -> Result<File, CliError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|source| {
        let file = path.display().to_string();
        match source.kind() {
            ErrorKind::AlreadyExists => ImportError::Exists { file },
            _ => ImportError::File { file, source },
        }
        .into()
    })
}

/// Issues `count` tokens spread over `users` and writes their plaintext to `out`, one
/// a line.
pub(super) async fn generate_tokens<S, D>(
    auth: &TokenAuth<S, D>,
    users: &[User],
    count: u64,
    out: File,
    batch: usize,
    show_progress: bool,
    summary: &mut Summary,
) -> Result<(), CliError>
where
    S: TokenImport,
    D: UserImport,
{
    if users.is_empty() {
        return Err(CliError::Username);
    }
    let mut file = BufWriter::new(out);
    let bar = progress(show_progress, Some(count), "tokens");
    let now = auth.now();
    let mut generator = auth.format().generator();
    let mut made = 0u64;
    let mut owner = users.iter().cycle();
    while made < count {
        let size = usize::try_from((count - made).min(batch as u64)).unwrap_or(batch);
        let mut records = Vec::with_capacity(size);
        let mut plaintext = String::with_capacity(size * (auth.format().token_len() + 1));
        for user in owner.by_ref().take(size) {
            let token = generator.token();
            records.push(TokenRecord {
                id: generator.id(),
                digest: token.digest(),
                user_id: user.id.clone(),
                credential_version: user.credential_version,
                name: None,
                scopes: auth.grantable_scopes().clone(),
                created: now,
                expires: None,
                last_used: None,
                last_ip: None,
            });
            plaintext.push_str(token.expose_secret());
            plaintext.push('\n');
        }
        let stored = auth
            .store()
            .import_tokens(&records)
            .await
            .map_err(BackendError::new)?;
        file.write_all(plaintext.as_bytes())?;
        summary.tokens_stored += stored;
        summary.tokens_skipped += records.len() - stored;
        made += records.len() as u64;
        bar.inc(records.len() as u64);
    }
    file.flush()?;
    bar.finish_and_clear();
    Ok(())
}
