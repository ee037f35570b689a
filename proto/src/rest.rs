//! Request bodies, query strings and page shapes of the REST resources.

use serde::{Deserialize, Serialize};

use crate::{
    Change, Conversation, ConversationId, ConversationKind, Message, MessageId, ReportId, UploadId,
    UserId,
};

/// `POST /auth/register`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    /// 3-32 characters of `a-z 0-9 _ . -`; capitals are lowercased.
    pub username: String,
    /// 8 to 1024 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub password: String,
    /// The name people see.
    pub display_name: String,
    /// An address for password resets and digests (addition to v1): optional, and
    /// confirmed through a link mailed to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A name for the session, shown in the account's list of sessions (addition to
    /// v1): the device's system and host name by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
}

/// `POST /auth/login`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// The account.
    pub username: String,
    /// Its password.
    pub password: String,
    /// A name for the session, shown in the account's list of sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
}

/// `POST /auth/refresh`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    /// The refresh token from the last `Tokens`.
    pub refresh_token: String,
}

/// `GET /users?q=&limit=`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct UserSearchQuery {
    /// Prefix of a username or display name: at least 2 characters after trimming.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(required = true))]
    pub q: String,
    /// At most this many (default and most 20).
    #[cfg_attr(feature = "openapi", param(format = Int64, maximum = 4294967295u32))]
    pub limit: Option<u32>,
}

/// `POST /conversations`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateConversation {
    /// Direct or group.
    pub kind: ConversationKind,
    /// A group's title (required for groups).
    #[serde(default)]
    pub title: Option<String>,
    /// The other members; exactly one for a direct conversation.
    pub member_ids: Vec<UserId>,
}

/// `POST /conversations/{id}/members`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddMembers {
    /// Users to add to the group.
    pub user_ids: Vec<UserId>,
}

/// `POST /reports`: tells the operators about someone (addition to v1).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewReport {
    /// Who is reported.
    pub user_id: UserId,
    /// Where it happened: a conversation the reporter is in.
    #[serde(default)]
    pub conversation_id: Option<ConversationId>,
    /// The message reported, in that conversation.
    #[serde(default)]
    pub message_id: Option<MessageId>,
    /// In the reporter's words: at most 1,000 characters (tab and line breaks allowed).
    #[serde(default)]
    pub reason: String,
    /// Also block them (as `PUT /blocks/{user_id}`).
    #[serde(default)]
    pub block: bool,
    /// In an end-to-end encrypted conversation, whose sealed entries the server cannot
    /// read: the reporter's own copy of the reported message and of those around it, so
    /// that the operators can see what was reported. At most [`REPORT_MAX_COPIES`], each
    /// a message of that conversation, with a body of at most `MAX_BODY_CHARS`; the server
    /// cannot check them against the sealed bytes, and says so where it shows them.
    ///
    /// [`REPORT_MAX_COPIES`]: crate::REPORT_MAX_COPIES
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<ReportedCopy>,
}

/// A message of an encrypted conversation as the reporter's device shows it (in
/// [`NewReport::copies`] and the operators' view of the report).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportedCopy {
    /// Which message.
    pub message_id: MessageId,
    /// Its text, as the reporter's device opened it.
    pub body: String,
}

/// What `POST /reports` stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportReceipt {
    /// The report's id, for the operators.
    pub id: ReportId,
}

/// `GET /conversations?limit=&before=`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ListQuery {
    /// Page size (default 50, at most 500).
    #[cfg_attr(feature = "openapi", param(format = Int64, maximum = 4294967295u32))]
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    pub before: Option<String>,
}

/// A page of the conversation list, newest activity first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationPage {
    /// This page.
    pub conversations: Vec<Conversation>,
    /// Pass as `before` for the next page; `null` at the end.
    pub next: Option<String>,
}

/// `GET /conversations/{id}/messages?after_seq=&before_seq=&limit=`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct HistoryQuery {
    /// The messages right after this seq, ascending.
    pub after_seq: Option<i64>,
    /// The messages right before this seq, ascending.
    pub before_seq: Option<i64>,
    /// Page size (default 50, at most 500).
    #[cfg_attr(feature = "openapi", param(format = Int64, maximum = 4294967295u32))]
    pub limit: Option<u32>,
}

/// A page of history, always in ascending seq.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePage {
    /// This page.
    pub messages: Vec<Message>,
    /// With `after_seq`: newer ones exist. Otherwise: older ones exist.
    pub has_more: bool,
}

/// `POST /conversations/{id}/messages`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendMessage {
    /// The client's id for the message (UUIDv7).
    pub id: MessageId,
    /// The text (of a message or an edit); empty for the other changes.
    #[serde(default)]
    pub body: String,
    /// The message this one replies to (addition to v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// A change to an earlier message instead of a message (addition to v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// Finished uploads to attach, in order (addition to v1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<UploadId>,
    /// The message sealed for the conversation's end-to-end encrypted group (addition to
    /// v1), as on the socket's `send`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 4))]
    pub sealed: Option<crate::mls::MlsBytes>,
}

/// `POST /uploads`: a file about to be uploaded (addition to v1). What it declares is
/// checked against the bytes when the last of them arrives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewUpload {
    /// The file's name: 1 to 255 characters, no path separators or control characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 255))]
    pub name: String,
    /// Bytes: at least 1, at most the server's limit (100 MB unless configured).
    #[serde(deserialize_with = "whole")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub size: u64,
    /// Its media type (`image/png`); must agree with the bytes' magic numbers.
    pub content_type: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
}

/// An upload as the server has it (addition to v1): `POST /uploads`, `GET` and `PATCH
/// /uploads/{id}`. Send the bytes from `offset` on, at most `chunk_size` per `PATCH`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Upload {
    /// Its id, also the attachment's once stored.
    pub id: UploadId,
    /// Bytes in all.
    pub size: u64,
    /// Bytes the server holds; the next `PATCH` starts here.
    pub offset: u64,
    /// The most bytes one `PATCH` may carry.
    pub chunk_size: u64,
    /// Set once every byte arrived and was checked: attach it by `id` to a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<crate::Attachment>,
}

/// `PUT /conversations/{id}/notifications`: what the caller is told of its new messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notifications {
    /// All, mentions only, or none.
    pub level: crate::NotifyLevel,
}

/// `POST /conversations/{id}/read` and `/delivered`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Watermark {
    /// Everything up to this seq.
    #[serde(deserialize_with = "whole")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub seq: i64,
}

/// [`whole`], or `null`.
pub(crate) fn optional_whole<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    #[derive(Deserialize)]
    #[serde(bound(deserialize = "T: TryFrom<i64> + TryFrom<u64>"))]
    struct Whole<T>(#[serde(deserialize_with = "whole")] T);

    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|Whole(v)| v))
}

/// A JSON integer, also when written as a number with a zero fraction (`5.0`): JSON
/// Schema calls that an integer, and so generated clients and schemathesis send it.
/// Anything with a fraction, or out of the type's range, is refused.
fn whole<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    struct Whole<T>(std::marker::PhantomData<T>);

    impl<T: TryFrom<i64> + TryFrom<u64>> serde::de::Visitor<'_> for Whole<T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number in range")
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }

        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
            // Past 2^53 a float no longer holds every whole number exactly.
            const EXACT: f64 = 9_007_199_254_740_992.0;
            if v.fract() != 0.0 || v.abs() > EXACT {
                return Err(E::custom(format!("{v} is not a whole number")));
            }
            if v < 0.0 {
                self.visit_i64(v as i64)
            } else {
                self.visit_u64(v as u64)
            }
        }
    }

    deserializer.deserialize_any(Whole(std::marker::PhantomData))
}

/// `GET /sync?since=&limit=`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct SyncQuery {
    /// The `cursor` of the last sync; none means everything.
    pub since: Option<String>,
    /// Page size (default 50, at most 500).
    #[cfg_attr(feature = "openapi", param(format = Int64, maximum = 4294967295u32))]
    pub limit: Option<u32>,
    /// Also return up to this many of the latest messages of each conversation in the
    /// page (default 0, at most 100): a client whose gap they cover needs no history
    /// call. An addition to version 1.
    #[cfg_attr(feature = "openapi", param(format = Int64, maximum = 4294967295u32))]
    pub messages: Option<u32>,
    /// When nothing changed since `since`, wait up to this many seconds (at most 10)
    /// for a change before answering: a long-poll, for clients that cannot keep a
    /// WebSocket open. An addition to version 1.
    #[cfg_attr(feature = "openapi", param(format = Int64, maximum = 4294967295u32))]
    pub wait: Option<u32>,
}

/// The conversations that changed since a cursor.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncPage {
    /// Changed conversations (a conversation may come again: apply idempotently).
    pub conversations: Vec<Conversation>,
    /// Pass as `since` next time.
    pub cursor: String,
    /// Call again at once with `cursor`.
    pub has_more: bool,
    /// With `messages=N`: up to the latest N messages of each conversation in the page,
    /// ascending by seq within each conversation, as far as the server's byte budget for
    /// a page goes (so fewer, or none, for some: fetch the rest as history); empty
    /// otherwise. An addition to version 1, absent from servers without it.
    #[serde(default)]
    pub messages: Vec<Message>,
}

#[cfg(test)]
mod tests {
    use super::{NewUpload, Watermark};

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let seq = |json: &str| serde_json::from_str::<Watermark>(json).map(|w| w.seq);
        assert_eq!(seq(r#"{"seq":5}"#).ok(), Some(5));
        assert_eq!(seq(r#"{"seq":5.0}"#).ok(), Some(5));
        assert_eq!(seq(r#"{"seq":-2.0}"#).ok(), Some(-2));
        assert!(seq(r#"{"seq":5.5}"#).is_err());
        assert!(seq(r#"{"seq":1e300}"#).is_err());
        assert!(seq(r#"{"seq":"5"}"#).is_err());
        let size = |json: &str| {
            serde_json::from_str::<NewUpload>(&format!(
                r#"{{"name":"a","size":{json},"content_type":"text/plain","sha256":"x"}}"#
            ))
            .map(|u| u.size)
        };
        assert_eq!(size("7.0").ok(), Some(7));
        assert!(size("-1").is_err(), "a size is never negative");
        assert!(size("-1.0").is_err());
        let days = |json: &str| {
            serde_json::from_str::<crate::RetentionChange>(json).map(|change| change.days)
        };
        assert_eq!(days(r#"{"days":30.0,"reason":"r"}"#).ok(), Some(Some(30)));
        assert_eq!(days(r#"{"days":null,"reason":"r"}"#).ok(), Some(None));
        assert_eq!(days(r#"{"reason":"r"}"#).ok(), Some(None));
        assert!(days(r#"{"days":1.5,"reason":"r"}"#).is_err());
        assert!(days(r#"{"days":-1,"reason":"r"}"#).is_err());
    }
}
