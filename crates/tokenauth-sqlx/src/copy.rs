//! What the copy of a database checks, whatever the engines.

use std::collections::HashMap;

use tokenauth_core::{LoginRecord, User};

use crate::Error;
use crate::rows::row_id;

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
