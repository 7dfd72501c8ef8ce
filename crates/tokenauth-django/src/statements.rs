//! The SQL of the verbs written once ([`DjangoStore`](crate::DjangoStore),
//! [`DjangoUserDirectory`](crate::DjangoUserDirectory), the schema check and the
//! export): one table, each statement with its default text.
//!
//! The defaults are the SQL that SQLite and PostgreSQL both read: `$1`, `$2`...
//! parameters (SQLite takes `$N` as the N-th argument too), `CAST(.. AS BIGINT)` for
//! Django's `integer` ids (PostgreSQL decodes only an `int8` as a 64-bit integer),
//! `RETURNING`, `ON CONFLICT`. A dialect overrides what it spells otherwise: how a
//! transaction begins, its catalogue, its row locks.
//!
//! Every statement names its columns (SQLite's `auth_user` has `first_name` last).
//! Token rows are (`key`, `created`, `user_id`, the user's `password` or NULL) and user
//! rows (`id`, `username`, `is_active`, `password`).

/// A query reading token rows with their user's password, `$rest` appended.
macro_rules! select_tokens {
    ($rest:literal) => {
        concat!(
            r#"SELECT t."key", t."created", CAST(t."user_id" AS BIGINT), u."password"
                 FROM "authtoken_token" t LEFT JOIN "auth_user" u ON u."id" = t."user_id" "#,
            $rest
        )
    };
}

// For dialects that lock the rows they read (PostgreSQL's `FOR UPDATE`).
#[cfg(feature = "postgres")]
pub(crate) use select_tokens;

/// A query reading user rows, `$rest` appended.
macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            r#"SELECT CAST("id" AS BIGINT), "username", "is_active", "password" FROM "auth_user" "#,
            $rest
        )
    };
}

/// What a token row returned by a `DELETE` reads: no password.
macro_rules! returning_tokens {
    () => {
        r#" RETURNING "key", "created", CAST("user_id" AS BIGINT), CAST(NULL AS TEXT)"#
    };
}

/// Each statement of the verbs written once, as a dialect spells it. Overriding a
/// default must keep its parameters (in order) and the columns it reads.
pub trait Statements {
    /// Begins a transaction that writes: with the row locks below, no other writer
    /// comes between its reads and its writes.
    const BEGIN_WRITE: &'static str = "BEGIN";
    /// Begins a transaction that reads one consistent snapshot (the export).
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";
    /// The (table, column) pairs of `auth_user` and `authtoken_token`, as the
    /// connection finds them. No default: each database has its own catalogue.
    const COLUMNS: &'static str;

    /// The token rows of user `$1`.
    const TOKENS_OF_USER: &'static str = select_tokens!(r#"WHERE t."user_id" = $1"#);
    /// The same, in a write transaction: the rows locked for update where the database
    /// locks rows.
    const LOCKED_TOKENS_OF_USER: &'static str = Self::TOKENS_OF_USER;
    /// The token row with key `$1`.
    const TOKEN_BY_KEY: &'static str = select_tokens!(r#"WHERE t."key" = $1"#);
    /// Every token row.
    const ALL_TOKENS: &'static str = select_tokens!("");
    /// Every token row, by user, without the password (the export).
    const EXPORT_TOKENS: &'static str = r#"SELECT "key", "created", CAST("user_id" AS BIGINT),
             CAST(NULL AS TEXT) FROM "authtoken_token" ORDER BY "user_id""#;
    /// Deletes the token with key `$1`.
    const DELETE_TOKEN: &'static str = r#"DELETE FROM "authtoken_token" WHERE "key" = $1"#;
    /// The `password` of user `$1`, read by a commit before it inserts a key: the row
    /// locked shared where the database locks rows, so that the password cannot change
    /// before the commit ends.
    const PASSWORD_FOR_COMMIT: &'static str = r#"SELECT "password" FROM "auth_user" WHERE "id" = $1"#;
    /// Inserts a token (`$1` key, `$2` created, `$3` user id), or nothing, affecting no
    /// row, when the user has a token already (DRF's `user_id` is unique).
    const INSERT_TOKEN: &'static str = r#"INSERT INTO "authtoken_token" ("key", "created", "user_id")
        VALUES ($1, $2, $3) ON CONFLICT ("user_id") DO NOTHING"#;
    /// Deletes at most `$2` tokens created before `$1`, returning their rows.
    const PURGE_TOKENS: &'static str = concat!(
        r#"DELETE FROM "authtoken_token" WHERE "key" IN
             (SELECT "key" FROM "authtoken_token" WHERE "created" < $1 LIMIT $2)"#,
        returning_tokens!()
    );

    /// The user row with id `$1`.
    const USER_BY_ID: &'static str = select_users!(r#"WHERE "id" = $1"#);
    /// The user row with username `$1`, compared exactly.
    const USER_BY_USERNAME: &'static str = select_users!(r#"WHERE "username" = $1"#);
    /// Every user row, by username.
    const USERS_BY_USERNAME: &'static str = select_users!(r#"ORDER BY "username""#);
    /// Every user row, by id (the export).
    const USERS_BY_ID: &'static str = select_users!(r#"ORDER BY "id""#);
    /// The `password` of user `$1`, its row locked for update where the database locks
    /// rows; no row without such a user.
    const LOCK_USER: &'static str = r#"SELECT "password" FROM "auth_user" WHERE "id" = $1"#;
    /// Inserts a user as Django's `create_user` does (`$1` password, `$2` username, `$3`
    /// is_active, `$4` date_joined) and returns its row; nothing, and no row, when the
    /// username is taken.
    const CREATE_USER: &'static str = r#"INSERT INTO "auth_user" ("password", "last_login",
             "is_superuser", "username", "first_name", "last_name", "email", "is_staff",
             "is_active", "date_joined")
           VALUES ($1, NULL, false, $2, '', '', '', false, $3, $4)
           ON CONFLICT ("username") DO NOTHING
           RETURNING CAST("id" AS BIGINT), "username", "is_active", "password""#;
    /// Sets the password of user `$2` to `$1`.
    const SET_PASSWORD: &'static str = r#"UPDATE "auth_user" SET "password" = $1 WHERE "id" = $2"#;
    /// Sets the password of user `$2` to `$1` only if it is still `$3`.
    const REHASH_PASSWORD: &'static str =
        r#"UPDATE "auth_user" SET "password" = $1 WHERE "id" = $2 AND "password" = $3"#;
    /// Sets whether user `$2` may authenticate to `$1` and returns its row.
    const SET_ACTIVE: &'static str = r#"UPDATE "auth_user" SET "is_active" = $1 WHERE "id" = $2
        RETURNING CAST("id" AS BIGINT), "username", "is_active", "password""#;
    /// Deletes the token of user `$1`.
    const DELETE_TOKENS_OF_USER: &'static str = r#"DELETE FROM "authtoken_token" WHERE "user_id" = $1"#;
    /// Deletes the rows of user `$1` in Django's own link tables: groups, permissions.
    const DELETE_USER_LINKS: [&'static str; 2] = [
        r#"DELETE FROM "auth_user_groups" WHERE "user_id" = $1"#,
        r#"DELETE FROM "auth_user_user_permissions" WHERE "user_id" = $1"#,
    ];
    /// Deletes user `$1`.
    const DELETE_USER: &'static str = r#"DELETE FROM "auth_user" WHERE "id" = $1"#;
}
