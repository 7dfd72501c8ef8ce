-- The tokenauth tables on PostgreSQL: the same tables as on SQLite, created at the
-- schema SQLite reached by 20260501000000 (there is no PostgreSQL history to replay).

-- Users of the argon2id user directory (`PgUserDirectory`). `username` is compared with
-- the "C" collation: matching is exact and case-sensitive, and `ORDER BY username` is
-- bytewise, as on SQLite. Ids come from an identity column and are never reused.
-- `created` is informational (the database's clock); tokenauth never reads it.
CREATE TABLE tokenauth_users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_active BOOLEAN NOT NULL,
    -- +1 whenever the password changes or everything of the user is revoked: a token
    -- works only while its user's version is the one it was issued under.
    credential_version BIGINT NOT NULL DEFAULT 0,
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Token records (`PgStore`). Only the SHA-256 digest of a token is kept (32 bytes).
-- `user_id` has no foreign key: the token store works with any user directory.
-- Times are TIMESTAMPTZ (microseconds, as core's records). `scopes` are scope names
-- separated by single spaces, sorted; `last_ip` is the address as text.
CREATE TABLE tokenauth_tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    digest BYTEA NOT NULL UNIQUE,
    user_id TEXT COLLATE "C" NOT NULL,
    credential_version BIGINT NOT NULL,
    name TEXT,
    scopes TEXT NOT NULL DEFAULT '',
    created TIMESTAMPTZ NOT NULL,
    expires TIMESTAMPTZ,
    last_used TIMESTAMPTZ,
    last_ip TEXT
);

-- A user's token set, oldest first.
CREATE INDEX tokenauth_tokens_user_created ON tokenauth_tokens (user_id, created, id);
-- The purge deletes tokens matching
--   created < $1 OR expires < $2 OR COALESCE(last_used, created) < $3
-- which PostgreSQL answers with a BitmapOr of these indexes.
CREATE INDEX tokenauth_tokens_created ON tokenauth_tokens (created);
CREATE INDEX tokenauth_tokens_expires ON tokenauth_tokens (expires) WHERE expires IS NOT NULL;
CREATE INDEX tokenauth_tokens_last_active ON tokenauth_tokens ((COALESCE(last_used, created)));

-- The version of each user's token set (`PgStore::token_set`): every commit of a change
-- to the user's tokens checks it and writes version + 1 in the same transaction. A
-- user without a row is at version 0.
CREATE TABLE tokenauth_token_sets (
    user_id TEXT COLLATE "C" PRIMARY KEY,
    version BIGINT NOT NULL
);

-- Settings kept in the database (`PgStore::settings`): a key and its value as text.
-- `tokenauth serve` stores the policy it runs with here (keys `policy.*`).
CREATE TABLE tokenauth_settings (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);
