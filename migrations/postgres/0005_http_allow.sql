-- PiCloud schema v5: per-app outbound HTTP allow-lists.
-- Never edit once shipped: add a new numbered file.

-- Where an app's scripts may send HTTP requests (http::get/request). No row:
-- outbound HTTP is denied. `pattern` is the canonical form of the entry
-- (scheme://host:port, host possibly `*.domain`), as shared::AllowPattern
-- prints it, so the same entry written two ways is one row.
CREATE TABLE app_http_allow (
    app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    pattern    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, pattern)
);
