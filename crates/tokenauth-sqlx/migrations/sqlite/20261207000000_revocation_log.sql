-- Revocations are logged by the transaction that makes them, for `SqliteRevocationBus`,
-- which polls this table: a token deleted or a user changed is logged atomically with
-- the change, whoever wrote it (a server, the command-line tool, the sqlite3 shell).
-- The same events as PostgreSQL's triggers notify: tokens deleted, a user's credential
-- version or active flag changed, a user deleted.
--
-- `user_id` names the user whose cached tokens must go; NULL means everything.
-- `origin` is the bus that published the row (NULL: these triggers), so that it skips
-- its own. `seq` only grows (AUTOINCREMENT, never reused), so a follower reads what is
-- past the last row it saw, and knows it missed rows when the oldest kept is past that.
CREATE TABLE tokenauth_revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT,
    origin TEXT
);

-- Tokens deleted (logout, revoke, eviction, purge): their users.
CREATE TRIGGER tokenauth_tokens_deleted AFTER DELETE ON tokenauth_tokens
BEGIN
    INSERT INTO tokenauth_revocations (user_id) VALUES (OLD.user_id);
END;

-- Users whose credential version or active flag changed (a new password, "revoke
-- everything", deactivation), or who were deleted.
CREATE TRIGGER tokenauth_users_changed AFTER UPDATE ON tokenauth_users
WHEN NEW.credential_version IS NOT OLD.credential_version OR NEW.is_active IS NOT OLD.is_active
BEGIN
    INSERT INTO tokenauth_revocations (user_id) VALUES (CAST(OLD.id AS TEXT));
END;

CREATE TRIGGER tokenauth_users_deleted AFTER DELETE ON tokenauth_users
BEGIN
    INSERT INTO tokenauth_revocations (user_id) VALUES (CAST(OLD.id AS TEXT));
END;

-- The log keeps its newest 10,000 rows, trimmed in the writing transaction: it stays
-- small whether or not any process follows it. A follower polls every quarter second;
-- one that falls further behind sees the gap and flushes its cache.
CREATE TRIGGER tokenauth_revocations_trimmed AFTER INSERT ON tokenauth_revocations
BEGIN
    DELETE FROM tokenauth_revocations WHERE seq <= NEW.seq - 10000;
END;
