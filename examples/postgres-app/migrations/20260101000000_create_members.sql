-- The app's own users: tokenauth reads them through the `Members` directory.
CREATE TABLE members (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    -- Bumped on every password change: tokens issued before it stop working.
    password_generation BIGINT NOT NULL DEFAULT 0
);
