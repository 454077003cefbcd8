-- An app's CORS policy (docs/apps.md, "CORS"): JSON, or NULL when off.
ALTER TABLE apps ADD COLUMN cors TEXT;
