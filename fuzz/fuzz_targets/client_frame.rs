//! What the server does with a client's WebSocket frame before anything is stored: decode
//! it (`ws.rs`), then check a send's body or change. Neither may panic; a frame that
//! decodes encodes back to the same frame.
#![no_main]

use ferry_proto::{ClientFrame, validate_body, validate_change};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = serde_json::from_slice::<ClientFrame>(data) else {
        return;
    };
    if let ClientFrame::Send { message } = &frame {
        let _ = validate_body(&message.body, ferry_proto::MAX_BODY_CHARS);
        if let Some(change) = &message.change {
            let _ = validate_change(change, &message.body, ferry_proto::MAX_BODY_CHARS);
        }
    }
    let text = serde_json::to_string(&frame).expect("a decoded frame encodes");
    let again: ClientFrame = serde_json::from_str(&text).expect("and decodes again");
    assert_eq!(again, frame);
});
