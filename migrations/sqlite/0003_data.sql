-- PiCloud schema v3: per-app key-value entries and variables/secrets.
-- Never edit once shipped: add a new numbered file.

-- One row per key. SQLite compares TEXT with memcmp (the BINARY collation),
-- so keys sort in byte order, which list paging relies on.
CREATE TABLE kv_entries (
    app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    -- JSON text, validated before it is stored.
    value      TEXT NOT NULL,
    -- Bytes of key + value: what the app's quota counts.
    size       BIGINT NOT NULL,
    -- NULL = never. An expired row is invisible at once and deleted by the
    -- janitor (or by a write that needs the room).
    expires_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, key)
);
CREATE INDEX kv_entries_expiry ON kv_entries(expires_at) WHERE expires_at IS NOT NULL;

-- Running totals of each app's kv_entries rows (expired ones included until
-- they are deleted), kept in step by every write so that a quota check reads
-- one row instead of counting. Writers take this row first, which also
-- serializes one app's writes on PostgreSQL.
CREATE TABLE kv_usage (
    app_id TEXT NOT NULL PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    keys   BIGINT NOT NULL,
    bytes  BIGINT NOT NULL
);

-- Variables and secrets that scripts read with env::get. A secret's value is
-- `v1:` + base64(nonce ‖ XChaCha20-Poly1305 ciphertext) under the server key.
CREATE TABLE app_variables (
    app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    -- 1 = secret (value encrypted, never shown), 0 = plain.
    secret     INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, name)
);
