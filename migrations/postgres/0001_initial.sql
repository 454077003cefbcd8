-- PiCloud schema v1 (PostgreSQL). Never edit once shipped: add a new numbered file.
-- Ids are UUID text; timestamps are milliseconds since the Unix epoch.

CREATE TABLE apps (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- JSON object of per-app limit overrides (see shared::Limits); NULL = defaults.
    limits      TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE app_domains (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    pattern    TEXT NOT NULL,
    -- The pattern with every {name} label replaced by `*`: two claims with the
    -- same shape would be ambiguous, so the shape is unique across all apps.
    shape_key  TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX app_domains_app ON app_domains(app_id);

CREATE TABLE app_slug_history (
    slug       TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    retired_at BIGINT NOT NULL
);
CREATE INDEX app_slug_history_app ON app_slug_history(app_id);

CREATE TABLE scripts (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (app_id, name)
);

CREATE TABLE routes (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    script_id  TEXT NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
    method     TEXT NOT NULL,
    path       TEXT NOT NULL,
    -- '' = every host the app claims.
    host       TEXT NOT NULL DEFAULT '',
    -- The path with parameter names erased (`/users/:` for `/users/:id`):
    -- two routes of one shape would shadow each other, so within an app the
    -- (host, method, shape) triple is unique. Other apps never conflict.
    path_shape TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (app_id, host, method, path_shape)
);
CREATE INDEX routes_script ON routes(script_id);

-- One row per execution. Script and route references are kept as plain ids
-- so that the log of a deleted script stays readable; deleting the app
-- removes its log.
CREATE TABLE executions (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    script_id     TEXT NOT NULL,
    route_id      TEXT,
    trigger_kind  TEXT NOT NULL,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    status        BIGINT NOT NULL,
    error_code    TEXT,
    error_message TEXT,
    error_line    BIGINT,
    error_column  BIGINT,
    fuel_used     BIGINT NOT NULL,
    duration_us   BIGINT NOT NULL,
    -- JSON array of {"level", "message"}.
    logs          TEXT NOT NULL,
    logs_dropped  BIGINT NOT NULL,
    started_at    BIGINT NOT NULL
);
CREATE INDEX executions_app_time ON executions(app_id, started_at DESC);
CREATE INDEX executions_script_time ON executions(script_id, started_at DESC);

-- Admin API tokens; only a SHA-256 of each token is stored.
CREATE TABLE admin_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);

-- The default app always exists and claims localhost.
INSERT INTO apps (id, slug, name, description, limits, created_at, updated_at)
VALUES ('00000000-0000-4000-8000-000000000001', 'default', 'Default app',
        'Created at install; serves localhost.', NULL,
        (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT);
INSERT INTO app_domains (id, app_id, pattern, shape_key, created_at)
VALUES ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001',
        'localhost', 'localhost', (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT);
