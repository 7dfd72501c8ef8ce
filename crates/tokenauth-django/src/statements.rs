//! The SQL of the verbs written once ([`DjangoStore`](crate::DjangoStore),
//! [`DjangoUserDirectory`](crate::DjangoUserDirectory), the schema check and the
//! export): one table of statements per store, built when the tables are opened from
//! the user model's names (validated identifiers, quoted) and the primary key's type
//! the catalogue gave, and shared (`Arc`) by the store, the directory and their
//! clones. Their text is owned, not `&'static`: the names are known only at run time.
//!
//! The text is the SQL that SQLite and PostgreSQL both read: `$1`, `$2`...
//! parameters (SQLite takes `$N` as the N-th argument too), double-quoted names, `ON
//! CONFLICT`. What a dialect spells otherwise ([`Spelling`]: how a transaction
//! begins, its catalogue, its row locks, a key read as text, an insert that may find
//! its row taken) is put in by the dialect's items, and [`Spelling::spell`] rewrites
//! each finished statement (MySQL: `?` parameters and backquoted names). No statement
//! uses `RETURNING`, which MySQL lacks: a verb that writes then reads does both in one
//! transaction.
//!
//! Every statement names its columns (SQLite's `auth_user` has `first_name` last).
//! Token rows are (`key`, `created`, `user_id` as text, the user's `password` or
//! NULL, NULL), or on knox's table (`digest`, `created`, `user_id`, `password`,
//! `expiry`), and user rows (the key as text, the login field, the active flag,
//! `password`). Keys are read and bound as the key's kind says ([`KeyKind`]).

use crate::keys::{KeyKind, StoredKey};
use crate::model::{Identifier, LoginMatch};
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
    /// The type a value is cast to for its text.
    const TEXT: &'static str = "TEXT";
    /// The first and last variant digit (the 17th hex digit) of the UUIDs a token id's
    /// range of users spans ([`KeyKind::user_range`]): any, where UUIDs compare as
    /// their text does.
    const UUID_VARIANTS: (char, char) = ('0', 'f');

    /// SQL reading the key column `column` of `kind` as core's text form.
    fn key_text(kind: KeyKind, column: &str) -> String {
        kind.read(column)
    }

    /// SQL of parameter `$n` compared with or written to a key column of `kind`.
    fn key_param(kind: KeyKind, n: usize) -> String {
        kind.param(n)
    }

    /// `INSERT INTO {into}` (a table, its columns and `VALUES`) that inserts nothing,
    /// affecting no row, when the unique `conflict` column's value is taken.
    fn insert_or_nothing(into: &str, conflict: &str) -> String {
        format!("INSERT INTO {into} ON CONFLICT ({conflict}) DO NOTHING")
    }

    /// SQL reading the text column `column` as text the driver decodes.
    fn as_text(column: &str) -> String {
        column.to_owned()
    }

    /// A finished statement as the dialect reads it.
    fn spell(sql: String) -> String {
        sql
    }
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
    uuid_variants: (char, char),
    /// The unique column whose taken value [`Self::insert_token`] finds (the
    /// dialect's [`Spelling::insert_or_nothing`]).
    pub(crate) token_conflict: &'static str,
    /// The same of [`Self::create_user`]: the login column.
    pub(crate) login_conflict: String,

    /// The token rows of the users whose keys lie between `$1` and `$2`.
    pub(crate) tokens_between: String,
    /// The same, in a write transaction: the rows locked for update where the
    /// database locks rows.
    pub(crate) locked_tokens_between: String,
    /// The token row with key `$1`.
    pub(crate) token_by_key: String,
    /// The same, its user's row after it (key, login, active; NULL where the token
    /// names no user): the token and its user in one query, as DRF's
    /// `select_related("user")` reads them to authenticate.
    pub(crate) token_with_user_by_key: String,
    /// Every token row.
    pub(crate) all_tokens: String,
    /// Every token row, by user, without the password (the export).
    pub(crate) export_tokens: String,
    /// Deletes the token with key `$1`.
    pub(crate) delete_token: String,
    /// The `password` of user `$1`, read by a commit before it inserts a key: the row
    /// locked shared where the database locks rows, so that the password cannot change
    /// before the commit ends.
    pub(crate) password_for_commit: String,
    /// Inserts a token (`$1` key, `$2` created, `$3` user), or nothing, affecting no
    /// row, when the user has a token already (DRF's `user_id` is unique). On knox's
    /// table: `$1` digest, `$2` token_key, `$3` created, `$4` expiry, `$5` user.
    pub(crate) insert_token: String,
    /// Token rows created before `$1` (knox: or whose expiry is before `$2`), at most
    /// `$2` (knox: `$3`), locked for update where the database locks rows (then
    /// deleted by key, in the same transaction).
    pub(crate) purge_tokens: String,

    /// The user row with key `$1`.
    pub(crate) user_by_id: String,
    /// The user row whose login field is `$1`, compared exactly.
    pub(crate) user_by_login: String,
    /// The user rows a login `$1` matches, as the model's [`LoginMatch`] says.
    pub(crate) users_matching_login: String,
    /// Every user row, by login.
    pub(crate) users_by_login: String,
    /// Every user row, by key (the export).
    pub(crate) users_by_id: String,
    /// The `password` of user `$1`, its row locked for update where the database locks
    /// rows; no row without such a user.
    pub(crate) lock_user: String,
    /// Inserts a user as Django's `create_user` does, its arguments in the order
    /// [`Self::create_args`] gives; nothing, affecting no row, when the login is taken.
    pub(crate) create_user: String,
    pub(crate) create_args: Vec<CreateArg>,
    /// Sets the password of user `$2` to `$1`.
    pub(crate) set_password: String,
    /// Sets the password of user `$2` to `$1` only if it is still `$3`.
    pub(crate) rehash_password: String,
    /// Sets whether user `$2` may authenticate to `$1`; none without an active column.
    pub(crate) set_active: Option<String>,
    /// Sets the `expiry` of the knox row with digest `$2` to `$1` (knox's
    /// `AUTO_REFRESH`); none on DRF's table, which has no expiry.
    pub(crate) refresh_expiry: Option<String>,
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
        let spell = |sql: String| DB::spell(sql);
        let text = DB::TEXT;
        let table = layout.model.table().quoted();
        let id = layout.key_column.quoted();
        let login = layout.model.login_field().quoted();
        let active = layout
            .model
            .active_field()
            .map_or_else(|| "true".to_owned(), Identifier::quoted);
        let key = |n| DB::key_param(kind, n);
        let password = DB::as_text(r#""password""#);
        let user_row = format!(
            "{}, {}, {active}, {password}",
            DB::key_text(kind, &id),
            DB::as_text(&login)
        );
        let select_users = |rest: &str| spell(format!("SELECT {user_row} FROM {table} {rest}"));
        let knox = layout.tokens == TokenTable::Knox;
        let tokens = format!("\"{}\"", layout.tokens.name());
        // The row's key: DRF's plaintext `key`, knox's `digest`; and its expiry.
        let (token_key, expiry) = if knox {
            (r#""digest""#, r#"t."expiry""#.to_owned())
        } else {
            (r#""key""#, DB::NULL_TIME.to_owned())
        };
        let key_column = DB::as_text(&format!("t.{token_key}"));
        let token_user = DB::key_text(kind, r#"t."user_id""#);
        let select_tokens = |rest: &str| {
            spell(format!(
                r#"SELECT {key_column}, t."created", {token_user}, {}, {expiry}
                     FROM {tokens} t LEFT JOIN {table} u ON u.{id} = t."user_id" {rest}"#,
                DB::as_text(r#"u."password""#)
            ))
        };
        // Rows to lock need no user: a lock on the join would lock the user's row too.
        let token_row = format!(r#"{key_column}, t."created", {token_user}, CAST(NULL AS {text}), {expiry}"#);
        let locked_tokens = |rest: &str| {
            spell(format!(
                r#"SELECT {token_row} FROM {tokens} t {rest}{}"#,
                DB::LOCK_TOKENS
            ))
        };
        let between = format!(r#"WHERE t."user_id" BETWEEN {} AND {}"#, key(1), key(2));
        let (by_key, insert_token, purged) = if knox {
            (
                r#"WHERE t."token_key" = $1"#,
                format!(
                    r#"INSERT INTO {tokens} ("digest", "token_key", "created", "expiry", "user_id")
                       VALUES ($1, $2, $3, $4, {})"#,
                    key(5)
                ),
                r#"WHERE t."created" < $1 OR t."expiry" < $2 LIMIT $3"#,
            )
        } else {
            (
                r#"WHERE t."key" = $1"#,
                DB::insert_or_nothing(
                    &format!(
                        r#"{tokens} ("key", "created", "user_id") VALUES ($1, $2, {})"#,
                        key(3)
                    ),
                    r#""user_id""#,
                ),
                r#"WHERE t."created" < $1 LIMIT $2"#,
            )
        };
        let user_active = layout
            .model
            .active_field()
            .map_or_else(|| "true".to_owned(), |column| format!("u.{}", column.quoted()));
        let token_with_user_by_key = spell(format!(
            r#"SELECT {key_column}, t."created", {token_user}, {}, {expiry}, {}, {}, {user_active}
                 FROM {tokens} t LEFT JOIN {table} u ON u.{id} = t."user_id" {by_key}"#,
            DB::as_text(r#"u."password""#),
            DB::key_text(kind, &format!("u.{id}")),
            DB::as_text(&format!("u.{login}")),
        ));
        let (create_user, create_args) = create_user::<DB>(&layout, &table, &login);
        Self {
            begin_write: DB::BEGIN_WRITE,
            begin_snapshot: DB::BEGIN_SNAPSHOT,
            uuid_variants: DB::UUID_VARIANTS,
            token_conflict: "user_id",
            login_conflict: layout.model.login_field().as_str().to_owned(),
            tokens_between: select_tokens(&between),
            locked_tokens_between: locked_tokens(&between),
            token_by_key: select_tokens(by_key),
            token_with_user_by_key,
            all_tokens: select_tokens(""),
            export_tokens: spell(format!(
                r#"SELECT {token_row} FROM {tokens} t ORDER BY t."user_id""#
            )),
            delete_token: spell(format!("DELETE FROM {tokens} WHERE {token_key} = $1")),
            password_for_commit: spell(format!(
                "SELECT {password} FROM {table} WHERE {id} = {}{}",
                key(1),
                DB::SHARE_USER
            )),
            insert_token: spell(insert_token),
            purge_tokens: locked_tokens(purged),
            user_by_id: select_users(&format!("WHERE {id} = {}", key(1))),
            user_by_login: select_users(&format!("WHERE {login} = $1")),
            users_matching_login: select_users(&match layout.model.login_match() {
                LoginMatch::Exact => format!("WHERE {login} = $1"),
                // Django's `iexact` on PostgreSQL; on SQLite, the same ASCII-only folding
                // as the `LIKE` Django uses there.
                LoginMatch::CaseInsensitive => format!("WHERE UPPER({login}) = UPPER($1)"),
            }),
            users_by_login: select_users(&format!("ORDER BY {login}")),
            users_by_id: select_users(&format!("ORDER BY {id}")),
            lock_user: spell(format!(
                "SELECT {password} FROM {table} WHERE {id} = {}{}",
                key(1),
                DB::LOCK_USER
            )),
            create_user,
            create_args,
            set_password: spell(format!(
                r#"UPDATE {table} SET "password" = $1 WHERE {id} = {}"#,
                key(2)
            )),
            rehash_password: spell(format!(
                r#"UPDATE {table} SET "password" = $1 WHERE {id} = {} AND "password" = $3"#,
                key(2)
            )),
            set_active: layout.model.active_field().map(|column| {
                spell(format!(
                    "UPDATE {table} SET {} = $1 WHERE {id} = {}",
                    column.quoted(),
                    key(2)
                ))
            }),
            refresh_expiry: knox.then(|| {
                spell(format!(
                    r#"UPDATE {tokens} SET "expiry" = $1 WHERE {token_key} = $2"#
                ))
            }),
            delete_tokens_of_user: spell(format!(r#"DELETE FROM {tokens} WHERE "user_id" = {}"#, key(1))),
            delete_user_links: layout
                .links
                .iter()
                .map(|(link, column)| {
                    spell(format!(
                        "DELETE FROM {} WHERE {} = {}",
                        link.quoted(),
                        column.quoted(),
                        key(1)
                    ))
                })
                .collect(),
            delete_user: spell(format!("DELETE FROM {table} WHERE {id} = {}", key(1))),
            layout,
        }
    }

    /// The stored keys between which lies the user the token id `id` names
    /// ([`KeyKind::user_range`]).
    pub(crate) fn user_range(&self, id: &tokenauth_core::TokenId) -> Option<(StoredKey, StoredKey)> {
        self.layout.key.user_range(id, self.uuid_variants)
    }

    /// The key's kind.
    pub(crate) fn key(&self) -> KeyKind {
        self.layout.key
    }
}

/// `INSERT` of a new user into `table`: the columns the table has of those Django's
/// `create_user` writes, each with its value, and the order of the arguments.
fn create_user<DB: Spelling>(layout: &Layout, table: &str, login: &str) -> (String, Vec<CreateArg>) {
    let mut columns = Vec::new();
    let mut values = Vec::new();
    let mut args = Vec::new();
    let param = |arg: CreateArg, args: &mut Vec<CreateArg>| {
        args.push(arg);
        match arg {
            CreateArg::Key => DB::key_param(layout.key, args.len()),
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
    let into = format!("{table} ({}) VALUES ({})", columns.join(", "), values.join(", "));
    (DB::spell(DB::insert_or_nothing(&into, login)), args)
}
