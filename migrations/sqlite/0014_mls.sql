-- End-to-end encryption (issue 31): the server as MLS delivery service. It keeps each
-- device's key packages, each group's commit log (one commit per epoch, the first one
-- wins), the group's latest info, and the welcomes waiting for the devices they add. A
-- device is a session; its key packages and welcomes go when it ends
-- (forget_ended_sessions). Every MLS structure is kept as its TLS encoding, opaque but for
-- what the server parsed out of it on the way in.

-- Key packages by their hash reference (RFC 9420 §5.2), which is how a welcome names the
-- devices it is for. A claimed one-time package keeps its row (claimed_at set) so that
-- the welcome made with it finds its device.
CREATE TABLE mls_key_packages (
    hash_ref    BLOB PRIMARY KEY,
    session_id  BLOB NOT NULL REFERENCES sessions (id),
    user_id     BLOB NOT NULL REFERENCES users (id),
    key_package BLOB NOT NULL,
    last_resort INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    claimed_at  INTEGER
);
-- A claim takes a device's oldest unclaimed one-time package.
CREATE INDEX mls_key_packages_waiting ON mls_key_packages (session_id, created_at)
    WHERE claimed_at IS NULL;

-- The group's epoch (0 until its first commit) and its info after the last commit.
ALTER TABLE conversations ADD COLUMN mls_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN mls_group_info BLOB;

CREATE TABLE mls_commits (
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    epoch           INTEGER NOT NULL,
    sender_id       BLOB NOT NULL REFERENCES users (id),
    -- The committing device: history, kept after the session itself is gone.
    session_id      BLOB NOT NULL,
    body            BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, epoch)
);

CREATE TABLE mls_welcomes (
    id              BLOB PRIMARY KEY,
    session_id      BLOB NOT NULL REFERENCES sessions (id),
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    epoch           INTEGER NOT NULL,
    welcome         BLOB NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX mls_welcomes_session ON mls_welcomes (session_id, created_at);

-- An entry of an encrypted conversation's stream: sealed for the group by its sender (an
-- MLS private message of the epoch the conversation was in), its body empty. A deletion
-- clears it, as it clears a plain message's text.
ALTER TABLE messages ADD COLUMN sealed BLOB;
