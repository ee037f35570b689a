//! The client's database after damage (a bad disk, a crash in the middle of a copy, a
//! hand edit): a migrated store whose file has bytes overwritten by the input (pairs of
//! a 16-bit offset and a byte), then opened again and read. The file is encrypted at rest,
//! so most damage fails a page's HMAC check; the header's salt and the reserved bytes
//! are reached too. Opening may fail (with an error the app shows), and so may reads;
//! nothing may panic.
#![no_main]

use std::sync::OnceLock;

use ferry_client::store::{DatabaseKey, LocalStore};
use ferry_proto::Timestamp;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

/// The key of the databases here: any fixed key does for a test.
const KEY: DatabaseKey = DatabaseKey::new([7; 32]);

/// A fresh store's file with a conversation's worth of messages, made once.
fn pristine() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("seed.db");
        {
            let store = LocalStore::open(&path, &KEY).expect("store");
            let (me, chat) = (Uuid::now_v7(), Uuid::now_v7());
            for n in 0..20 {
                store
                    .compose(
                        me,
                        Uuid::now_v7(),
                        chat,
                        &format!("message {n}"),
                        None,
                        Timestamp::now(),
                    )
                    .expect("compose");
            }
        }
        std::fs::read(&path).expect("read the file")
    })
}

fuzz_target!(|damage: &[u8]| {
    let mut bytes = pristine().to_vec();
    for edit in damage.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % bytes.len();
        bytes[at] = edit[2];
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("damaged.db");
    std::fs::write(&path, &bytes).expect("write");
    let Ok(store) = LocalStore::open(&path, &KEY) else {
        return;
    };
    let me = Uuid::nil();
    let _ = store.conversations(me, None, 50);
    let _ = store.search("message", 10);
    let _ = store.outbox_len();
});
