-- Execution records say where a request came in and under which id
-- (docs/operations.md), and carry a sequence number: the order records were
-- written in, which the live log stream resumes from (`Last-Event-ID`).
-- started_at cannot serve: a long execution is written after shorter ones
-- that started later.
ALTER TABLE executions ADD COLUMN seq BIGINT;
ALTER TABLE executions ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE executions ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
-- JSON array of [name, value], credentials redacted.
ALTER TABLE executions ADD COLUMN request_headers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE executions ADD COLUMN response_bytes BIGINT NOT NULL DEFAULT 0;
-- Records written before this version keep the order they were written in:
-- the table's rowid.
UPDATE executions SET seq = rowid;
CREATE INDEX executions_seq ON executions(seq);
CREATE INDEX executions_app_seq ON executions(app_id, seq);
CREATE INDEX executions_request_id ON executions(request_id);

-- A token's scope: `admin` (the whole admin API) or `metrics` (GET /metrics
-- only, for a scraper).
ALTER TABLE admin_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';
