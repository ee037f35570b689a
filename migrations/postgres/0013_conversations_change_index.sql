-- No query reads conversations in change_version order: catch-up starts from the
-- reader's memberships and picks the later of each conversation's change and the
-- member's own (store/sql/conversations.rs), which this index cannot serve. Kept, it cost
-- every send batch a new index entry (and, on Postgres, kept the conversation's update
-- from being HOT), since each batch moves change_version.
DROP INDEX conversations_change;
