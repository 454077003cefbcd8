-- Every source a script has had (docs/api.md, "Script versions"): a save
-- that changes the source adds a version, a rollback adds one with an older
-- source, and nothing is rewritten, so the history stays linear.
CREATE TABLE script_versions (
    script_id   TEXT NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
    version     BIGINT NOT NULL,
    source      TEXT NOT NULL,
    -- SHA-256 of the source, hex.
    sha256      TEXT NOT NULL,
    -- The source's size in bytes (so a list need not read the sources).
    size        BIGINT NOT NULL,
    -- Who made it: a username, `token:<name>`, or '' when unknown (the
    -- versions this migration records).
    author      TEXT NOT NULL,
    message     TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (script_id, version)
);

-- The version a script runs now.
ALTER TABLE scripts ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- Each script's source so far is its version 1. Its hash is left '' (neither
-- engine hashes in SQL portably); the server computes it when it reads one.
INSERT INTO script_versions (script_id, version, source, sha256, size, author, message, created_at)
SELECT id, 1, source, '', octet_length(source), '', NULL, updated_at FROM scripts;

-- The version that ran, for each execution record (NULL before this schema).
ALTER TABLE executions ADD COLUMN script_version BIGINT;
