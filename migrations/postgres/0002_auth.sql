-- PiCloud schema v2: admin users, browser sessions, tokens owned by users.
-- Never edit once shipped: add a new numbered file.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- Lower-case; unique.
    username      TEXT NOT NULL UNIQUE,
    -- Argon2id in PHC string form (algorithm, parameters and salt included).
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    -- SHA-256 of the cookie value: a leaked database does not yield live sessions.
    id_hash      TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- Sent back in X-CSRF-Token by the dashboard on every mutating request.
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- A token made by a user acts for that user and goes when the user does.
-- Tokens from the bootstrap or the operator CLI belong to no user.
ALTER TABLE admin_tokens ADD COLUMN user_id TEXT REFERENCES users(id) ON DELETE CASCADE;
