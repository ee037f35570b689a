-- Message requests, blocks and reports: see the Postgres migration.
ALTER TABLE members ADD COLUMN state TEXT NOT NULL DEFAULT 'accepted'
    CHECK (state IN ('accepted', 'request', 'blocked'));

-- Who blocked whom: a blocked user cannot start a conversation with the blocker or add
-- them to a group, and neither sees the other's presence. `direct_state` is the blocker's
-- state in their direct conversation before the block, which unblocking restores (a
-- request stays a request).
CREATE TABLE blocks (
    blocker_id BLOB NOT NULL REFERENCES users (id),
    blocked_id BLOB NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    direct_state TEXT NOT NULL DEFAULT 'accepted' CHECK (direct_state IN ('accepted', 'request')),
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id);

-- Reports of abuse, for the operators (see docs/operations.md): kept until they delete them.
CREATE TABLE reports (
    id              BLOB PRIMARY KEY,
    reporter_id     BLOB NOT NULL REFERENCES users (id),
    reported_id     BLOB NOT NULL REFERENCES users (id),
    conversation_id BLOB REFERENCES conversations (id),
    message_id      BLOB,
    reason          TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX reports_reported ON reports (reported_id, created_at);
