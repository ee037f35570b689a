//! What the server does with a client's WebSocket frame before anything is stored: decode
//! it (`ws/connection.rs`), then check a send's shape (`OutgoingMessage::check`). Neither
//! may panic; a frame that decodes encodes back to the same frame, and a refusal always
//! has words.
#![no_main]

use ferry_proto::ClientFrame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = serde_json::from_slice::<ClientFrame>(data) else {
        return;
    };
    if let ClientFrame::Send { message } = &frame {
        if let Err(refused) = message.check(ferry_proto::MAX_BODY_CHARS) {
            assert!(!refused.to_string().is_empty());
        }
    }
    let text = serde_json::to_string(&frame).expect("a decoded frame encodes");
    let again: ClientFrame = serde_json::from_str(&text).expect("and decodes again");
    assert_eq!(again, frame);
});
