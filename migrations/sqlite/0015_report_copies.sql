-- A report of a message in an end-to-end encrypted conversation (issue 31) carries the
-- reporter's own copy of it and of the messages around it, as JSON
-- (`[{"message_id": "…", "body": "…"}]`), since the server cannot read the sealed
-- entries: what the operators see. NULL when there are none.
ALTER TABLE reports ADD COLUMN copies TEXT;
