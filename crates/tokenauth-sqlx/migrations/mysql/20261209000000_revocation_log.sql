-- Revocations are logged by the transaction that makes them, for `MySqlRevocationBus`,
-- which polls this log: a token deleted or a user changed is logged atomically with
-- the change, whoever wrote it (a server, the command-line tool, the mysql client).
-- The same events as SQLite's and PostgreSQL's triggers: tokens deleted, a user's
-- credential version or active flag changed, a user deleted.
--
-- `user_id` names the user whose cached tokens must go; NULL means everything.
-- `origin` is the bus that published the row (NULL: these triggers), so that it skips
-- its own.
--
-- `seq` is NOT an AUTO_INCREMENT: InnoDB hands those out at insert, not at commit, so
-- a follower that has read row 7 would never read a row 6 whose transaction commits
-- later. It comes from the one-row counter `tokenauth_revocation_seq`, moved in the
-- logging transaction: that row stays locked until the transaction commits or rolls
-- back, so the next logging transaction waits for it, takes the next number, and
-- commits after it. Numbers become visible in the order they were taken, one by one
-- (a rolled-back transaction rolls its number back too): a follower that has read
-- row 7 has read every committed row before it, and one that finds the next row past
-- the one it expects knows the rows between were trimmed. Logging transactions take
-- turns at the counter from their first revocation to their commit: revocations are
-- rare, and each transaction tokenauth runs takes the counter last, after every
-- other lock it needs, so no two of them wait on each other in a cycle.
--
-- MySQL commits each statement of this file by itself (DDL is not transactional):
-- every one can run again, so a migration that failed part way is applied whole by
-- the next run, once its cause is fixed.
CREATE TABLE IF NOT EXISTS tokenauth_revocations (
    seq BIGINT NOT NULL PRIMARY KEY,
    user_id VARBINARY(255),
    origin VARBINARY(64)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS tokenauth_revocation_seq (
    id TINYINT NOT NULL PRIMARY KEY,
    -- The newest number taken: the newest row of the log, once committed.
    n BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

INSERT IGNORE INTO tokenauth_revocation_seq (id, n) VALUES (1, 0);

-- Logs a revocation of `who`'s tokens (NULL: everything), numbered by the counter, and
-- trims the log to its newest 10,000 rows in the same transaction: it stays small
-- whether or not any process follows it. A follower polls every quarter second; one
-- that falls further behind sees the gap and flushes its cache. (A trigger on the log
-- itself could not trim it: MySQL forbids a trigger to change its own table.)
DROP PROCEDURE IF EXISTS tokenauth_log_revocation;

CREATE PROCEDURE tokenauth_log_revocation(IN who VARBINARY(255))
MODIFIES SQL DATA
BEGIN
    DECLARE taken BIGINT;
    -- LAST_INSERT_ID(expr) hands the number back (MySQL's idiom for a sequence); a
    -- trigger gives its caller the caller's own value back when it ends.
    UPDATE tokenauth_revocation_seq SET n = LAST_INSERT_ID(n + 1) WHERE id = 1;
    SET taken = LAST_INSERT_ID();
    INSERT INTO tokenauth_revocations (seq, user_id) VALUES (taken, who);
    DELETE FROM tokenauth_revocations WHERE seq <= taken - 10000;
END;

-- Tokens deleted (logout, revoke, eviction, purge): their users.
DROP TRIGGER IF EXISTS tokenauth_tokens_deleted;

CREATE TRIGGER tokenauth_tokens_deleted AFTER DELETE ON tokenauth_tokens
FOR EACH ROW CALL tokenauth_log_revocation(OLD.user_id);

-- Users whose credential version or active flag changed (a new password, "revoke
-- everything", deactivation), or who were deleted.
DROP TRIGGER IF EXISTS tokenauth_users_changed;

CREATE TRIGGER tokenauth_users_changed AFTER UPDATE ON tokenauth_users
FOR EACH ROW
BEGIN
    IF NOT (NEW.credential_version <=> OLD.credential_version)
        OR NOT (NEW.is_active <=> OLD.is_active) THEN
        CALL tokenauth_log_revocation(CAST(OLD.id AS CHAR));
    END IF;
END;

DROP TRIGGER IF EXISTS tokenauth_users_deleted;

CREATE TRIGGER tokenauth_users_deleted AFTER DELETE ON tokenauth_users
FOR EACH ROW CALL tokenauth_log_revocation(CAST(OLD.id AS CHAR));
