-- PiCloud schema v4: per-app document collections.
-- Never edit once shipped: add a new numbered file.

-- One row per document. A collection is the set of an app's rows with that
-- name: it exists while it has documents. SQLite compares TEXT with memcmp
-- (the BINARY collation), so ids (UUID v7, lowercase) sort in insertion
-- order and collection names in byte order.
CREATE TABLE documents (
    app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    -- A JSON object, validated and re-serialized (compact, without `_id`)
    -- before it is stored.
    body       TEXT NOT NULL,
    -- Bytes of body: what the app's quota counts.
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, collection, id)
);

-- Running totals of each app's documents rows, kept in step by every write
-- so that a quota check reads one row instead of counting. Writers take this
-- row first, which also serializes one app's writes on PostgreSQL.
CREATE TABLE docs_usage (
    app_id    TEXT NOT NULL PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    documents BIGINT NOT NULL,
    bytes     BIGINT NOT NULL
);
