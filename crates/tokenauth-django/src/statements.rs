//! The SQL of the verbs written once ([`DjangoStore`](crate::DjangoStore),
//! [`DjangoUserDirectory`](crate::DjangoUserDirectory), the schema check and the
//! export): one table of statements per store, built when the tables are opened from
//! the user model's names (validated identifiers, quoted) and the primary key's type
//! the catalogue gave, and shared (`Arc`) by the store, the directory and their
//! clones. Their text is owned, not `&'static`: the names are known only at run time.
//!
//! The text is the SQL that SQLite and PostgreSQL both read: `$1`, `$2`...
//! parameters (SQLite takes `$N` as the N-th argument too), `RETURNING`, `ON
//! CONFLICT`. What a dialect spells otherwise ([`Spelling`]: how a transaction
//! begins, its catalogue, its row locks) is put in by the dialect's constants.
//!
//! Every statement names its columns (SQLite's `auth_user` has `first_name` last).
//! Token rows are (`key`, `created`, `user_id` as text, the user's `password` or
//! NULL, NULL), or on knox's table (`digest`, `created`, `user_id`, `password`,
//! `expiry`), and user rows (the key as text, the login field, the active flag,
//! `password`). Keys are read and bound as the key's kind says ([`KeyKind`]).

use crate::keys::KeyKind;
use crate::model::Identifier;
use crate::schema::{FILLED, Layout, TokenTable};

/// What a dialect spells its own way; the rest of each statement is shared.
pub trait Spelling {
    /// Begins a transaction that writes: with the row locks below, no other writer
    /// comes between its reads and its writes.
    const BEGIN_WRITE: &'static str = "BEGIN";
    /// Begins a transaction that reads one consistent snapshot (the export).
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";
    /// Rows (table, column, type, NOT NULL, has a default, in the primary key) of the
    /// tables named `$1` to `$4` that exist, as the connection finds them. No
    /// default: each database has its own catalogue.
    const COLUMNS: &'static str;
    /// A NULL of the type of the dialect's time columns: DRF's rows' expiry.
    const NULL_TIME: &'static str = "NULL";
    /// Appended to a query of token rows (alias `t`) to lock them for update.
    const LOCK_TOKENS: &'static str = "";
    /// Appended to a query of a user row to lock it shared.
    const SHARE_USER: &'static str = "";
    /// Appended to a query of a user row to lock it for update.
    const LOCK_USER: &'static str = "";
}

/// An argument of [`Statements::create_user`], in the order its parameters have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateArg {
    /// A new primary key (a UUID: the column has no default).
    Key,
    Password,
    Login,
    Active,
    /// The time of creation (`date_joined`).
    Now,
}

/// Every statement of one store and directory, for one user model on one dialect.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) layout: Layout,
    pub(crate) begin_write: &'static str,
    pub(crate) begin_snapshot: &'static str,

    /// The token rows of the users whose keys lie between `$1` and `$2`.
    pub(crate) tokens_between: String,
    /// The same, in a write transaction: the rows locked for update where the
    /// database locks rows.
    pub(crate) locked_tokens_between: String,
    /// The token row with key `$1` (knox: the rows whose `token_key` is `$1`).
    pub(crate) token_by_key: String,
    /// Every token row.
    pub(crate) all_tokens: String,
    /// Every token row, by user, without the password (the export).
    pub(crate) export_tokens: String,
    /// Deletes the token with key (knox: digest) `$1`.
    pub(crate) delete_token: String,
    /// The `password` of user `$1`, read by a commit before it inserts a key: the row
    /// locked shared where the database locks rows, so that the password cannot change
    /// before the commit ends.
    pub(crate) password_for_commit: String,
    /// Inserts a token (`$1` key, `$2` created, `$3` user), or nothing, affecting no
    /// row, when the user has a token already (DRF's `user_id` is unique). On knox's
    /// table: `$1` digest, `$2` token_key, `$3` created, `$4` expiry, `$5` user.
    pub(crate) insert_token: String,
    /// Deletes at most `$2` tokens created before `$1` (knox: or whose expiry is
    /// before `$3`), returning their rows.
    pub(crate) purge_tokens: String,

    /// The user row with key `$1`.
    pub(crate) user_by_id: String,
    /// The user row whose login field is `$1`, compared exactly.
    pub(crate) user_by_login: String,
    /// Every user row, by login.
    pub(crate) users_by_login: String,
    /// Every user row, by key (the export).
    pub(crate) users_by_id: String,
    /// The `password` of user `$1`, its row locked for update where the database locks
    /// rows; no row without such a user.
    pub(crate) lock_user: String,
    /// Inserts a user as Django's `create_user` does, its arguments in the order
    /// [`Self::create_args`] gives, and returns its row; nothing, and no row, when the
    /// login is taken.
    pub(crate) create_user: String,
    pub(crate) create_args: Vec<CreateArg>,
    /// Sets the password of user `$2` to `$1`.
    pub(crate) set_password: String,
    /// Sets the password of user `$2` to `$1` only if it is still `$3`.
    pub(crate) rehash_password: String,
    /// Sets whether user `$2` may authenticate to `$1` and returns its row; none
    /// without an active column.
    pub(crate) set_active: Option<String>,
    /// Deletes the tokens of user `$1`.
    pub(crate) delete_tokens_of_user: String,
    /// Deletes the rows of user `$1` in Django's link tables (groups, permissions)
    /// that the database has.
    pub(crate) delete_user_links: Vec<String>,
    /// Deletes user `$1`.
    pub(crate) delete_user: String,
}

impl Statements {
    /// The dialect's catalogue query ([`Spelling::COLUMNS`]).
    pub(crate) fn columns<DB: Spelling>() -> &'static str {
        DB::COLUMNS
    }

    /// The statements of `layout` on dialect `DB`.
    pub(crate) fn new<DB: Spelling>(layout: Layout) -> Self {
        let kind = layout.key;
        let table = layout.model.table().quoted();
        let id = layout.key_column.quoted();
        let login = layout.model.login_field().quoted();
        let active = layout
            .model
            .active_field()
            .map_or_else(|| "true".to_owned(), Identifier::quoted);
        let key = |n| kind.param(n);
        let user_row = format!(r#"{}, {login}, {active}, "password""#, kind.read(&id));
        let select_users = |rest: &str| format!("SELECT {user_row} FROM {table} {rest}");
        let knox = layout.tokens == TokenTable::Knox;
        let tokens = format!("\"{}\"", layout.tokens.name());
        let (token_key, expiry) = if knox {
            (r#""digest""#, r#""expiry""#.to_owned())
        } else {
            (r#""key""#, DB::NULL_TIME.to_owned())
        };
        let token_user = kind.read(r#"t."user_id""#);
        let t_expiry = if knox {
            format!("t.{expiry}")
        } else {
            expiry.clone()
        };
        let select_tokens = |rest: &str| {
            format!(
                r#"SELECT t.{token_key}, t."created", {token_user}, u."password", {t_expiry}
                     FROM {tokens} t LEFT JOIN {table} u ON u.{id} = t."user_id" {rest}"#
            )
        };
        let between = format!(r#"WHERE t."user_id" BETWEEN {} AND {}"#, key(1), key(2));
        let token_row = format!(
            r#"{token_key}, "created", {}, CAST(NULL AS TEXT), {expiry}"#,
            kind.read(r#""user_id""#)
        );
        let (by_key, insert_token, purged) = if knox {
            (
                r#"WHERE t."token_key" = $1"#,
                format!(
                    r#"INSERT INTO {tokens} ("digest", "token_key", "created", "expiry", "user_id")
                       VALUES ($1, $2, $3, $4, {})"#,
                    key(5)
                ),
                r#""created" < $1 OR "expiry" < $3"#,
            )
        } else {
            (
                r#"WHERE t."key" = $1"#,
                format!(
                    r#"INSERT INTO {tokens} ("key", "created", "user_id")
                       VALUES ($1, $2, {}) ON CONFLICT ("user_id") DO NOTHING"#,
                    key(3)
                ),
                r#""created" < $1"#,
            )
        };
        let (create_user, create_args) = create_user(&layout, &table, &login, &user_row);
        Self {
            begin_write: DB::BEGIN_WRITE,
            begin_snapshot: DB::BEGIN_SNAPSHOT,
            tokens_between: select_tokens(&between),
            locked_tokens_between: format!("{}{}", select_tokens(&between), DB::LOCK_TOKENS),
            token_by_key: select_tokens(by_key),
            all_tokens: select_tokens(""),
            export_tokens: format!(r#"SELECT {token_row} FROM {tokens} ORDER BY "user_id""#),
            delete_token: format!("DELETE FROM {tokens} WHERE {token_key} = $1"),
            password_for_commit: format!(
                r#"SELECT "password" FROM {table} WHERE {id} = {}{}"#,
                key(1),
                DB::SHARE_USER
            ),
            insert_token,
            purge_tokens: format!(
                r#"DELETE FROM {tokens} WHERE {token_key} IN
                     (SELECT {token_key} FROM {tokens} WHERE {purged} LIMIT $2)
                   RETURNING {token_row}"#
            ),
            user_by_id: select_users(&format!("WHERE {id} = {}", key(1))),
            user_by_login: select_users(&format!("WHERE {login} = $1")),
            users_by_login: select_users(&format!("ORDER BY {login}")),
            users_by_id: select_users(&format!("ORDER BY {id}")),
            lock_user: format!(
                r#"SELECT "password" FROM {table} WHERE {id} = {}{}"#,
                key(1),
                DB::LOCK_USER
            ),
            create_user,
            create_args,
            set_password: format!(r#"UPDATE {table} SET "password" = $1 WHERE {id} = {}"#, key(2)),
            rehash_password: format!(
                r#"UPDATE {table} SET "password" = $1 WHERE {id} = {} AND "password" = $3"#,
                key(2)
            ),
            set_active: layout.model.active_field().map(|column| {
                format!(
                    "UPDATE {table} SET {} = $1 WHERE {id} = {} RETURNING {user_row}",
                    column.quoted(),
                    key(2)
                )
            }),
            delete_tokens_of_user: format!(r#"DELETE FROM {tokens} WHERE "user_id" = {}"#, key(1)),
            delete_user_links: layout
                .links
                .iter()
                .map(|(link, column)| {
                    format!(
                        "DELETE FROM {} WHERE {} = {}",
                        link.quoted(),
                        column.quoted(),
                        key(1)
                    )
                })
                .collect(),
            delete_user: format!("DELETE FROM {table} WHERE {id} = {}", key(1)),
            layout,
        }
    }

    /// The key's kind.
    pub(crate) fn key(&self) -> KeyKind {
        self.layout.key
    }
}

/// `INSERT` of a new user into `table`: the columns the table has of those Django's
/// `create_user` writes, each with its value, and the order of the arguments.
fn create_user(layout: &Layout, table: &str, login: &str, user_row: &str) -> (String, Vec<CreateArg>) {
    let mut columns = Vec::new();
    let mut values = Vec::new();
    let mut args = Vec::new();
    let param = |arg: CreateArg, args: &mut Vec<CreateArg>| {
        args.push(arg);
        match arg {
            CreateArg::Key => layout.key.param(args.len()),
            _ => format!("${}", args.len()),
        }
    };
    if layout.key != KeyKind::Integer {
        columns.push(layout.key_column.quoted());
        values.push(param(CreateArg::Key, &mut args));
    }
    columns.push(r#""password""#.to_owned());
    values.push(param(CreateArg::Password, &mut args));
    columns.push(login.to_owned());
    values.push(param(CreateArg::Login, &mut args));
    if let Some(active) = layout.model.active_field() {
        columns.push(active.quoted());
        values.push(param(CreateArg::Active, &mut args));
    }
    for (column, value) in FILLED {
        if layout.filled.contains(&column) {
            columns.push(format!("\"{column}\""));
            values.push(value.map_or_else(|| param(CreateArg::Now, &mut args), str::to_owned));
        }
    }
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({login}) DO NOTHING RETURNING {user_row}",
        columns.join(", "),
        values.join(", ")
    );
    (sql, args)
}
