-- Mail (docs/scripting.md, "Email"; ADR 014): the outbox of `email::send`,
-- and the record of each send once it left.

-- One row per message. `queued` until the relay accepted it (`sent`) or
-- refused it for good or retries ran out (`failed`); the bodies are dropped
-- then, so the record never keeps them.
CREATE TABLE email_outbox (
    id           TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    -- The execution that sent it (its record lists the send).
    execution_id TEXT,
    sender       TEXT NOT NULL,
    -- JSON {"to": [...], "cc": [...]}.
    recipients   TEXT NOT NULL,
    reply_to     TEXT,
    subject      TEXT NOT NULL,
    body_text    TEXT,
    body_html    TEXT,
    status       TEXT NOT NULL,
    -- Delivery attempts started so far.
    attempts     BIGINT NOT NULL DEFAULT 0,
    -- Not before this (ms since the epoch): the next retry, or the end of
    -- the lease of a mailer sending it now.
    available_at BIGINT NOT NULL,
    -- The relay's last reply, or why it could not be reached.
    reply        TEXT,
    created_at   BIGINT NOT NULL,
    sent_at      BIGINT
);
CREATE INDEX email_outbox_due ON email_outbox(available_at) WHERE status = 'queued';
CREATE INDEX email_outbox_app ON email_outbox(app_id, created_at);
CREATE INDEX email_outbox_execution ON email_outbox(execution_id);
