-- Ferry server schema for Postgres. Times are Unix milliseconds (BIGINT) in both stores,
-- so that what is stored, sent and compared is the same value on either database.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT
);
CREATE INDEX users_display_name_prefix ON users (lower(display_name) text_pattern_ops);

CREATE TABLE sessions (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    device_name TEXT,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- Refresh tokens are stored only as SHA-256 hashes; a used one is kept so that its reuse
-- can be detected (and the whole session revoked).
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions (id),
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE conversations (
    id             UUID PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    title          TEXT,
    -- "smaller-uuid:larger-uuid" for direct conversations: at most one per pair.
    direct_key     TEXT UNIQUE,
    last_seq       BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    -- The id of the last transaction that changed the conversation (messages, watermarks,
    -- members); /sync compares it with the snapshot's xmin, see store/postgres.rs.
    change_version BIGINT NOT NULL
);
CREATE INDEX conversations_change ON conversations (change_version, id);

CREATE TABLE members (
    conversation_id UUID NOT NULL REFERENCES conversations (id),
    user_id         UUID NOT NULL REFERENCES users (id),
    role            TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    read_seq        BIGINT NOT NULL DEFAULT 0,
    delivered_seq   BIGINT NOT NULL DEFAULT 0,
    joined_at       BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

CREATE TABLE messages (
    id              UUID PRIMARY KEY,
    conversation_id UUID NOT NULL REFERENCES conversations (id),
    seq             BIGINT NOT NULL,
    sender_id       UUID NOT NULL REFERENCES users (id),
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (conversation_id, seq)
);
