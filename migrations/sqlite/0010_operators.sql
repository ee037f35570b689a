-- The operators' side (issue 28): every node closes the sockets of sessions ended since
-- its last look (`sessions_ended_since`), so that an end written by a command on the host,
-- which reaches no node's bus, still takes effect everywhere within seconds.
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
