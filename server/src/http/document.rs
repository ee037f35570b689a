//! The OpenAPI document as served: utoipa's, derived from the routes and the types, plus
//! what derive attributes cannot say. The patterns of text fields, built from the
//! character classes the validators use (`ferry_proto::has_control` refuses Unicode's Cc,
//! `str::trim` removes its White_Space); the rules that tie fields together (a direct
//! conversation has one other member and a group a title; a message carries text, files
//! or a change, each with its own fields; a reported message needs its conversation, and
//! copies need a reported message); and
//! the limits this server was configured with. scripts/schemathesis.sh checks the result
//! against the server.
//!
//! The patterns are ECMA-262 as JSON Schema says, written so that Python's `re` and
//! Rust's `regex` read them alike: no `\s` alone (each engine has its own; `[\s\S]` is any
//! character in all of them), no look-around (`not` says what a pattern would need it for).

use ferry_proto::{
    MAX_ATTACHMENTS, MAX_EMOJI_CHARS, REPORT_MAX_COPIES, REPORT_REASON_MAX_CHARS, TITLE_MAX_CHARS,
};
use serde_json::{Value, json};

use crate::config::Config;

/// Unicode's Cc, which `has_control` refuses.
const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";
/// Unicode's White_Space that is Cc as well.
const CONTROL_SPACE: &str = r"\t\n\x0B\x0C\r\x85";
/// The rest of Unicode's White_Space: `str::trim` removes both.
const SPACE: &str = r" \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// Not a control character, but tab, line feed and carriage return are allowed (bodies,
/// reasons).
const TEXT: &str = r"[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]";
/// One token of a media type (`type/subtype`), as `validate_upload` reads it.
const TOKEN: &str = r"[A-Za-z0-9!#$&^_.+-]";
const UUID: &str = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}";
/// The number of a cursor: an `i64` (18 digits always fit).
const CURSOR_NUMBER: &str = r"[+-]?[0-9]{1,18}";

/// The document utoipa made, with what it could not derive.
pub fn document(openapi: &utoipa::openapi::OpenApi, config: &Config) -> Value {
    let mut doc = serde_json::to_value(openapi).expect("an OpenAPI document is JSON");
    let trimmed = format!("[{CONTROL_SPACE}{SPACE}]");
    let visible = format!("[^{CONTROL}{SPACE}]");
    let plain = format!("[^{CONTROL}]");
    // Trimmed, 1 to `max` characters and no control character (display names, titles).
    let name = |max: usize| {
        format!(
            "^{trimmed}*{visible}(?:{plain}{{0,{}}}{visible})?{trimmed}*$",
            max - 2
        )
    };
    let uuid = format!("^{UUID}$");
    let body = json!({
        "type": "string",
        "pattern": format!("^{TEXT}*{visible}{TEXT}*$"),
        "maxLength": config.max_body_chars,
    });

    if let Some(q) = parameter(&mut doc, "/api/v1/users", "get", "q") {
        // No control character at all, and 2 characters or more once trimmed.
        q["schema"]["pattern"] = json!(format!("^[{SPACE}]*{visible}{plain}*{visible}[{SPACE}]*$"));
    }
    if let Some(before) = parameter(&mut doc, "/api/v1/conversations", "get", "before") {
        before["schema"]["pattern"] = json!(format!("^{CURSOR_NUMBER}\\.{UUID}$"));
    }
    if let Some(since) = parameter(&mut doc, "/api/v1/sync", "get", "since") {
        since["schema"]["pattern"] =
            json!(format!("^{CURSOR_NUMBER}\\.{UUID}(?:\\.{CURSOR_NUMBER})?$"));
    }

    let schemas = &mut doc["components"]["schemas"];
    schemas["RegisterRequest"]["properties"]["username"]["pattern"] =
        json!("^[A-Za-z0-9_.-]{3,32}$");
    schemas["RegisterRequest"]["properties"]["display_name"]["pattern"] =
        json!(name(crate::http::auth::DISPLAY_NAME_MAX_CHARS));
    schemas["LoginRequest"]["properties"]["device_name"]["pattern"] = json!(format!("^{plain}*$"));

    let upload = &mut schemas["NewUpload"]["properties"];
    upload["size"]["maximum"] = json!(config.max_file_bytes);
    // Not blank, no path separator or control character, and not `.` or `..`.
    upload["name"]["pattern"] = json!(format!(
        "^[^/\\\\{CONTROL}]*[^/\\\\{CONTROL}{SPACE}][^/\\\\{CONTROL}]*$"
    ));
    upload["name"]["not"] = json!({"enum": [".", ".."]});
    // `type/subtype` (parameters after `;` are dropped, the rest trimmed), at most 127 bytes.
    upload["content_type"]["allOf"] = json!([
        {"pattern": format!("^{trimmed}*{TOKEN}+/{TOKEN}+{trimmed}*(?:;[\\s\\S]*)?$")},
        {"pattern": format!(
            "^{trimmed}*[A-Za-z0-9!#$&^_./+-]{{1,127}}(?:[{CONTROL_SPACE}{SPACE};][\\s\\S]*)?$"
        )},
    ]);
    upload["sha256"]["pattern"] = json!("^[0-9a-f]{64}$");

    schemas["CreateConversation"]["oneOf"] = json!([
        {"properties": {
            "kind": {"enum": ["direct"]},
            "member_ids": {"minItems": 1, "maxItems": 1},
        }},
        {"required": ["title"], "properties": {
            "kind": {"enum": ["group"]},
            "title": {"type": "string", "pattern": name(TITLE_MAX_CHARS)},
            // The owner is the thousandth.
            "member_ids": {"maxItems": crate::http::conversations::MAX_GROUP_MEMBERS - 1},
        }},
    ]);

    let report = &mut schemas["NewReport"];
    report["properties"]["reason"]["pattern"] = json!(format!(
        "^{trimmed}*(?:{visible}(?:{TEXT}{{0,{}}}{visible})?)?{trimmed}*$",
        REPORT_REASON_MAX_CHARS - 2
    ));
    report["properties"]["conversation_id"]["pattern"] = json!(uuid);
    report["properties"]["message_id"]["pattern"] = json!(uuid);
    report["anyOf"] = json!([
        {"properties": {"message_id": {"type": "null"}}},
        {"required": ["conversation_id"], "properties": {"conversation_id": {"type": "string"}}},
    ]);
    // Copies (of sealed messages) go with a reported message: at most the message and
    // five either side, each as long as a message may be.
    report["properties"]["copies"]["maxItems"] = json!(REPORT_MAX_COPIES);
    report["allOf"] = json!([{"anyOf": [
        {"properties": {"copies": {"maxItems": 0}}},
        {"required": ["message_id"], "properties": {"message_id": {"type": "string"}}},
    ]}]);
    let copy = &mut schemas["ReportedCopy"];
    copy["properties"]["message_id"]["pattern"] = json!(uuid);
    copy["properties"]["body"]["maxLength"] = json!(config.max_body_chars);

    let send = &mut schemas["SendMessage"];
    send["properties"]["id"]["not"] = json!({"const": "00000000-0000-0000-0000-000000000000"});
    send["properties"]["reply_to"]["pattern"] = json!(uuid);
    send["properties"]["attachments"]["maxItems"] = json!(MAX_ATTACHMENTS);
    send["properties"]["attachments"]["uniqueItems"] = json!(true);
    // A change: its kind says what else it carries (an edit its new text), never files,
    // never a reply.
    let change = |what: Value, body: &Value, required: &[&str]| {
        json!({"required": required, "properties": {
            "change": what,
            "body": body,
            "reply_to": {"type": "null"},
            "attachments": {"maxItems": 0},
        }})
    };
    let empty = json!({"enum": [""]});
    send["oneOf"] = json!([
        // Text, with files or without.
        {"required": ["body"], "properties": {"change": {"type": "null"}, "body": body}},
        // Files without text.
        {"required": ["attachments"], "properties": {
            "change": {"type": "null"},
            "body": empty,
            "attachments": {"minItems": 1},
        }},
        change(
            json!({"properties": {"kind": {"enum": ["edit"]}, "emoji": {"type": "null"}}}),
            &body,
            &["change", "body"],
        ),
        change(
            json!({"properties": {"kind": {"enum": ["delete"]}, "emoji": {"type": "null"}}}),
            &empty,
            &["change"],
        ),
        change(
            json!({"required": ["emoji"], "properties": {
                "kind": {"enum": ["react", "unreact"]},
                "emoji": {"type": "string", "pattern": format!("^{visible}{{1,{MAX_EMOJI_CHARS}}}$")},
            }}),
            &empty,
            &["change"],
        ),
    ]);
    doc
}

/// The parameter `name` of an operation, if the document has it.
fn parameter<'a>(
    doc: &'a mut Value,
    path: &str,
    method: &str,
    name: &str,
) -> Option<&'a mut Value> {
    doc["paths"][path][method]["parameters"]
        .as_array_mut()?
        .iter_mut()
        .find(|p| p["name"] == name)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Every place `document` patches exists in utoipa's document: a renamed field or
    /// schema would otherwise get a patch that does nothing, silently.
    #[test]
    fn every_patched_place_exists() {
        let (_, openapi) = super::super::api();
        let doc: Value = serde_json::to_value(&openapi).expect("JSON");
        let schema = |name: &str| format!("/components/schemas/{name}");
        let mut places: Vec<String> = [
            ("RegisterRequest", "username"),
            ("RegisterRequest", "display_name"),
            ("LoginRequest", "device_name"),
            ("CreateConversation", "title"),
            ("CreateConversation", "member_ids"),
            ("NewReport", "reason"),
            ("NewReport", "conversation_id"),
            ("NewReport", "message_id"),
            ("NewReport", "copies"),
            ("ReportedCopy", "message_id"),
            ("ReportedCopy", "body"),
            ("SendMessage", "id"),
            ("SendMessage", "body"),
            ("SendMessage", "reply_to"),
            ("SendMessage", "change"),
            ("SendMessage", "attachments"),
        ]
        .iter()
        .map(|(name, field)| format!("{}/properties/{field}", schema(name)))
        .collect();
        let (_, files) = super::super::large_api();
        let files: Value = serde_json::to_value(&files).expect("JSON");
        for field in ["name", "size", "content_type", "sha256"] {
            let place = format!("{}/properties/{field}", schema("NewUpload"));
            assert!(files.pointer(&place).is_some(), "{place}");
        }
        places.extend(
            [
                "/paths/~1api~1v1~1users/get/parameters",
                "/paths/~1api~1v1~1conversations/get/parameters",
                "/paths/~1api~1v1~1sync/get/parameters",
            ]
            .map(String::from),
        );
        for place in &places {
            assert!(
                doc.pointer(place).is_some(),
                "{place} is not in the document"
            );
        }
        for (path, name) in [
            ("/api/v1/users", "q"),
            ("/api/v1/conversations", "before"),
            ("/api/v1/sync", "since"),
        ] {
            let mut doc = doc.clone();
            assert!(
                super::parameter(&mut doc, path, "get", name).is_some(),
                "{path} has no {name}"
            );
        }
    }
}
