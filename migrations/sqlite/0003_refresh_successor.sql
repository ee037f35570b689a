-- The token each refresh token was exchanged for: see the Postgres migration.
ALTER TABLE refresh_tokens ADD COLUMN replaced_by BLOB;
