-- Token lifecycle: scopes, last use, and revocation on password change.

-- What a token may be used for: scope names separated by single spaces, sorted, as
-- `Scopes` prints them. Existing tokens get none.
ALTER TABLE tokenauth_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
-- When the token was last used (Unix microseconds, UTC); NULL if never.
ALTER TABLE tokenauth_tokens ADD COLUMN last_used INTEGER;
-- The client address it was last used from, as text (`192.0.2.1`, `2001:db8::1`).
ALTER TABLE tokenauth_tokens ADD COLUMN last_ip TEXT;

-- When the password last changed (Unix microseconds, UTC); NULL if never. Tokens
-- created before it no longer authenticate.
ALTER TABLE tokenauth_users ADD COLUMN password_changed INTEGER;

-- The purge deletes tokens that are not live, written as
--   created < ? OR expires < ? OR COALESCE(last_used, created) < ?
-- so that SQLite can answer each term from one of these indexes (a multi-index OR)
-- instead of scanning the table. Counting a user's live tokens for the per-user limit
-- uses the existing (user_id, created) index.
CREATE INDEX tokenauth_tokens_created ON tokenauth_tokens (created);
CREATE INDEX tokenauth_tokens_expires ON tokenauth_tokens (expires) WHERE expires IS NOT NULL;
CREATE INDEX tokenauth_tokens_last_active ON tokenauth_tokens (COALESCE(last_used, created));
