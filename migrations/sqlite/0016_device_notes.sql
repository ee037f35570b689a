-- Notes between one user's own devices (issue 31): opaque bytes a device leaves for
-- another signed-in device of the same user (a history transfer's ask and answer). Kept
-- until the device deletes it, its session ends, or a week passes (forget_ended_sessions).
CREATE TABLE device_notes (
    id              BLOB PRIMARY KEY,
    session_id      BLOB NOT NULL REFERENCES sessions (id),
    from_session_id BLOB NOT NULL,
    note            BLOB NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX device_notes_session ON device_notes (session_id, created_at);
