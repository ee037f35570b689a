//! A person's own account (addition to v1, docs/protocol.md "Accounts"): the profile
//! others see ([`ProfileChange`]), what only they see ([`Account`]), the password
//! ([`PasswordChange`], and its reset by mail: [`PasswordResetRequest`],
//! [`PasswordReset`]), an optional email address ([`EmailChange`], [`EmailVerification`]),
//! where they are signed in ([`SessionInfo`]), their settings ([`AccountSettings`]),
//! deleting the account ([`AccountDeletion`]) and the layout of a data export
//! ([`ExportManifest`], [`ExportPart`], [`ExportedFile`]).

use serde::{Deserialize, Serialize};

use crate::{SessionId, Timestamp, User};

/// The caller's own account: `GET /account`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Account {
    /// What everyone sees.
    pub user: User,
    /// The address mail goes to; `null` when none was given.
    pub email: Option<String>,
    /// Whether the address was confirmed through the link mailed to it (only a
    /// confirmed address receives password resets and digests).
    pub email_verified: bool,
    /// The user administers this server.
    pub admin: bool,
    /// Their settings.
    pub settings: AccountSettings,
}

/// What a user chooses for their account: `PATCH /account/settings` takes the fields it
/// changes, `GET /account` shows them all. Read only from a JSON object: with every field
/// optional, serde would also take an array (`[]`) for one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AccountSettings {
    /// Mail a digest of unread direct messages when no device of theirs was online for
    /// a while (the server's `FERRY_DIGEST_AFTER_SECS`), at most once per
    /// `FERRY_DIGEST_INTERVAL_SECS`. On by default; needs a confirmed address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub missed_message_mail: Option<bool>,
    /// Do not disturb until this time (addition to v1): no device of theirs notifies of
    /// anything until then, whatever the conversations' levels. `null` when off (in a
    /// `PATCH`, `null` turns it off, and a time already past is taken as `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Timestamp>))]
    pub do_not_disturb_until: Option<Option<Timestamp>>,
}

impl AccountSettings {
    /// Whether do-not-disturb holds at `now`.
    pub fn quiet_at(&self, now: Timestamp) -> bool {
        matches!(self.do_not_disturb_until, Some(Some(until)) if until > now)
    }
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for AccountSettings {
    type Error = serde_json::Error;

    fn try_from(fields: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        /// The fields, as serde reads them (unknown ones ignored, for newer clients).
        #[derive(Deserialize)]
        struct Fields {
            #[serde(default)]
            missed_message_mail: Option<bool>,
        }
        // Present as `null` (turn off) is not absent (leave as is): read apart.
        let do_not_disturb_until = fields
            .get("do_not_disturb_until")
            .cloned()
            .map(serde_json::from_value::<Option<Timestamp>>)
            .transpose()?;
        let Fields {
            missed_message_mail,
        } = serde_json::from_value(serde_json::Value::Object(fields))?;
        Ok(Self {
            missed_message_mail,
            do_not_disturb_until,
        })
    }
}

/// `PATCH /me`: the profile fields to change (absent ones stay).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileChange {
    /// 1 to 64 characters after trimming, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `POST /account/password`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordChange {
    /// The password now: a stolen session cannot change it.
    pub current_password: String,
    /// 8 to 1024 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub new_password: String,
    /// Keep the caller's other sessions signed in (by default every other session ends,
    /// as after a suspected theft).
    #[serde(default)]
    pub keep_other_sessions: bool,
}

/// `PUT /account/email`: sets (or, with `null`, removes) the address; a new one is
/// confirmed through a link mailed to it.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailChange {
    /// The address; `null` removes it.
    pub email: Option<String>,
    /// The current password: an address can reset it.
    pub password: String,
}

/// `POST /auth/email/verify`: the token from the confirmation mail.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailVerification {
    /// As mailed.
    pub token: String,
}

/// `POST /auth/password/forgot`: asks for a reset mail. The answer is the same whether
/// or not an account has that name or address.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordResetRequest {
    /// A username, or a confirmed email address.
    pub login: String,
}

/// `POST /auth/password/reset`: sets a new password with the mailed token, which works
/// once and for a limited time. Every session of the account ends.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordReset {
    /// As mailed.
    pub token: String,
    /// 8 to 1024 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub new_password: String,
}

/// One place the user is signed in: `GET /account/sessions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionInfo {
    /// `DELETE /account/sessions/{id}` ends it.
    pub id: SessionId,
    /// The name the device gave itself (its system and host name by default).
    pub device_name: Option<String>,
    /// When it signed in.
    pub created_at: Timestamp,
    /// When it last connected or refreshed its token.
    pub last_used_at: Timestamp,
    /// The network address it last came from.
    pub last_place: Option<String>,
    /// The session of this very request.
    pub current: bool,
}

/// `POST /account/delete`: the password, so a stolen session cannot delete the account.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountDeletion {
    /// The current password.
    pub password: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_only_from_an_object() {
        let off: AccountSettings =
            serde_json::from_str(r#"{"missed_message_mail":false,"later":1}"#).expect("object");
        assert_eq!(off.missed_message_mail, Some(false));
        let none: AccountSettings = serde_json::from_str("{}").expect("empty object");
        assert_eq!(none, AccountSettings::default());
        for not_an_object in [
            "[]",
            "[true]",
            "null",
            "1",
            r#"{"missed_message_mail":"no"}"#,
        ] {
            assert!(
                serde_json::from_str::<AccountSettings>(not_an_object).is_err(),
                "{not_an_object}"
            );
        }
    }
}

/// `PUT /me/picture`: a finished upload of the caller's, an image, becomes their profile
/// picture (the server keeps its middle square, made small).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PictureChange {
    /// The upload (`POST /uploads`, whole): it is used up by this.
    pub upload_id: crate::UploadId,
}

/// `ferry-export.json`, the first file of a data export (`GET /account/export`, a tar
/// archive; docs/protocol.md "Exporting one's data"): what the archive is and what it
/// holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportManifest {
    /// Always `ferry-export`.
    pub format: String,
    /// The layout's version: 1.
    pub version: u32,
    /// When the server made it.
    pub exported_at: Timestamp,
    /// Whose data it is.
    pub user: User,
    /// Every other file of the archive, in order, with its size in bytes.
    pub files: Vec<ExportPart>,
}

/// One file of a data export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportPart {
    /// Its path in the archive.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One of the person's files in a data export (`files.json`): the attachment as it was
/// sent, and where its bytes are in the archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedFile {
    /// The upload's id (the attachment's).
    pub id: crate::UploadId,
    /// Its name, as they gave it.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Its media type.
    pub content_type: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// The conversation it was sent in.
    pub conversation_id: Option<crate::ConversationId>,
    /// The message that carries it.
    pub message_id: Option<crate::MessageId>,
    /// When the upload began.
    pub created_at: Timestamp,
    /// Its bytes' path in the archive: `files/<id>`.
    pub path: String,
}
