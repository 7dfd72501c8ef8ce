-- The tokenauth tables on MySQL and MariaDB (InnoDB, utf8mb4): the same tables as on
-- SQLite and PostgreSQL, at the schema they have reached (there is no MySQL history
-- to replay).
--
-- Every name that is matched or ordered (usernames, token and user ids, setting keys,
-- password hashes) is a VARBINARY column: compared and ordered bytewise and exactly,
-- as SQLite's BINARY and PostgreSQL's "C" collations do, and never padded (MySQL's
-- `utf8mb4_bin` ignores trailing spaces, so `'alice '` would be `'alice'` there).
-- tokenauth writes and reads them as UTF-8 text. Times are whole Unix microseconds in
-- BIGINT columns, as on SQLite: no time zone to get wrong, and the order is numeric.
--
-- MySQL commits each of these statements by itself (DDL is not transactional): if
-- one fails, the tables made before it stay and the migration is not recorded, so the
-- next run fails on them too. Drop the tables this file creates, then migrate again.

-- Users of the argon2id user directory (`MySqlUserDirectory`). Ids come from
-- AUTO_INCREMENT, whose counter InnoDB keeps across restarts: never reused.
-- `created` is informational (the database's clock); tokenauth never reads it.
CREATE TABLE tokenauth_users (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username VARBINARY(255) NOT NULL,
    password_hash VARBINARY(1024) NOT NULL,
    is_active BOOLEAN NOT NULL,
    -- +1 whenever the password changes or everything of the user is revoked: a token
    -- works only while its user's version is the one it was issued under.
    credential_version BIGINT NOT NULL DEFAULT 0,
    created DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY tokenauth_users_username (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Token records (`MySqlStore`). Only the SHA-256 digest of a token is kept (32 bytes).
-- `user_id` has no foreign key: the token store works with any user directory.
-- `scopes` are scope names separated by single spaces, sorted; `last_ip` is the
-- address as text. `last_active` is what the purge compares, kept by the database.
CREATE TABLE tokenauth_tokens (
    id VARBINARY(255) NOT NULL PRIMARY KEY,
    digest BINARY(32) NOT NULL,
    user_id VARBINARY(255) NOT NULL,
    credential_version BIGINT NOT NULL,
    name TEXT,
    scopes TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT,
    last_used BIGINT,
    last_ip VARCHAR(64),
    last_active BIGINT GENERATED ALWAYS AS (COALESCE(last_used, created)) VIRTUAL,
    UNIQUE KEY tokenauth_tokens_digest (digest),
    -- A user's token set, oldest first.
    KEY tokenauth_tokens_user_created (user_id, created, id),
    -- The purge deletes tokens matching
    --   created < ? OR expires < ? OR last_active < ?
    -- which InnoDB answers with an index merge of these.
    KEY tokenauth_tokens_created (created),
    KEY tokenauth_tokens_expires (expires),
    KEY tokenauth_tokens_last_active (last_active)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The version of each user's token set (`MySqlStore::token_set`): every commit of a
-- change to the user's tokens checks it and writes version + 1 in the same
-- transaction. A user without a row is at version 0.
CREATE TABLE tokenauth_token_sets (
    user_id VARBINARY(255) NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Settings kept in the database (`MySqlStore::settings`): a key and its value as text.
-- `tokenauth serve` stores the policy it runs with here (keys `policy.*`).
CREATE TABLE tokenauth_settings (
    `key` VARBINARY(255) NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
