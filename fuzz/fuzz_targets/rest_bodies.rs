//! The REST bodies the server takes (axum's `Json` is serde_json), each with the checks the
//! server runs on it first: the first byte picks the body, the rest is its JSON. None may
//! panic.
#![no_main]

use ferry_proto::{
    AddMembers, CreateConversation, LoginRequest, NewReport, NewUpload, RefreshRequest,
    RegisterRequest, SendMessage, has_control, normalize_username, validate_body,
    validate_password, validate_upload,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => {
            if let Ok(r) = serde_json::from_slice::<RegisterRequest>(json) {
                let _ = normalize_username(&r.username);
                let _ = validate_password(&r.password);
                let _ = has_control(&r.display_name);
            }
        }
        1 => {
            if let Ok(r) = serde_json::from_slice::<LoginRequest>(json) {
                let _ = normalize_username(&r.username);
            }
        }
        2 => {
            let _ = serde_json::from_slice::<RefreshRequest>(json);
        }
        3 => {
            if let Ok(r) = serde_json::from_slice::<CreateConversation>(json) {
                let _ = r.title.as_deref().map(has_control);
            }
        }
        4 => {
            let _ = serde_json::from_slice::<AddMembers>(json);
        }
        5 => {
            if let Ok(r) = serde_json::from_slice::<SendMessage>(json) {
                let _ = validate_body(&r.body, ferry_proto::MAX_BODY_CHARS);
            }
        }
        6 => {
            if let Ok(r) = serde_json::from_slice::<NewUpload>(json) {
                let _ = validate_upload(&r, ferry_proto::DEFAULT_MAX_FILE_BYTES);
            }
        }
        _ => {
            if let Ok(r) = serde_json::from_slice::<NewReport>(json) {
                let _ = has_control(&r.reason);
            }
        }
    }
});
