//! The client database schema as numbered migrations, applied in order and recorded in
//! `PRAGMA user_version`. A migration is never edited once released; a change is a new one.

/// Migrations by number (index + 1).
pub const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
CREATE TABLE account (
    only_row     INTEGER PRIMARY KEY CHECK (only_row = 1),
    server_url   TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    username     TEXT NOT NULL,
    display_name TEXT NOT NULL,
    sync_cursor  TEXT
);

CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    username     TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    online       INTEGER NOT NULL DEFAULT 0,
    last_seen    INTEGER
);

CREATE TABLE conversations (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    title          TEXT,
    last_seq       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    -- What this device has read, ahead of what the server has confirmed (sent on connect).
    local_read_seq INTEGER NOT NULL DEFAULT 0,
    -- 1 once we learn we are no longer a member; history stays readable.
    left_at        INTEGER,
    muted          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_activity ON conversations (updated_at DESC, id DESC);

CREATE TABLE members (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL,
    read_seq        INTEGER NOT NULL,
    delivered_seq   INTEGER NOT NULL,
    joined_at       INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;

-- Sent messages have a seq; pending and failed ones do not, and sort after the sent ones
-- in compose order (`composed`).
CREATE TABLE messages (
    rowid           INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    seq             INTEGER,
    sender_id       TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    composed        INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    error           TEXT,
    UNIQUE (conversation_id, seq)
);
CREATE INDEX messages_unsent ON messages (conversation_id, composed) WHERE seq IS NULL;

-- What still has to go out, in compose order (`position`), with its retry schedule.
CREATE TABLE outbox (
    message_id      TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    position        INTEGER NOT NULL UNIQUE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE drafts (
    conversation_id TEXT PRIMARY KEY,
    body            TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content = 'messages', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;
"#,
    // 2: the contiguous watermark. Catch-up and gap filling must ask "up to which seq do I
    // have every message?", not "what is the highest seq I have": an own message acked at
    // seq N says nothing about N-1.
    r#"
ALTER TABLE conversations ADD COLUMN contiguous_seq INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET contiguous_seq = (
    SELECT CASE WHEN count(m.seq) = COALESCE(max(m.seq), 0) THEN COALESCE(max(m.seq), 0) ELSE 0 END
    FROM messages m WHERE m.conversation_id = conversations.id
);
"#,
    // 3: edits, deletions, replies and reactions. A change is a row of `messages` like a
    // message (it has its seq in the stream, and goes out through the outbox), told apart
    // by `change_kind`; the message it changes keeps its current state. `reactions` holds
    // the reactions the server confirmed, one register per (message, user, emoji) whose
    // newest change (by seq) wins; unsent ones are laid over it when read. Search indexes
    // messages only, not changes.
    r#"
ALTER TABLE messages ADD COLUMN reply_to TEXT;
ALTER TABLE messages ADD COLUMN change_kind TEXT;
ALTER TABLE messages ADD COLUMN target TEXT;
ALTER TABLE messages ADD COLUMN emoji TEXT;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN edit_seq INTEGER;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
CREATE INDEX messages_changes ON messages (conversation_id, seq) WHERE change_kind IS NOT NULL;
CREATE INDEX messages_targets ON messages (target, composed) WHERE target IS NOT NULL;

CREATE TABLE reactions (
    message_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    emoji      TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    present    INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
) WITHOUT ROWID;

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.change_kind IS NULL BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.change_kind IS NULL BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
WHEN old.change_kind IS NULL BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;
"#,
    // 4: attachments. A message with files has a row in `uploads` per file while unsent:
    // the copy made when it was attached, its preview, how far its upload got (`upload_id`,
    // `sent`) and, once stored, the server's description (`attachment`). Sent messages
    // carry their attachments as JSON. `files` are the files this device keeps (sent from
    // it, or downloaded, and previews), a cache trimmed least recently used first.
    r#"
ALTER TABLE messages ADD COLUMN attachments TEXT;

CREATE TABLE uploads (
    message_id   TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    path         TEXT NOT NULL,
    name         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    width        INTEGER,
    height       INTEGER,
    preview      TEXT,
    upload_id    TEXT,
    sent         INTEGER NOT NULL DEFAULT 0,
    attachment   TEXT,
    PRIMARY KEY (message_id, idx)
) WITHOUT ROWID;

CREATE TABLE files (
    key     TEXT PRIMARY KEY,
    path    TEXT NOT NULL,
    size    INTEGER NOT NULL,
    used_at INTEGER NOT NULL
);
CREATE INDEX files_use ON files (used_at);
"#,
    // 5: message requests (issue 12): each member's state as the server gives it:
    // 'accepted', 'request' (a stranger's conversation this user has not accepted) or
    // 'blocked'.
    r#"
ALTER TABLE members ADD COLUMN state TEXT NOT NULL DEFAULT 'accepted';
"#,
    // 6: a message request deleted on this device: the last seq it had then. The list
    // leaves it out until a message comes past that seq.
    r#"
ALTER TABLE conversations ADD COLUMN dismissed_seq INTEGER;
ALTER TABLE conversations ADD COLUMN dismissed INTEGER
    GENERATED ALWAYS AS (dismissed_seq IS NOT NULL AND last_seq <= dismissed_seq) VIRTUAL;
"#,
    // 7: whether an outbox entry was ever handed to a transport (`offered`, set before its
    // frame or request is written). Until then the server cannot have it, so an edit of it
    // replaces its text instead of going out after it as an edit. Entries queued before
    // this migration may have gone out: they count as offered.
    r#"
ALTER TABLE outbox ADD COLUMN offered INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET offered = 1;
"#,
    // 8: accounts a server suspended or whose owners deleted them (issue 28): 'suspended'
    // or 'deleted', NULL while in use.
    r#"
ALTER TABLE users ADD COLUMN status TEXT;
"#,
    // 9: a message an operator removed (issue 28) says so instead of "deleted".
    r#"
ALTER TABLE messages ADD COLUMN removed_by_operator INTEGER NOT NULL DEFAULT 0;
"#,
    // 10: users' profile pictures (issue 28): the id of the picture the server serves.
    r#"
ALTER TABLE users ADD COLUMN picture TEXT;
"#,
    // 11: notification levels (issue 29): 'all', 'mentions' or 'none', kept on the server
    // for every device of the user. A level chosen here waits in `notify_unsent` until the
    // server has it. A conversation muted on this device before becomes 'none', to be sent.
    r#"
ALTER TABLE conversations ADD COLUMN notify TEXT NOT NULL DEFAULT 'all';
ALTER TABLE conversations ADD COLUMN notify_unsent INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET notify = 'none', notify_unsent = 1 WHERE muted = 1;
ALTER TABLE conversations DROP COLUMN muted;
-- Do not disturb until this time (milliseconds), for every device of the user; one chosen
-- here waits in `dnd_unsent` until the server has it.
ALTER TABLE account ADD COLUMN dnd_until INTEGER;
ALTER TABLE account ADD COLUMN dnd_unsent INTEGER NOT NULL DEFAULT 0;
"#,
    // 12: end-to-end encryption (issue 31). `mls_state` is this device's MLS state
    // (openmls's storage: its groups, keys and secrets), by openmls's own keys; it belongs
    // to the session `account.mls_session`, whose signature key pair is `mls_signer`. A
    // new session (signed in again) is a new device and starts from nothing.
    // `mls_epoch` is the conversation's group's epoch as the server last said (0: not
    // encrypted); `mls_tried_at` when this device last found a member without keys;
    // `unreadable` marks a sealed entry this device could not open.
    r#"
CREATE TABLE mls_state (
    key   BLOB PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
ALTER TABLE account ADD COLUMN mls_session TEXT;
ALTER TABLE account ADD COLUMN mls_signer BLOB;
ALTER TABLE conversations ADD COLUMN mls_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN mls_tried_at INTEGER;
-- A sealed entry this device could not open (sent before it joined the group).
ALTER TABLE messages ADD COLUMN unreadable INTEGER NOT NULL DEFAULT 0;
"#,
    // 13: files of encrypted conversations, and whose devices changed (issue 31).
    // `uploads.file_key` is the key a file is encrypted with before it goes up (its
    // conversation was encrypted); kept before anything is sent, so a restart encrypts to
    // the same bytes. `file_keys` holds, by the server's id of the encrypted upload, the
    // key, the encrypted size and the preview the sealed message carried: what a download
    // and a preview need. `mls_devices` is each member's devices in a conversation's
    // group as one fingerprint; `device_changes` the members whose fingerprint changed,
    // until this user looks at their safety number.
    r#"
ALTER TABLE uploads ADD COLUMN file_key BLOB;
CREATE TABLE file_keys (
    upload_id TEXT PRIMARY KEY,
    key       BLOB NOT NULL,
    size      INTEGER NOT NULL,
    preview   BLOB
) WITHOUT ROWID;
CREATE TABLE mls_devices (
    conversation_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    fingerprint     BLOB NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE TABLE device_changes (
    conversation_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
"#,
    // 14: what a conversation says of its encryption (issue 31). `mls_member`: this device
    // is in the conversation's group (an encrypted conversation it is not in yet is
    // joining it: what is sent there waits); set from the devices noted in the groups so
    // far, and on each connection. `mls_without_keys`: the members whose devices had no
    // keys when this device last tried to make the group or add them to it.
    r#"
ALTER TABLE conversations ADD COLUMN mls_member INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET mls_member = 1 WHERE mls_epoch > 0 AND id IN
    (SELECT conversation_id FROM mls_devices WHERE user_id = (SELECT user_id FROM account));
CREATE TABLE mls_without_keys (
    conversation_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
"#,
    // 15: history transfer between a user's devices (issue 31). `history_ask` is this
    // device's ask for the history its other devices hold (the HPKE key pair the answer
    // is sealed to; one at a time, gone with the MLS state of a new session);
    // `history_asks` are other devices' asks of this one, until its user sends the history
    // or dismisses them; `history_kept` holds what a history said of entries not here yet
    // (on a page not fetched yet), for when they come.
    r#"
CREATE TABLE history_ask (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    public_key  BLOB NOT NULL,
    private_key BLOB NOT NULL,
    asked_at    INTEGER NOT NULL,
    received_at INTEGER
);
CREATE TABLE history_asks (
    session_id TEXT PRIMARY KEY,
    public_key BLOB NOT NULL,
    signature  BLOB NOT NULL,
    asked_at   INTEGER NOT NULL
) WITHOUT ROWID;
-- Whether anything is unreadable is asked on every connection: a small index answers.
CREATE INDEX messages_unreadable ON messages (conversation_id) WHERE unreadable = 1;
CREATE TABLE history_kept (
    message_id  TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    emoji       TEXT,
    attachments TEXT
) WITHOUT ROWID;
"#,
];
