-- Revocations are announced by the transaction that makes them. A NOTIFY sent inside a
-- transaction is delivered when it commits, and only if it commits: a token deleted or
-- a user changed is announced on `tokenauth_revocations` (what `PgRevocationBus`
-- listens to) atomically with the change, whoever wrote it (a server, the CLI, psql),
-- and cannot be lost between the commit and a publish that never came.
--
-- The payload is `PgRevocationBus`'s: `{"from":"database","users":[...]}`, the users
-- whose tokens or credentials changed (followers drop those users' cached tokens), or
-- `{"from":"database","all":true}` (followers flush) when the list would not fit in a
-- notification (PostgreSQL's limit is 8000 bytes).

CREATE FUNCTION tokenauth_announce_users(users TEXT[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    payload TEXT;
BEGIN
    IF users IS NULL OR cardinality(users) = 0 THEN
        RETURN;
    END IF;
    payload := json_build_object('from', 'database', 'users', users)::text;
    IF octet_length(payload) > 7000 THEN
        payload := '{"from":"database","all":true}';
    END IF;
    PERFORM pg_notify('tokenauth_revocations', payload);
END;
$$;

-- Tokens deleted (logout, revoke, eviction, purge): their users.
CREATE FUNCTION tokenauth_tokens_deleted() RETURNS trigger
-- Found where the migration put them, whatever the deleting session's search_path.
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM tokenauth_announce_users(ARRAY(SELECT DISTINCT user_id::text FROM gone));
    RETURN NULL;
END;
$$;

CREATE TRIGGER tokenauth_tokens_deleted
    AFTER DELETE ON tokenauth_tokens
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_tokens_deleted();

-- Users whose credential version or active flag changed (a new password, "revoke
-- everything", deactivation), or who were deleted.
CREATE FUNCTION tokenauth_users_changed() RETURNS trigger
-- Found where the migration put them, whatever the deleting session's search_path.
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM tokenauth_announce_users(ARRAY(
        SELECT DISTINCT o.id::text FROM before_change o JOIN after_change n USING (id)
        WHERE n.credential_version IS DISTINCT FROM o.credential_version
           OR n.is_active IS DISTINCT FROM o.is_active
    ));
    RETURN NULL;
END;
$$;

CREATE TRIGGER tokenauth_users_changed
    AFTER UPDATE ON tokenauth_users
    REFERENCING OLD TABLE AS before_change NEW TABLE AS after_change
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_users_changed();

CREATE FUNCTION tokenauth_users_deleted() RETURNS trigger
-- Found where the migration put them, whatever the deleting session's search_path.
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM tokenauth_announce_users(ARRAY(SELECT DISTINCT id::text FROM gone));
    RETURN NULL;
END;
$$;

CREATE TRIGGER tokenauth_users_deleted
    AFTER DELETE ON tokenauth_users
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_users_deleted();
