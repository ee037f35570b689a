-- Notification levels (issue 29): what each member is told of a conversation's new
-- messages, chosen by them and followed by every device of theirs. Existing members keep
-- being told of everything.
ALTER TABLE members ADD COLUMN notify TEXT NOT NULL DEFAULT 'all'
    CHECK (notify IN ('all', 'mentions', 'none'));
-- Do not disturb until this time (milliseconds since the epoch), for every device of the
-- user; NULL when off.
ALTER TABLE users ADD COLUMN dnd_until BIGINT;
