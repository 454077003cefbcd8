-- Per-app roles for admin users and API tokens (docs/api.md, "Roles";
-- ADR 012). Every check goes through one table in the code
-- (manager-core/src/policy.rs).

-- 1: a server-wide admin (creates apps, users and tokens, and is owner of
-- every app). Every user before this version was one and stays one.
ALTER TABLE users ADD COLUMN server_admin BIGINT NOT NULL DEFAULT 1;

-- A user's role on one app: 'owner', 'developer' or 'viewer'. Goes with
-- the app and with the user.
CREATE TABLE app_roles (
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);
CREATE INDEX app_roles_user ON app_roles(user_id);

-- A token limited to one app and one role (both NULL: the token acts with
-- all of its user's powers). Deleting the app revokes its tokens.
ALTER TABLE admin_tokens ADD COLUMN app_id TEXT REFERENCES apps(id) ON DELETE CASCADE;
ALTER TABLE admin_tokens ADD COLUMN role TEXT;
