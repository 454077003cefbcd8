-- Queues (docs/scripting.md, "Queues"; ADR 013): messages scripts send with
-- `queue::send`, and the triggers that run a script for each message.

-- One row per message until it is done. A message is ready when
-- `available_at` has passed, it is not dead, and no live lease holds it.
CREATE TABLE queue_messages (
    id           TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    queue        TEXT NOT NULL,
    -- The JSON payload the script sent.
    payload      TEXT NOT NULL,
    -- Runs started so far (the running one included).
    attempts     BIGINT NOT NULL DEFAULT 0,
    -- Not before this (ms since the epoch): the delay, then each backoff.
    available_at BIGINT NOT NULL,
    -- A consumer runs it until then; a consumer that dies lets it expire and
    -- another takes the message again (at-least-once).
    lease_until  BIGINT,
    created_at   BIGINT NOT NULL,
    -- Why the last attempt failed.
    last_error   TEXT,
    -- Set once the message used up its attempts: a dead letter, kept until
    -- an admin retries or discards it.
    dead_at      BIGINT
);
CREATE INDEX queue_messages_ready ON queue_messages(available_at) WHERE dead_at IS NULL;
CREATE INDEX queue_messages_queue ON queue_messages(app_id, queue, created_at);

-- A trigger runs its script for each message of one of the app's queues.
CREATE TABLE queue_triggers (
    id           TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    script_id    TEXT NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
    queue        TEXT NOT NULL,
    -- 1 = consumes, 0 = paused (messages wait).
    enabled      BIGINT NOT NULL,
    -- Runs a message gets before it becomes a dead letter.
    max_attempts BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
-- One consumer per queue: a message is one job, run by one script.
CREATE UNIQUE INDEX queue_triggers_queue ON queue_triggers(app_id, queue);
