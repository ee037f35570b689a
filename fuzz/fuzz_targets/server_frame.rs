//! What the client does with a server's WebSocket frame: decode it (`engine/link.rs`).
//! It may not panic; a frame that decodes encodes back to the same frame.
#![no_main]

use ferry_proto::ServerFrame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = serde_json::from_slice::<ServerFrame>(data) else {
        return;
    };
    let text = serde_json::to_string(&frame).expect("a decoded frame encodes");
    let again: ServerFrame = serde_json::from_str(&text).expect("and decodes again");
    assert_eq!(again, frame);
});
