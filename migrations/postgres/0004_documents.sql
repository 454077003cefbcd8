-- PiCloud schema v4: per-app document collections.
-- Never edit once shipped: add a new numbered file.

-- One row per document. A collection is the set of an app's rows with that
-- name: it exists while it has documents. The "C" collation compares byte by
-- byte, as SQLite does: ids (UUID v7, lowercase) sort in insertion order and
-- collection names in byte order on both engines, which paging relies on.
CREATE TABLE documents (
    app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    collection TEXT COLLATE "C" NOT NULL,
    id         TEXT COLLATE "C" NOT NULL,
    -- A JSON object, validated and re-serialized (compact, without `_id`)
    -- before it is stored. TEXT, not JSONB: the text and its size are the
    -- same on both engines; queries cast it where they look inside.
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
