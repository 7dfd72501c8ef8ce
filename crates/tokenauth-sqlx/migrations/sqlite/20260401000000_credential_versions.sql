-- Credential versions instead of password change times, and the per-user version that
-- makes the token store's compare-and-swap (`TokenStore::commit`).

-- The user's credential version: it changes (+1) whenever the password changes, and
-- when everything of the user is revoked. A token works only while its user's version
-- is the one it was issued under.
ALTER TABLE tokenauth_users ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 0;
-- The user's credential version when the token was issued.
ALTER TABLE tokenauth_tokens ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 0;

-- Every token refused today stays refused. Until now a token was refused when its
-- user's `password_changed` was set and the token was created before it. So a user
-- whose password changed gets version 1, and of its tokens only those created at or
-- after the change get version 1 too; everything else stays at 0.
UPDATE tokenauth_users SET credential_version = 1 WHERE password_changed IS NOT NULL;
-- `tokenauth_tokens.user_id` is the decimal text of `tokenauth_users.id`. The user is
-- found through its primary key, and `CAST(u.id AS TEXT) = user_id` compares as text,
-- so that a non-canonical id such as '007' (which never named user 7) matches nobody.
-- A token of a missing user, or of a user who never changed password, gets NULL here:
-- the comparison fails and the token stays at 0.
UPDATE tokenauth_tokens SET credential_version = 1
WHERE created >= (
    SELECT u.password_changed FROM tokenauth_users AS u
    WHERE u.id = CAST(tokenauth_tokens.user_id AS INTEGER)
      AND CAST(u.id AS TEXT) = tokenauth_tokens.user_id
);

-- No clock decides a token's validity any more.
ALTER TABLE tokenauth_users DROP COLUMN password_changed;

-- The version of each user's token set (`SqliteStore::token_set`): every commit of a
-- change to the user's tokens checks it and writes version + 1, in one `BEGIN
-- IMMEDIATE` transaction. A user without a row is at version 0.
CREATE TABLE tokenauth_token_sets (
    user_id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL
);

-- Indexes: all stay. (user_id, created) reads a user's token set oldest first; the
-- purge still answers each term of
--   created < ? OR expires < ? OR COALESCE(last_used, created) < ?
-- from `tokenauth_tokens_created`, `_expires` and `_last_active`. No index served
-- `password_changed`.
