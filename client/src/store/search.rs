//! Full-text search over every stored message, offline, with SQLite FTS5. Each word of the
//! query is matched as a prefix, so typing "hel wor" finds "hello world"; user text is
//! quoted, never parsed as FTS syntax.

use ferry_proto::{ConversationId, MessageId, Timestamp, UserId};
use rusqlite::params;
use serde::Serialize;

use super::{LocalStore, StoreResult, id_at};

/// Marks around the matched words in a snippet (the UI renders them as highlights; the
/// rest of the text is plain text, never HTML).
pub const HIGHLIGHT_START: char = '\u{2}';
/// End of a highlighted run.
pub const HIGHLIGHT_END: char = '\u{3}';

/// A message that matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SearchHit {
    /// The message.
    pub message_id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Its seq (None while unsent).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub seq: Option<i64>,
    /// Who wrote it.
    pub sender_id: UserId,
    /// The matching part, matched words between [`HIGHLIGHT_START`] and [`HIGHLIGHT_END`].
    pub snippet: String,
    /// When.
    pub created_at: Timestamp,
}

/// Turns user text into an FTS5 query: every word quoted, as a prefix, all required.
/// Control characters are dropped: no stored text holds one (bodies refuse them), and a
/// NUL ends an FTS5 string early, so "\0" failed as "unterminated string" (found by
/// the `search_query` fuzz target).
fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

impl LocalStore {
    /// Messages matching `text`, best match first.
    pub fn search(&self, text: &str, limit: u32) -> StoreResult<Vec<SearchHit>> {
        let Some(query) = fts_query(text) else {
            return Ok(Vec::new());
        };
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT m.id, m.conversation_id, m.seq, m.sender_id, \
                 snippet(messages_fts, 0, char(2), char(3), '…', 12), m.created_at \
                 FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid \
                 WHERE messages_fts MATCH ?1 ORDER BY rank LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![query, limit], |r| {
                Ok(SearchHit {
                    message_id: id_at(r, 0)?,
                    conversation_id: id_at(r, 1)?,
                    seq: r.get(2)?,
                    sender_id: id_at(r, 3)?,
                    snippet: r.get(4)?,
                    created_at: Timestamp::from_millis(r.get(5)?),
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn user_text_is_quoted() {
        assert_eq!(fts_query("hel wor").as_deref(), Some("\"hel\"* \"wor\"*"));
        assert_eq!(
            fts_query("a\"b OR c").as_deref(),
            Some("\"a\"\"b\"* \"OR\"* \"c\"*")
        );
        assert_eq!(fts_query("   "), None);
    }

    #[test]
    fn control_characters_are_no_query() {
        // fuzz/artifacts/search_query/crash-00b28ff0…: NUL ended the FTS5 string.
        assert_eq!(fts_query("\n\0"), None);
        assert_eq!(fts_query("he\0llo"), Some("\"hello\"*".into()));
    }

    #[test]
    fn any_text_searches_without_failing() {
        let dir = tempfile::tempdir().expect("dir");
        let store = super::LocalStore::open(
            &dir.path().join("s.db"),
            &crate::store::DatabaseKey::new([7; 32]),
        )
        .expect("store");
        for text in [
            "\n\0",
            "\0",
            "\"",
            "NEAR(",
            "a OR",
            "*",
            "\u{1b}[31m",
            "'--",
        ] {
            assert!(store.search(text, 5).is_ok(), "{text:?}");
        }
    }
}
