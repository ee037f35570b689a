-- User search reads two index ranges by prefix (store/sqlite.rs, SEARCH_USERS): the
-- unique index on `username` serves the first; this one the lowered display names.
CREATE INDEX users_display_name_prefix ON users (lower(display_name));
