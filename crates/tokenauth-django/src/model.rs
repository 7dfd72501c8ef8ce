//! Which table holds Django's users and which of its columns mean what: Django's
//! `AUTH_USER_MODEL`, as configured (the table, `USERNAME_FIELD`, the active flag).

use std::fmt;

use crate::Error;

/// The longest identifier PostgreSQL keeps (longer ones are silently truncated there).
const MAX_IDENTIFIER: usize = 63;

/// A table or column name that may go into SQL text: ASCII letters, digits and `_`,
/// not starting with a digit, at most 63 characters. Django's own names are all of
/// this form (`db_table` defaults to `app_model`); anything else is refused rather
/// than quoted, since it could only come from a mistake.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Identifier(String);

impl Identifier {
    /// `name`, if it is an SQL identifier; [`Error::Identifier`] naming it if not.
    pub fn new(name: &str) -> Result<Self, Error> {
        let mut bytes = name.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        if first_ok && name.len() <= MAX_IDENTIFIER && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::Identifier {
                name: name.to_owned(),
            })
        }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    /// The name as a double-quoted SQL identifier (SQLite and PostgreSQL; the name
    /// holds no quote, so nothing needs escaping).
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// How a login is compared with the login field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginMatch {
    /// As Django's `ModelBackend` compares it (`get_by_natural_key`, an exact `=`):
    /// byte for byte on SQLite and PostgreSQL, as the column's collation says on
    /// MySQL/MariaDB (whose default collations fold case).
    #[default]
    Exact,
    /// Case-insensitively, as an authentication backend that looks users up with
    /// Django's `iexact` does (`UPPER(login) = UPPER(given)`: ASCII letters only on
    /// SQLite, as Django's `iexact` there; every letter on PostgreSQL and MySQL). A
    /// login that matches several users (`Alice` and `alice` both stored) logs in the
    /// one it matches exactly, and none if it matches none of them exactly.
    CaseInsensitive,
}

/// Django's user model as its table holds it: the table, the login field
/// (`USERNAME_FIELD`), how logins match it, and the active flag. The default is
/// `django.contrib.auth`'s `User`: `auth_user`, `username` matched exactly,
/// `is_active`.
///
/// The primary key is not configured: its column and type (integer, big integer, or
/// a UUID as Django stores it) are read from the database when the tables are opened.
///
/// ```
/// use tokenauth_django::UserModel;
///
/// // class Member(AbstractBaseUser): id = UUIDField(primary_key=True, ...);
/// //     email = EmailField(unique=True); USERNAME_FIELD = "email"
/// let model = UserModel::new("accounts_member")?
///     .with_login_field("email")?
///     .without_active_field();
/// assert_eq!(model.table().as_str(), "accounts_member");
/// # Ok::<(), tokenauth_django::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserModel {
    table: Identifier,
    login_field: Identifier,
    login_match: LoginMatch,
    active_field: Option<Identifier>,
}

impl Default for UserModel {
    fn default() -> Self {
        Self {
            table: Identifier("auth_user".to_owned()),
            login_field: Identifier("username".to_owned()),
            login_match: LoginMatch::Exact,
            active_field: Some(Identifier("is_active".to_owned())),
        }
    }
}

impl UserModel {
    /// The model of checked names: its table, its login field (matched exactly), its
    /// active flag's column if it has one.
    pub fn of(table: Identifier, login_field: Identifier, active_field: Option<Identifier>) -> Self {
        Self {
            table,
            login_field,
            login_match: LoginMatch::Exact,
            active_field,
        }
    }

    /// The model whose table is `table` (its `db_table`, e.g. `accounts_user`), with
    /// Django's default fields (`username`, `is_active`).
    pub fn new(table: &str) -> Result<Self, Error> {
        Ok(Self {
            table: Identifier::new(table)?,
            ..Self::default()
        })
    }

    /// Sets the column users log in with: `USERNAME_FIELD` (default `username`), any
    /// unique column, matched as [`Self::with_login_match`] says (by default exactly,
    /// as Django's `get_by_natural_key` matches it).
    pub fn with_login_field(mut self, column: &str) -> Result<Self, Error> {
        self.login_field = Identifier::new(column)?;
        Ok(self)
    }

    /// Sets how logins are compared with the login field (default
    /// [`LoginMatch::Exact`], as Django's `ModelBackend`).
    ///
    /// ```
    /// use tokenauth_django::{LoginMatch, UserModel};
    ///
    /// // A backend that finds users with `email__iexact`.
    /// let model = UserModel::new("accounts_member")?
    ///     .with_login_field("email")?
    ///     .with_login_match(LoginMatch::CaseInsensitive);
    /// assert_eq!(model.login_match(), LoginMatch::CaseInsensitive);
    /// # Ok::<(), tokenauth_django::Error>(())
    /// ```
    pub fn with_login_match(mut self, login_match: LoginMatch) -> Self {
        self.login_match = login_match;
        self
    }

    /// Sets the column of the active flag (default `is_active`).
    pub fn with_active_field(mut self, column: &str) -> Result<Self, Error> {
        self.active_field = Some(Identifier::new(column)?);
        Ok(self)
    }

    /// A model without an active column (an `AbstractBaseUser` whose `is_active` is
    /// Python's class attribute, always `True`): every user is active, as Django's
    /// `ModelBackend` treats them, and deactivating one is refused.
    pub fn without_active_field(mut self) -> Self {
        self.active_field = None;
        self
    }

    /// The users' table.
    pub fn table(&self) -> &Identifier {
        &self.table
    }

    /// The login column.
    pub fn login_field(&self) -> &Identifier {
        &self.login_field
    }

    /// How logins are compared with the login field.
    pub fn login_match(&self) -> LoginMatch {
        self.login_match
    }

    /// The active flag's column, if the table has one.
    pub fn active_field(&self) -> Option<&Identifier> {
        self.active_field.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_identifiers_are_names() {
        for good in ["auth_user", "accounts_User2", "_x", &"a".repeat(63)] {
            assert_eq!(Identifier::new(good).unwrap().as_str(), good);
        }
        for bad in ["", "2fa", "auth user", "a\"b", "users;drop", "é", &"a".repeat(64)] {
            let error = Identifier::new(bad).unwrap_err();
            assert!(
                matches!(&error, Error::Identifier { name } if name == bad),
                "{bad}"
            );
        }
    }
}
