-- The outside security review (issue 33).
-- Each chunk is stored under an object name of its own (its start and a random part), so
-- that two tries at the same offset never write one object and the one that lost can
-- delete what it wrote; older chunks keep the name they were stored under.
ALTER TABLE upload_chunks ADD COLUMN object TEXT NOT NULL DEFAULT '';
UPDATE upload_chunks SET object = lpad(start::text, 20, '0');
-- Finishing an upload (checking its bytes, making its preview) is claimed first, so a
-- repeated last chunk cannot run it twice at once; a claim older than a few minutes
-- (its node died) may be taken again.
ALTER TABLE uploads ADD COLUMN checking_since BIGINT;
-- A member who has not accepted the conversation (or blocked it) moves their watermarks
-- without marking the conversation changed for everyone (the others would learn when the
-- request was delivered and read): their own `/sync` version is kept here.
ALTER TABLE members ADD COLUMN own_version BIGINT NOT NULL DEFAULT 0;
