-- An app's HTTP settings (docs/apps.md): its CORS policy and its request rate
-- limit, each JSON, or NULL when off.
ALTER TABLE apps ADD COLUMN cors TEXT;
ALTER TABLE apps ADD COLUMN rate_limit TEXT;
