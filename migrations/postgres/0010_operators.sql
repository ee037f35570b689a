-- The operators' side (issue 28).

-- Every node closes the sockets of sessions ended since
-- its last look (`sessions_ended_since`), so that an end written by a command on the host,
-- which reaches no node's bus, still takes effect everywhere within seconds.
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Retention: a conversation's own policy, in days (NULL: the server's, FERRY_RETENTION_DAYS;
-- 0: keep for ever), and the lowest seq still held once older messages were deleted.
ALTER TABLE conversations ADD COLUMN retention_days INTEGER;
ALTER TABLE conversations ADD COLUMN history_from BIGINT NOT NULL DEFAULT 1;
