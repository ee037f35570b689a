-- Attachments (issue 14). A file is uploaded first, in chunks that each land as an object
-- of the blob store and a row here, so an upload resumes where the last chunk ended, on
-- any node. The last chunk joins them into one blob named by its SHA-256 (so a file sent
-- twice is stored once); a send then names the upload, and the message keeps a copy of
-- the attachment's description in `messages.attachments` (JSON), so that history and
-- sync read messages with no join.
CREATE TABLE uploads (
    id              BLOB PRIMARY KEY,
    owner_id        BLOB NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    size            INTEGER NOT NULL CHECK (size > 0),
    content_type    TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    received        INTEGER NOT NULL DEFAULT 0,
    state           TEXT NOT NULL CHECK (state IN ('open', 'stored')),
    width           INTEGER,
    height          INTEGER,
    preview         INTEGER NOT NULL DEFAULT 0,
    conversation_id BLOB REFERENCES conversations (id),
    message_id      BLOB,
    created_at      INTEGER NOT NULL
);
-- The quota sums a user's uploads; a blob is kept while any upload names its hash.
CREATE INDEX uploads_owner ON uploads (owner_id, sha256);
CREATE INDEX uploads_sha256 ON uploads (sha256);
CREATE INDEX uploads_message ON uploads (message_id) WHERE message_id IS NOT NULL;
-- Uploads never sent expire (FERRY_UPLOAD_TTL_SECS): the sweeper finds them by age.
CREATE INDEX uploads_unsent ON uploads (created_at) WHERE message_id IS NULL;

CREATE TABLE upload_chunks (
    upload_id BLOB NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    start     INTEGER NOT NULL,
    len       INTEGER NOT NULL,
    PRIMARY KEY (upload_id, start)
);

-- Blobs no upload may name any more (their messages were deleted): the sweeper removes
-- each from the blob store once its grace period passed and nothing names it again.
CREATE TABLE blob_orphans (
    sha256 TEXT PRIMARY KEY,
    since  INTEGER NOT NULL
);

ALTER TABLE messages ADD COLUMN attachments TEXT;
