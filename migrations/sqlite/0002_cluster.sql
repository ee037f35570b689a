-- Presence across the nodes of a cluster: same tables as Postgres (see there). A cluster
-- needs Postgres, so on SQLite these stay empty; they exist so that both stores have one
-- schema and one implementation.

CREATE TABLE nodes (
    id         BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

CREATE TABLE node_users (
    node_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    PRIMARY KEY (node_id, user_id)
);
CREATE INDEX node_users_user ON node_users (user_id);
