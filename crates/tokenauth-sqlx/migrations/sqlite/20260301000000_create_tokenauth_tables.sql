-- Users of the argon2id user directory (`SqliteUserDirectory`).
-- `username` uses SQLite's default BINARY collation: matching is exact and case-sensitive.
-- `created` is a Unix timestamp in microseconds (UTC).
CREATE TABLE tokenauth_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_active INTEGER NOT NULL,
    created INTEGER NOT NULL
);

-- Token records (`SqliteStore`). Only the SHA-256 digest of a token is kept (32 bytes).
-- `user_id` has no foreign key: the token store works with any user directory.
-- `created` and `expires` are Unix timestamps in microseconds (UTC).
CREATE TABLE tokenauth_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    digest BLOB NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    name TEXT,
    created INTEGER NOT NULL,
    expires INTEGER
);

CREATE INDEX tokenauth_tokens_user_created ON tokenauth_tokens (user_id, created);
