-- End-user accounts of apps: the `users::` script API (docs/scripting.md,
-- "Users"). An app's users, sessions and one-time tokens go with the app.

-- One row per account. `email` is stored trimmed and lower-cased, so the
-- unique index makes it unique per app whatever case a user types.
CREATE TABLE app_users (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    -- Argon2id, PHC string format. Never leaves the manager.
    password_hash   TEXT NOT NULL,
    -- 1 once a verification token was redeemed.
    verified        BIGINT NOT NULL DEFAULT 0,
    -- 1: cannot sign in, and its sessions are gone.
    disabled        BIGINT NOT NULL DEFAULT 0,
    -- A JSON object the app's scripts keep (a display name, a plan…).
    metadata        TEXT NOT NULL DEFAULT '{}',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_sign_in_at BIGINT
);
CREATE UNIQUE INDEX app_users_email ON app_users(app_id, email);

-- Signed-in sessions. Only the SHA-256 of the token is kept: a copy of the
-- database signs nobody in.
CREATE TABLE app_user_sessions (
    token_hash  TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES app_users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX app_user_sessions_user ON app_user_sessions(user_id);
CREATE INDEX app_user_sessions_expiry ON app_user_sessions(expires_at);

-- Single-use tokens for a password reset or an email verification, hashed
-- like sessions; redeeming one deletes it.
CREATE TABLE app_user_tokens (
    token_hash  TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES app_users(id) ON DELETE CASCADE,
    -- 'reset' or 'verify'.
    purpose     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX app_user_tokens_user ON app_user_tokens(user_id, purpose);
CREATE INDEX app_user_tokens_expiry ON app_user_tokens(expires_at);

-- The app's settings for its users (session cookie name, session lifetime):
-- JSON, or NULL for the defaults.
ALTER TABLE apps ADD COLUMN users TEXT;
