-- Settings kept in the database (`SqliteStore::settings`): a key and its value as
-- text. `tokenauth serve` stores the policy it runs with here (keys `policy.*`), so
-- that the `token` commands apply the same lifespan, purge grace and scopes.
CREATE TABLE tokenauth_settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
