-- Composition inside one app (docs/scripting.md, "Modules", "invoke()",
-- "Interceptors"; ADR 010).

-- The module names a script's current source imports: a JSON array of
-- names of scripts of the same app, checked when the source was saved.
ALTER TABLE scripts ADD COLUMN imports TEXT NOT NULL DEFAULT '[]';

-- Scripts that run before an app's route scripts, for the paths that start
-- with `prefix` ('/' for every path), lowest position first. A script in use
-- here cannot be deleted through the API (409 script_in_use); the cascade
-- only serves deleting the whole app.
CREATE TABLE interceptors (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    script_id   TEXT NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
    prefix      TEXT NOT NULL,
    position    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX interceptors_app ON interceptors(app_id, position);

-- The record an execution ran under (an `invoke` caller, or the request an
-- interceptor guarded); the modules it was given; the interceptors that ran
-- before it (JSON arrays).
ALTER TABLE executions ADD COLUMN parent_id TEXT;
ALTER TABLE executions ADD COLUMN modules TEXT NOT NULL DEFAULT '[]';
ALTER TABLE executions ADD COLUMN interceptors TEXT NOT NULL DEFAULT '[]';
-- Only child records are indexed: most records have no parent.
CREATE INDEX executions_parent ON executions(parent_id) WHERE parent_id IS NOT NULL;
