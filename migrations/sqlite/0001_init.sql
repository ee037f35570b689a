-- Ferry server schema for the embedded SQLite store. Same tables as Postgres; UUIDs are
-- 16-byte BLOBs (sqlx's encoding) and times are Unix milliseconds.

CREATE TABLE users (
    id            BLOB PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER
);

CREATE TABLE sessions (
    id          BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id),
    device_name TEXT,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    session_id BLOB NOT NULL REFERENCES sessions (id),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE conversations (
    id             BLOB PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    title          TEXT,
    direct_key     TEXT UNIQUE,
    last_seq       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    -- The value of sync_clock when the conversation last changed; SQLite has one writer,
    -- so this counter follows commit order.
    change_version INTEGER NOT NULL
);
CREATE INDEX conversations_change ON conversations (change_version, id);

CREATE TABLE members (
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    user_id         BLOB NOT NULL REFERENCES users (id),
    role            TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    read_seq        INTEGER NOT NULL DEFAULT 0,
    delivered_seq   INTEGER NOT NULL DEFAULT 0,
    joined_at       INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_user ON members (user_id);

CREATE TABLE messages (
    id              BLOB PRIMARY KEY,
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL,
    sender_id       BLOB NOT NULL REFERENCES users (id),
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (conversation_id, seq)
);

CREATE TABLE sync_clock (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    version  INTEGER NOT NULL
);
INSERT INTO sync_clock (only_row, version) VALUES (1, 0);
