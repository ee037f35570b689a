-- Edits, deletions, replies and reactions (issue 13). A change is an entry of the
-- conversation's stream like a message, with its own seq, so catch-up and gap filling
-- bring it; `change_kind` and `target` say what it changes. The changed message itself
-- keeps its current state (`body`, `edited_at`, `edit_seq`, `deleted_at`), so that a
-- page of history shows it as it is now.
ALTER TABLE messages ADD COLUMN reply_to BLOB;
ALTER TABLE messages ADD COLUMN change_kind TEXT
    CHECK (change_kind IN ('edit', 'delete', 'react', 'unreact'));
ALTER TABLE messages ADD COLUMN target BLOB;
ALTER TABLE messages ADD COLUMN emoji TEXT;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN edit_seq INTEGER;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
-- Unread counts subtract the changes above a watermark, and previews skip them: both read
-- only the (few) changes through this index.
CREATE INDEX messages_changes ON messages (conversation_id, seq) WHERE change_kind IS NOT NULL;
-- A deletion clears the text of the message's edits too.
CREATE INDEX messages_edits ON messages (target) WHERE change_kind = 'edit';

-- Who reacted with what, as the stream's changes left it: the caps on reactions read it.
CREATE TABLE reactions (
    message_id BLOB NOT NULL REFERENCES messages (id),
    user_id    BLOB NOT NULL REFERENCES users (id),
    emoji      TEXT NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
) WITHOUT ROWID;
