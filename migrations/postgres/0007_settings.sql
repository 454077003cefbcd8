-- Server-wide facts that must survive restarts. `hello_world_seeded` records
-- that Hello World was seeded once, so an operator who deletes it does not see
-- it come back at the next start. An install that already started (it has a
-- token or a user) seeded it then.
CREATE TABLE server_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO server_settings (key, value)
SELECT 'hello_world_seeded', 'true'
WHERE EXISTS (SELECT 1 FROM admin_tokens) OR EXISTS (SELECT 1 FROM users);
