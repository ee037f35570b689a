-- The token each refresh token was exchanged for. A refresh whose answer was lost comes
-- back with the old token; within a short grace window, and while that successor was
-- never presented (so the client never got it), the old token is exchanged again rather
-- than taken for a stolen copy (server/src/store/sql.rs, rotate_refresh).
ALTER TABLE refresh_tokens ADD COLUMN replaced_by BYTEA;
