-- PiCloud schema v6: cron triggers.
-- Never edit once shipped: add a new numbered file.

-- A schedule that runs one of the app's scripts. The script must belong to
-- the same app (checked by the manager on every write); deleting either the
-- app or the script deletes the trigger.
CREATE TABLE cron_triggers (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    script_id   TEXT NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
    -- Five-field cron expression, validated before it is stored.
    schedule    TEXT NOT NULL,
    -- IANA time zone the schedule is read in, e.g. 'Europe/Oslo'.
    timezone    TEXT NOT NULL,
    -- 1 = fires, 0 = paused.
    enabled     INTEGER NOT NULL,
    -- The next tick to fire (ms since the epoch); NULL while disabled or when
    -- the schedule has no future time. The scheduler claims a tick by moving
    -- this column from the value it read to the following tick in one
    -- conditional UPDATE: only one process's update can match, which is what
    -- makes every tick fire once however many managers run.
    next_run_at BIGINT,
    -- When the scheduler last fired it; NULL = never.
    last_run_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- The scheduler's query every second: enabled triggers due by now.
CREATE INDEX cron_triggers_due ON cron_triggers(enabled, next_run_at);
CREATE INDEX cron_triggers_app ON cron_triggers(app_id);
CREATE INDEX cron_triggers_script ON cron_triggers(script_id);
