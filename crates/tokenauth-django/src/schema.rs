//! The check that a database holds Django's tables with the columns used.

use crate::Error;
use crate::dialect::Execute;

/// The tables and columns read or written, by table.
pub(crate) const NEEDED: [(&str, &[&str]); 2] = [
    (
        "auth_user",
        &[
            "id",
            "password",
            "last_login",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
        ],
    ),
    ("authtoken_token", &["key", "created", "user_id"]),
];

/// The first table or column of [`NEEDED`] missing from `present` (table, column).
fn first_missing(present: &[(String, String)]) -> Option<String> {
    for (table, columns) in NEEDED {
        if !present.iter().any(|(t, _)| t == table) {
            return Some(format!("table {table}"));
        }
        for column in columns {
            if !present.iter().any(|(t, c)| t == table && c == column) {
                return Some(format!("column {table}.{column}"));
            }
        }
    }
    None
}

/// Checks that the database behind `pool` has Django's `auth_user` and DRF's
/// `authtoken_token` with every column tokenauth uses; [`Error::Schema`] names the
/// first one missing. It only reads the catalogue: nothing is created or migrated.
/// The dialects' `connect` run it.
pub async fn check_schema<DB: Execute>(pool: &sqlx::Pool<DB>) -> Result<(), Error> {
    let present = DB::pairs(&mut *pool.acquire().await?, DB::COLUMNS).await?;
    match first_missing(&present) {
        Some(what) => Err(Error::Schema { what }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<(String, String)> {
        NEEDED
            .iter()
            .flat_map(|(t, cs)| cs.iter().map(|c| ((*t).to_owned(), (*c).to_owned())))
            .collect()
    }

    #[test]
    fn the_first_missing_table_or_column_is_named() {
        assert_eq!(first_missing(&all()), None);
        let no_tokens: Vec<_> = all()
            .into_iter()
            .filter(|(t, _)| t != "authtoken_token")
            .collect();
        assert_eq!(
            first_missing(&no_tokens).as_deref(),
            Some("table authtoken_token")
        );
        let no_active: Vec<_> = all().into_iter().filter(|(_, c)| c != "is_active").collect();
        assert_eq!(
            first_missing(&no_active).as_deref(),
            Some("column auth_user.is_active")
        );
    }
}
