//! What the dialects' bulk paths ([`Bulk`](crate::dialect::Bulk)) share, whatever
//! their statements: the checks of a copy, and the answer of an import.

use std::collections::HashMap;

use tokenauth_core::User;
use tokenauth_core::store::{ImportedUsers, LoginRecord, NewUser};

use crate::Error;
use crate::rows::row_id;

/// The primary keys of `batch`'s users (users as the source stores them); a user id
/// that is not one is an [`Error::Conflict`].
pub(crate) fn user_row_ids(batch: &[LoginRecord<User>]) -> Result<Vec<i64>, Error> {
    batch
        .iter()
        .map(|login| {
            row_id(&login.user.id)
                .ok_or_else(|| Error::Conflict(format!("user id {} is not an integer", login.user.id)))
        })
        .collect()
}

/// Whether writing `batch` (users as the source stores them) over the target's `stored`
/// users (id and username, for the batch's ids and names) would overwrite another
/// user: an id or a name the target holds for someone else is an [`Error::Conflict`].
pub(crate) fn check_user_clashes(
    batch: &[LoginRecord<User>],
    stored: Vec<(i64, String)>,
) -> Result<(), Error> {
    let wanted: HashMap<i64, &str> = batch
        .iter()
        .filter_map(|login| Some((row_id(&login.user.id)?, login.user.username.as_str())))
        .collect();
    for (id, username) in stored {
        match wanted.get(&id) {
            Some(name) if *name == username => {}
            Some(name) => {
                return Err(Error::Conflict(format!(
                    "user id {id} is {username:?} there but {name:?} in the source"
                )));
            }
            None => {
                return Err(Error::Conflict(format!(
                    "user {username:?} has id {id} there, another id in the source"
                )));
            }
        }
    }
    Ok(())
}

/// What an import of `batch` answers: the stored user of each of its names, in its
/// order (from `stored`, by username), and how many it created.
pub(crate) fn imported(
    batch: &[NewUser],
    stored: &HashMap<String, User>,
    created: u64,
) -> Result<ImportedUsers, Error> {
    let users = batch
        .iter()
        .map(|new| {
            stored.get(&new.username).cloned().ok_or(Error::Corrupt {
                what: "an imported user is missing after its insert",
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(ImportedUsers {
        users,
        created: usize::try_from(created).unwrap_or(usize::MAX),
    })
}
