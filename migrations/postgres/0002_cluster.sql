-- Presence across the nodes of a cluster (used only when FERRY_NATS_URL is set): each
-- node's lease, renewed every few seconds, and which users it holds sockets of. A user
-- is online while some node holds one of their sockets; a node whose lease ran out is
-- presumed dead, and its rows are removed by whichever node notices first.

CREATE TABLE nodes (
    id         UUID PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE TABLE node_users (
    node_id UUID NOT NULL,
    user_id UUID NOT NULL,
    PRIMARY KEY (node_id, user_id)
);
CREATE INDEX node_users_user ON node_users (user_id);
