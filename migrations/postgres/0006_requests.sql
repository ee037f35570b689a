-- Message requests, blocks and reports (issue 12). A member's `state` says whether they
-- took part in the conversation of their own will: 'accepted' (they made it, or were
-- brought in by someone they already talk to, or accepted it), 'request' (a stranger
-- started it or added them: until they accept, their presence, receipts and typing are
-- not shared and they cannot send), or 'blocked' (a direct conversation whose member
-- blocked the other: nothing is sent either way). Members from before this migration
-- chose their conversations under the old rules: they are accepted.
ALTER TABLE members ADD COLUMN state TEXT NOT NULL DEFAULT 'accepted'
    CHECK (state IN ('accepted', 'request', 'blocked'));

-- Who blocked whom: a blocked user cannot start a conversation with the blocker or add
-- them to a group, and neither sees the other's presence. `direct_state` is the blocker's
-- state in their direct conversation before the block, which unblocking restores (a
-- request stays a request).
CREATE TABLE blocks (
    blocker_id UUID NOT NULL REFERENCES users (id),
    blocked_id UUID NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    direct_state TEXT NOT NULL DEFAULT 'accepted' CHECK (direct_state IN ('accepted', 'request')),
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id);

-- Reports of abuse, for the operators (see docs/operations.md): kept until they delete them.
CREATE TABLE reports (
    id              UUID PRIMARY KEY,
    reporter_id     UUID NOT NULL REFERENCES users (id),
    reported_id     UUID NOT NULL REFERENCES users (id),
    conversation_id UUID REFERENCES conversations (id),
    message_id      UUID,
    reason          TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX reports_reported ON reports (reported_id, created_at);
