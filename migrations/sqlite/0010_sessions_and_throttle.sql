-- Sessions end after a stretch without use (PICLOUD_SESSION_IDLE_TIMEOUT) as
-- well as at their absolute expiry. NULL: not used since this version; the
-- first use sets it, so an upgrade signs nobody out.
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;

-- The sign-in throttle (docs/security.md), kept here rather than in one
-- process's memory: a restart does not reset it, and every process of a
-- cluster counts the same failures. `key` is what a failure counts against:
-- `user:<name>`, `ip:<v4 address>`, `ip6:<the /64, hex>` or `none`.
CREATE TABLE login_attempts (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    -- Milliseconds since the epoch; NULL while failures are still free.
    locked_until  BIGINT,
    last_failure  BIGINT NOT NULL
);
CREATE INDEX login_attempts_last_failure ON login_attempts(last_failure);
