//! The client's search box: any text is a query (`store/search.rs` quotes every word, so
//! nothing the user types is FTS5 syntax). A search may find nothing, but it may never
//! fail or panic.
#![no_main]

use std::sync::OnceLock;

use ferry_client::store::{DatabaseKey, LocalStore};
use ferry_proto::Timestamp;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

/// The key of the databases here: any fixed key does for a test.
const KEY: DatabaseKey = DatabaseKey::new([7; 32]);

fn store() -> &'static LocalStore {
    static STORE: OnceLock<(tempfile::TempDir, LocalStore)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("dir");
            let store = LocalStore::open(&dir.path().join("fuzz.db"), &KEY).expect("store");
            let (me, chat) = (Uuid::now_v7(), Uuid::now_v7());
            for body in [
                "hello world",
                "\"quoted\" words",
                "NEAR(a b) OR c*",
                "ünïcödé ✓",
            ] {
                store
                    .compose(me, Uuid::now_v7(), chat, body, None, Timestamp::now())
                    .expect("compose");
            }
            (dir, store)
        })
        .1
}

fuzz_target!(|text: &str| {
    if let Err(e) = store().search(text, 20) {
        panic!("search for {text:?} failed: {e}");
    }
});
