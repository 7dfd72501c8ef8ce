//! `tokenauth token ...`: issuing, listing, revoking and purging tokens, under the
//! server's policy.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use indicatif::{ProgressBar, ProgressStyle};
use tokenauth::core::TokenAuth;
use tokenauth_core::store::{TokenStore, UserAdmin};
use tokenauth_core::time::OffsetDateTime;
use tokenauth_core::time::format_description::well_known::Rfc3339;
use tokenauth_core::{BackendError, DEFAULT_PURGE_BATCH, Scopes, TokenId, TokenRequest};

use super::policy::Resolved;
use super::users::display_name;
use super::{CliError, Io, Output, TokenCommand};

/// A token as `token list --output json` prints it: these keys, always (`null` when
/// unknown), and never its secret or digest.
#[derive(serde::Serialize)]
struct TokenRow {
    id: String,
    /// The owner's username; `null` once the user is deleted.
    user: Option<String>,
    user_id: String,
    created: String,
    expires: String,
    last_used: Option<String>,
    last_ip: Option<String>,
    status: &'static str,
    scopes: Vec<String>,
    name: Option<String>,
}

/// Runs a `token` command, under the server's `policy`, already applied to `auth`.
pub(super) async fn run<S, D, R: BufRead, W>(
    command: TokenCommand,
    auth: &TokenAuth<S, D>,
    policy: &Resolved,
    io: &mut Io<R, W>,
) -> Result<(), CliError>
where
    S: TokenStore,
    D: UserAdmin,
    W: Write,
{
    let out = &mut io.stdout;
    let find_user = async |username: &str| {
        auth.find_by_username(username)
            .await?
            .ok_or_else(|| CliError::NoSuchUser(username.to_owned()))
    };
    match command {
        TokenCommand::Create {
            username,
            name,
            lifespan,
            scope,
        } => {
            if name.as_deref().is_some_and(|n| n.chars().any(char::is_control)) {
                return Err(CliError::TokenName);
            }
            let user = find_user(&username).await?;
            let scopes = if scope.is_empty() {
                None
            } else {
                Some(Scopes::new(
                    scope.iter().flat_map(|s| s.split_ascii_whitespace()),
                )?)
            };
            let request = TokenRequest {
                name,
                lifespan,
                scopes,
                client_ip: None,
            };
            let issued = auth.issue(&user.id, request).await?;
            writeln!(out, "{}", issued.token.expose_secret())?;
        }
        TokenCommand::List { user, output } => {
            let user = match user {
                Some(username) => Some(find_user(&username).await?),
                None => None,
            };
            let records = auth
                .store()
                .list(user.as_ref().map(|u| &u.id))
                .await
                .map_err(BackendError::new)?;
            let owners: HashMap<_, _> = auth
                .list_users()
                .await?
                .into_iter()
                .map(|u| (u.id.clone(), u))
                .collect();
            let rows = records.iter().map(|record| {
                let owner = owners.get(&record.user_id);
                // The verdict authentication would give.
                let status = auth.status(record, owner);
                (auth.info(record), owner, status)
            });
            match output {
                Output::Text => {
                    writeln!(
                        out,
                        "{:<22}  {:<16}  {:<27}  {:<27}  {:<27}  {:<15}  {:<8}  {:<16}  NAME",
                        "ID", "USER", "CREATED", "EXPIRES", "LAST USED", "LAST IP", "STATUS", "SCOPES"
                    )?;
                    for (token, owner, status) in rows {
                        let username = display_name(owner);
                        writeln!(
                            out,
                            "{:<22}  {username:<16}  {:<27}  {:<27}  {:<27}  {:<15}  {status:<8}  {:<16}  {}",
                            token.id,
                            rfc3339(token.created),
                            rfc3339(token.expires),
                            token.last_used.map_or_else(|| "-".to_owned(), rfc3339),
                            token.last_ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
                            if token.scopes.is_empty() {
                                "-".to_owned()
                            } else {
                                token.scopes.to_string().replace(' ', ",")
                            },
                            // Names come from clients too: no control character reaches the terminal.
                            token.name.as_deref().unwrap_or("").replace(char::is_control, "?")
                        )?;
                    }
                }
                Output::Json => {
                    let rows: Vec<TokenRow> = rows
                        .map(|(token, owner, status)| TokenRow {
                            id: token.id.to_string(),
                            user: owner.map(|u| u.username.clone()),
                            user_id: token.user_id.as_str().to_owned(),
                            created: rfc3339(token.created),
                            expires: rfc3339(token.expires),
                            last_used: token.last_used.map(rfc3339),
                            last_ip: token.last_ip.map(|ip| ip.to_string()),
                            status: status.as_str(),
                            scopes: token.scopes.iter().map(str::to_owned).collect(),
                            name: token.name,
                        })
                        .collect();
                    super::write_json(out, &rows)?;
                }
            }
        }
        TokenCommand::Revoke {
            id: Some(id),
            token_stdin: false,
        } => {
            let token_id: TokenId = id.parse().map_err(|_| CliError::NoSuchToken(id.clone()))?;
            if !auth.revoke(&token_id).await? {
                return Err(CliError::NoSuchToken(id));
            }
            writeln!(out, "revoked token {id}")?;
        }
        TokenCommand::Revoke { .. } => {
            let token = if io.interactive {
                rpassword::prompt_password("Token: ")?
            } else {
                let mut line = String::new();
                io.stdin.read_line(&mut line)?;
                line
            };
            // Pasted tokens come with spaces and line endings; tokens have none.
            let token = token.trim();
            if token.is_empty() {
                return Err(CliError::TokenValue("no token on standard input"));
            }
            if auth.format().digest_if_well_formed(token).is_none() {
                return Err(CliError::TokenValue("not a token of this server's format"));
            }
            // Unlike the HTTP endpoint, the operator is told whether it was stored.
            let Some(revoked) = auth.revoke_by_value(token).await? else {
                return Err(CliError::TokenValue("no stored token matches the token given"));
            };
            let owner = auth
                .users()
                .find_user(&revoked.user_id)
                .await
                .map_err(BackendError::new)?;
            writeln!(
                io.stdout,
                "revoked token {} of user {}",
                revoked.id,
                display_name(owner.as_ref())
            )?;
        }
        TokenCommand::Purge { .. } => {
            // The grace given, else the one `serve` stored, else the default.
            let older_than = policy.purge_grace;
            let bar = if io.show_progress {
                ProgressBar::new_spinner()
            } else {
                ProgressBar::hidden()
            };
            bar.set_style(
                ProgressStyle::with_template("{spinner} purged {pos} tokens ({elapsed})")
                    .expect("valid template"),
            );
            let total = auth
                .purge(older_than.as_duration(), DEFAULT_PURGE_BATCH, |done| {
                    bar.set_position(u64::try_from(done).unwrap_or(u64::MAX));
                })
                .await?;
            bar.finish_and_clear();
            // Which lifespan decided, and where it came from: a purge under the wrong
            // one deletes tokens the server still accepts.
            writeln!(
                out,
                "purged {total} token(s) expired over {older_than} ago (server lifespan {}, {})",
                policy.lifespan, policy.lifespan_source
            )?;
        }
    }
    Ok(())
}

/// A time as RFC 3339, as the listing shows it.
fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}
