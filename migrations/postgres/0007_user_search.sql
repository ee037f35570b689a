-- User search reads two index ranges, usernames and lowered display names, each by
-- prefix with the pattern operators (store/postgres.rs, SEARCH_USERS): the unique index on
-- `username` follows the database's collation, which prefix ranges cannot use.
CREATE INDEX users_username_prefix ON users (username text_pattern_ops);
