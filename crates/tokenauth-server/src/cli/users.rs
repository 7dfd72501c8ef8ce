//! `tokenauth user ...`: creating, listing, (de)activating and deleting users, through
//! the core's admin verbs, so that every change ends the tokens it must.

use std::io::{BufRead, Write};

use tokenauth::core::TokenAuth;
use tokenauth_core::User;
use tokenauth_core::store::{TokenStore, UserAdmin};

use super::password::{password_from, password_from_terminal};
use super::{CliError, Io, Output, UserCommand};

/// A user as `user list --output json` prints it: these keys, always.
#[derive(serde::Serialize)]
struct UserRow<'a> {
    id: &'a str,
    username: &'a str,
    active: bool,
}

/// Runs a `user` command.
pub(super) async fn run<S, D, R, W>(
    command: UserCommand,
    auth: &TokenAuth<S, D>,
    io: &mut Io<R, W>,
) -> Result<(), CliError>
where
    S: TokenStore,
    D: UserAdmin,
    R: BufRead,
    W: Write,
{
    let out = &mut io.stdout;
    match command {
        UserCommand::Add {
            username,
            password_stdin,
            inactive,
        } => {
            if username.is_empty() || username.trim() != username {
                // Logins trim the username, as DRF does: such a user could never log in.
                return Err(CliError::Username);
            }
            let password = if password_stdin {
                password_from(&mut io.stdin)?
            } else if io.interactive {
                password_from_terminal()?
            } else {
                return Err(CliError::Password(
                    "standard input is not a terminal: pass the password with --password-stdin",
                ));
            };
            let upserted = auth.upsert_user(&username, &password, !inactive).await?;
            let user = &upserted.user;
            let verb = if upserted.created { "created" } else { "updated" };
            let state = if user.is_active { "active" } else { "inactive" };
            write!(out, "{verb} user {:?} (id {}, {state})", user.username, user.id)?;
            if upserted.password_changed {
                write!(
                    out,
                    "; password changed, {} older token(s) revoked",
                    upserted.revoked
                )?;
            }
            writeln!(out)?;
        }
        UserCommand::List { output } => {
            let users = auth.list_users().await?;
            match output {
                Output::Text => {
                    writeln!(out, "{:<8} {:<7} USERNAME", "ID", "ACTIVE")?;
                    for user in users {
                        let active = if user.is_active { "yes" } else { "no" };
                        writeln!(out, "{:<8} {active:<7} {}", user.id, user.username)?;
                    }
                }
                Output::Json => {
                    let rows: Vec<UserRow<'_>> = users
                        .iter()
                        .map(|user| UserRow {
                            id: user.id.as_str(),
                            username: &user.username,
                            active: user.is_active,
                        })
                        .collect();
                    super::write_json(out, &rows)?;
                }
            }
        }
        UserCommand::Activate { username } => {
            found(auth.set_active(&username, true).await?, &username)?;
            writeln!(out, "activated user {username:?}")?;
        }
        UserCommand::Deactivate { username } => {
            found(auth.set_active(&username, false).await?, &username)?;
            writeln!(out, "deactivated user {username:?}")?;
        }
        UserCommand::RevokeAll { username } => {
            let user = found(auth.find_by_username(&username).await?, &username)?;
            let (_, revoked) = found(auth.revoke_everything(&user.id).await?, &username)?;
            writeln!(
                out,
                "revoked every token of user {username:?} ({revoked} deleted)"
            )?;
        }
        UserCommand::Delete { username } => {
            let (user, revoked) = found(auth.delete_user(&username).await?, &username)?;
            writeln!(
                out,
                "deleted user {username:?} (id {}) and {revoked} token(s)",
                user.id
            )?;
        }
    }
    Ok(())
}

/// `value`, or the error naming the user that was not found.
fn found<T>(value: Option<T>, username: &str) -> Result<T, CliError> {
    value.ok_or_else(|| CliError::NoSuchUser(username.to_owned()))
}

/// The owner of a token as the listing shows it.
pub(super) fn display_name(owner: Option<&User>) -> &str {
    owner.map_or("(deleted)", |u| u.username.as_str())
}
