//! The check that a database holds Django's user table (as configured) and the token
//! table (DRF's `authtoken_token` or knox's `knox_authtoken`) with the columns used, and what the catalogue tells of them: the
//! primary key's column and type, the columns a new user can be given, the link
//! tables a deleted user leaves rows in.

use crate::dialect::{Arg, Execute};
use crate::keys::KeyKind;
use crate::model::{Identifier, UserModel};
use crate::{Error, statements::Statements};

/// The table of tokens the store serves on: DRF's or django-rest-knox's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenTable {
    /// DRF's `authtoken_token`: one plaintext key per user.
    Drf,
    /// knox's `knox_authtoken`: SHA-512 digests, many per user, an expiry each.
    Knox,
}

impl TokenTable {
    /// The table's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Drf => "authtoken_token",
            Self::Knox => "knox_authtoken",
        }
    }

    /// The columns used.
    fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Drf => &["key", "created", "user_id"],
            Self::Knox => &["digest", "token_key", "created", "expiry", "user_id"],
        }
    }

    /// The error naming what is `missing`.
    fn missing(self, missing: Vec<String>) -> Error {
        match self {
            Self::Drf => Error::Schema { missing },
            Self::Knox => Error::KnoxTables { missing },
        }
    }
}

/// The columns of Django's `AbstractUser` that a new user gets where the table has
/// them, besides the password, the login field and the active flag: the SQL of the
/// value Django's `create_user` gives each (`None`: the time of creation).
pub(crate) const FILLED: [(&str, Option<&str>); 7] = [
    ("last_login", Some("NULL")),
    ("is_superuser", Some("false")),
    ("is_staff", Some("false")),
    ("first_name", Some("''")),
    ("last_name", Some("''")),
    ("email", Some("''")),
    ("date_joined", None),
];

/// A column as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub(crate) table: String,
    pub(crate) name: String,
    pub(crate) type_name: String,
    pub(crate) not_null: bool,
    pub(crate) has_default: bool,
    pub(crate) primary: bool,
}

/// The user table as found: the model, its key, and what creating and deleting a
/// user touches.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) model: UserModel,
    /// The tokens' table.
    pub(crate) tokens: TokenTable,
    /// The primary key's column.
    pub(crate) key_column: Identifier,
    pub(crate) key: KeyKind,
    /// The columns of [`FILLED`] the table has (the login field's own excepted).
    pub(crate) filled: Vec<&'static str>,
    /// NOT NULL columns without a default that tokenauth cannot fill: creating a user
    /// is refused naming them.
    pub(crate) unfillable: Vec<String>,
    /// Django's link tables of the user (groups, permissions) and their user column.
    pub(crate) links: Vec<(Identifier, Identifier)>,
}

impl Layout {
    /// The layout of Django's own `auth_user`, without asking the database.
    pub(crate) fn stock() -> Self {
        let ident = |name: &str| Identifier::new(name).expect("Django's names are identifiers");
        Self {
            model: UserModel::default(),
            tokens: TokenTable::Drf,
            key_column: ident("id"),
            key: KeyKind::Integer,
            filled: FILLED.iter().map(|(name, _)| *name).collect(),
            unfillable: Vec::new(),
            links: vec![
                (ident("auth_user_groups"), ident("user_id")),
                (ident("auth_user_user_permissions"), ident("user_id")),
            ],
        }
    }

    /// The link tables Django makes for a user table `table` with `PermissionsMixin`:
    /// `{table}_groups` and `{table}_user_permissions`, and their other column.
    fn link_tables(table: &Identifier) -> [(String, &'static str); 2] {
        [
            (format!("{table}_groups"), "group_id"),
            (format!("{table}_user_permissions"), "permission_id"),
        ]
    }

    /// The layout `columns` (the catalogue's, of the tables [`Self::link_tables`] and
    /// `tokens` name besides the user table) describe, or what is missing or
    /// mistyped.
    pub(crate) fn of(model: &UserModel, tokens: TokenTable, columns: &[Column]) -> Result<Self, Error> {
        let table = model.table().as_str();
        let has_table = |t: &str| columns.iter().any(|c| c.table == t);
        let column = |t: &str, name: &str| columns.iter().find(|c| c.table == t && c.name == name);
        let mut missing = Vec::new();
        let primary = columns.iter().find(|c| c.table == table && c.primary);
        if has_table(table) {
            if primary.is_none() {
                missing.push(format!("the primary key of {table}"));
            }
            let needed = ["password", model.login_field().as_str()];
            let active = model.active_field().map(Identifier::as_str);
            for name in needed.into_iter().chain(active) {
                if column(table, name).is_none() {
                    missing.push(format!("column {table}.{name}"));
                }
            }
        } else {
            missing.push(format!("table {table}"));
        }
        let table_of_tokens = tokens;
        let (tokens, token_columns) = (tokens.name(), tokens.columns());
        if has_table(tokens) {
            for &name in token_columns {
                if column(tokens, name).is_none() {
                    missing.push(format!("column {tokens}.{name}"));
                }
            }
        } else {
            missing.push(format!("table {tokens}"));
        }
        let (Some(primary), Some(user_id)) = (primary, column(tokens, "user_id")) else {
            return Err(table_of_tokens.missing(missing));
        };
        if !missing.is_empty() {
            return Err(table_of_tokens.missing(missing));
        }
        let key_column = Identifier::new(&primary.name)?;
        let key = KeyKind::of_type(&primary.type_name).ok_or_else(|| Error::KeyType {
            what: format!("{table}.{} is {}", primary.name, primary.type_name),
        })?;
        if KeyKind::of_type(&user_id.type_name) != Some(key) {
            return Err(Error::KeyType {
                what: format!(
                    "{tokens}.user_id is {}, but {table}.{} is {}",
                    user_id.type_name, primary.name, primary.type_name
                ),
            });
        }
        let login = model.login_field().as_str();
        let filled: Vec<&'static str> = FILLED
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| *name != login && column(table, name).is_some())
            .collect();
        let written = ["password", login]
            .into_iter()
            .chain(model.active_field().map(Identifier::as_str));
        let written: Vec<&str> = written.chain(filled.iter().copied()).collect();
        let unfillable = columns
            .iter()
            .filter(|c| c.table == table && c.not_null && !c.has_default && !c.primary)
            .filter(|c| !written.contains(&c.name.as_str()))
            .map(|c| c.name.clone())
            .collect();
        let mut links = Vec::new();
        for (link, other) in Self::link_tables(model.table()) {
            let user_columns: Vec<&Column> = columns
                .iter()
                .filter(|c| c.table == link && c.name != "id" && c.name != other)
                .collect();
            if let [user_column] = user_columns[..] {
                links.push((Identifier::new(&link)?, Identifier::new(&user_column.name)?));
            }
        }
        Ok(Self {
            model: model.clone(),
            tokens: table_of_tokens,
            key_column,
            key,
            filled,
            unfillable,
            links,
        })
    }

    /// Reads the catalogue of the database behind `conn` for `model` and `tokens`.
    pub(crate) async fn read<DB: Execute>(
        conn: &mut DB::Connection,
        model: &UserModel,
        tokens: TokenTable,
    ) -> Result<Self, Error> {
        let [groups, permissions] = Self::link_tables(model.table()).map(|(table, _)| table);
        let args = [
            Arg::Text(model.table().as_str()),
            Arg::Text(tokens.name()),
            Arg::Text(&groups),
            Arg::Text(&permissions),
        ];
        let columns = DB::columns(conn, Statements::columns::<DB>(), &args).await?;
        Self::of(model, tokens, &columns)
    }
}

/// Checks that the database behind `pool` has Django's `auth_user` and DRF's
/// `authtoken_token` with every column tokenauth uses; [`Error::Schema`] names every
/// one missing. It only reads the catalogue: nothing is created or migrated. The
/// dialects' `connect` run it; for another user model, [`DjangoTables::open`]
/// checks that model's table.
///
/// [`DjangoTables::open`]: crate::DjangoTables::open
pub async fn check_schema<DB: Execute>(pool: &sqlx::Pool<DB>) -> Result<(), Error> {
    Layout::read::<DB>(
        &mut *pool.acquire().await?,
        &UserModel::default(),
        TokenTable::Drf,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(table: &str, name: &str, type_name: &str, primary: bool) -> Column {
        Column {
            table: table.to_owned(),
            name: name.to_owned(),
            type_name: type_name.to_owned(),
            not_null: true,
            has_default: false,
            primary,
        }
    }

    fn stock() -> Vec<Column> {
        let mut columns = vec![column("auth_user", "id", "integer", true)];
        for name in ["password", "username", "is_active", "last_login", "is_superuser"] {
            columns.push(column("auth_user", name, "varchar(128)", false));
        }
        for name in ["first_name", "last_name", "email", "is_staff", "date_joined"] {
            columns.push(column("auth_user", name, "varchar(150)", false));
        }
        columns.push(column("authtoken_token", "key", "varchar(40)", true));
        columns.push(column("authtoken_token", "created", "datetime", false));
        columns.push(column("authtoken_token", "user_id", "integer", false));
        columns
    }

    #[test]
    fn every_missing_table_and_column_is_named() {
        let layout = Layout::of(&UserModel::default(), TokenTable::Drf, &stock()).unwrap();
        assert_eq!((layout.key, layout.key_column.as_str()), (KeyKind::Integer, "id"));
        assert!(layout.unfillable.is_empty());
        let custom = UserModel::new("accounts_user")
            .unwrap()
            .with_login_field("email")
            .unwrap();
        let Err(Error::Schema { missing }) = Layout::of(&custom, TokenTable::Drf, &stock()) else {
            panic!()
        };
        assert_eq!(missing, ["table accounts_user"]);
        let some: Vec<Column> = stock()
            .into_iter()
            .filter(|c| !["is_active", "password", "created"].contains(&c.name.as_str()))
            .collect();
        let error = Layout::of(&UserModel::default(), TokenTable::Drf, &some).unwrap_err();
        assert_eq!(
            error.to_string(),
            "not a Django database with DRF's authtoken app: column auth_user.password is \
             missing; column auth_user.is_active is missing; column authtoken_token.created is \
             missing (run Django's `migrate` with `rest_framework.authtoken` installed; for a \
             custom user model, name its table and fields)"
        );
    }

    #[test]
    fn knoxs_table_is_checked_in_place_of_drfs() {
        let mut columns: Vec<Column> = stock().into_iter().filter(|c| c.table == "auth_user").collect();
        columns.push(column("knox_authtoken", "digest", "varchar(128)", true));
        columns.push(column("knox_authtoken", "created", "datetime", false));
        columns.push(column("knox_authtoken", "user_id", "integer", false));
        let error = Layout::of(&UserModel::default(), TokenTable::Knox, &columns).unwrap_err();
        assert_eq!(
            error.to_string(),
            "not a Django database with django-rest-knox: column knox_authtoken.token_key is \
             missing; column knox_authtoken.expiry is missing (run Django's `migrate` with `knox` \
             installed; for a custom user model, name its table and fields)"
        );
        columns.push(column("knox_authtoken", "token_key", "varchar(25)", false));
        columns.push(column("knox_authtoken", "expiry", "datetime", false));
        let layout = Layout::of(&UserModel::default(), TokenTable::Knox, &columns).unwrap();
        assert_eq!(layout.tokens, TokenTable::Knox);
        let Err(Error::Schema { missing }) = Layout::of(&UserModel::default(), TokenTable::Drf, &columns)
        else {
            panic!()
        };
        assert_eq!(missing, ["table authtoken_token"]);
    }

    #[test]
    fn the_key_type_is_read_and_drfs_column_must_follow_it() {
        let mut columns: Vec<Column> = stock()
            .into_iter()
            .map(|mut c| {
                if c.name == "id" || c.name == "user_id" {
                    c.type_name = "uuid".to_owned();
                }
                c
            })
            .collect();
        assert_eq!(
            Layout::of(&UserModel::default(), TokenTable::Drf, &columns)
                .unwrap()
                .key,
            KeyKind::Uuid
        );
        columns.retain(|c| c.name != "user_id");
        columns.push(column("authtoken_token", "user_id", "integer", false));
        let error = Layout::of(&UserModel::default(), TokenTable::Drf, &columns).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("authtoken_token.user_id is integer, but auth_user.id is uuid"),
            "{error}"
        );
    }

    #[test]
    fn columns_a_new_user_cannot_be_given_are_named() {
        let mut columns: Vec<Column> = stock()
            .into_iter()
            .filter(|c| c.name != "first_name" && c.name != "is_active")
            .collect();
        columns.push(column("auth_user", "nickname", "varchar(10)", false));
        let mut defaulted = column("auth_user", "theme", "varchar(10)", false);
        defaulted.has_default = true;
        columns.push(defaulted);
        let model = UserModel::default().without_active_field();
        let layout = Layout::of(&model, TokenTable::Drf, &columns).unwrap();
        assert_eq!(layout.unfillable, ["nickname"]);
        assert!(!layout.filled.contains(&"first_name"));
        assert!(layout.links.is_empty());
    }
}
