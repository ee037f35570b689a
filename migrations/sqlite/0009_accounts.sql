-- Accounts and operators (issue 28), as on Postgres (see there): email addresses and their confirmation, password
-- resets, sessions that say where and when they were used, administrators, suspensions,
-- deleted accounts, the reports queue's decisions and the audit log.

-- An optional address, confirmed through a mailed link before it receives anything; one
-- confirmed address belongs to one account.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
CREATE UNIQUE INDEX users_verified_email ON users (lower(email)) WHERE email_verified_at IS NOT NULL;
-- Granted on the host (`ferry-server admin grant USER`), never through the public API.
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN suspended_at INTEGER;
ALTER TABLE users ADD COLUMN suspended_reason TEXT;
-- A deleted account keeps its row (its messages name it) and, until `username_held_until`,
-- its username, so nobody can pose as it at once; then the name is freed.
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
ALTER TABLE users ADD COLUMN username_held_until INTEGER;
-- Set once every message and reaction of a deleted account is deleted for everyone (a
-- background task does it, and goes on after a restart until this is set).
ALTER TABLE users ADD COLUMN erased_at INTEGER;
-- Missed-message mail (server/src/digest.rs): wanted or not, and when the last one went.
ALTER TABLE users ADD COLUMN missed_message_mail INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN last_digest_at BIGINT;

ALTER TABLE sessions ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_used_at = created_at;
ALTER TABLE sessions ADD COLUMN last_place TEXT;
CREATE INDEX sessions_user ON sessions (user_id);

-- One-time tokens sent by mail (stored hashed, like refresh tokens): confirming an
-- address, resetting a password, turning missed-message mail off. Used once, and only until they expire.
CREATE TABLE mail_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    BLOB NOT NULL REFERENCES users (id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'unsubscribe')),
    -- The address a confirmation is for: a later change of address voids it.
    email      TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX mail_tokens_user ON mail_tokens (user_id, purpose, created_at);

-- The reports queue: an operator resolves or dismisses each, with a note.
ALTER TABLE reports ADD COLUMN state TEXT NOT NULL DEFAULT 'open'
    CHECK (state IN ('open', 'resolved', 'dismissed'));
ALTER TABLE reports ADD COLUMN decided_by BLOB REFERENCES users (id);
ALTER TABLE reports ADD COLUMN decision_note TEXT;
ALTER TABLE reports ADD COLUMN decided_at INTEGER;
CREATE INDEX reports_queue ON reports (state, created_at, id);

-- A message removed by an operator says so (its text is gone, as after a deletion).
ALTER TABLE messages ADD COLUMN removed_by_operator INTEGER NOT NULL DEFAULT 0;

-- Everything an operator did, from the admin API or the host's command line (no actor).
CREATE TABLE audit_log (
    id       BLOB PRIMARY KEY,
    actor_id BLOB REFERENCES users (id),
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at, id);
