//! Rows as both stores read them, and the assembly of rows into protocol objects.
//!
//! Both schemas use the same column names and Rust types (UUIDs, i64 milliseconds, text),
//! so one set of `FromRow` structs serves both, and the cursors of paged reads are encoded
//! here once.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use ferry_proto::{
    Change, ChangeKind, Conversation, ConversationId, ConversationKind, Member, MemberState,
    Message, MessageId, NotifyLevel, PictureId, Role, SessionId, Timestamp, UploadId, User, UserId,
    UserStatus,
};
use uuid::Uuid;

use super::{AccountRecord, Contact, SessionRecord, StoreError};

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub created_at: i64,
    pub suspended_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub picture: Option<PictureId>,
}

/// The columns of [`UserRow`] from `users` (or, with `u`, from `users u`), as a literal
/// for `concat!`.
macro_rules! user_columns {
    () => {
        "id, username, display_name, created_at, suspended_at, deleted_at, picture"
    };
    (u) => {
        "u.id, u.username, u.display_name, u.created_at, u.suspended_at, u.deleted_at, u.picture"
    };
}

/// What a user's row says of their account's state.
pub(crate) fn user_status(
    suspended_at: Option<i64>,
    deleted_at: Option<i64>,
) -> Option<UserStatus> {
    if deleted_at.is_some() {
        Some(UserStatus::Deleted)
    } else if suspended_at.is_some() {
        Some(UserStatus::Suspended)
    } else {
        None
    }
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            created_at: Timestamp::from_millis(r.created_at),
            status: user_status(r.suspended_at, r.deleted_at),
            picture: r.picture,
        }
    }
}

/// A user with their password hash, for a login.
#[derive(sqlx::FromRow)]
pub(crate) struct LoginRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub password_hash: String,
}

/// A user with what only they (and the operators) see.
#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub password_hash: String,
    pub email: Option<String>,
    pub email_verified_at: Option<i64>,
    pub admin: bool,
    pub missed_message_mail: bool,
    pub dnd_until: Option<i64>,
}

impl From<AccountRow> for AccountRecord {
    fn from(r: AccountRow) -> Self {
        AccountRecord {
            user: r.user.into(),
            password_hash: r.password_hash,
            email: r.email,
            email_verified_at: r.email_verified_at.map(Timestamp::from_millis),
            admin: r.admin,
            missed_message_mail: r.missed_message_mail,
            dnd_until: r.dnd_until.map(Timestamp::from_millis),
        }
    }
}

/// A user found by their username or confirmed address, with that address.
#[derive(sqlx::FromRow)]
pub(crate) struct LoginByRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub email: Option<String>,
}

/// A live session.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id: SessionId,
    pub device_name: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub last_place: Option<String>,
}

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        SessionRecord {
            id: r.id,
            device_name: r.device_name,
            created_at: Timestamp::from_millis(r.created_at),
            last_used_at: Timestamp::from_millis(r.last_used_at),
            last_place: r.last_place,
        }
    }
}

/// A refresh token with what its rotation decides on.
#[derive(sqlx::FromRow)]
pub(crate) struct RefreshRow {
    pub session_id: SessionId,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// The token this one was exchanged for, and whether that one was ever presented.
    pub replaced_by: Option<Vec<u8>>,
    pub successor_used: bool,
    pub revoked_at: Option<i64>,
    pub user_id: UserId,
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub sender_id: UserId,
    pub body: String,
    pub created_at: i64,
    pub reply_to: Option<MessageId>,
    pub change_kind: Option<String>,
    pub target: Option<MessageId>,
    pub emoji: Option<String>,
    pub edited_at: Option<i64>,
    pub edit_seq: Option<i64>,
    pub deleted_at: Option<i64>,
    /// The attachments' descriptions, as JSON.
    pub attachments: Option<String>,
    pub removed_by_operator: bool,
    /// The entry sealed for an encrypted conversation's group.
    pub sealed: Option<Vec<u8>>,
}

/// The columns of [`MessageRow`] from `messages` (or, with `m`, from `messages m`), as a
/// literal for `concat!`.
macro_rules! message_columns {
    () => {
        "id, conversation_id, seq, sender_id, body, created_at, reply_to, change_kind, \
         target, emoji, edited_at, edit_seq, deleted_at, attachments, removed_by_operator, \
         sealed"
    };
    (m) => {
        "m.id, m.conversation_id, m.seq, m.sender_id, m.body, m.created_at, m.reply_to, \
         m.change_kind, m.target, m.emoji, m.edited_at, m.edit_seq, m.deleted_at, \
         m.attachments, m.removed_by_operator, m.sealed"
    };
}

impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        // The schema's CHECK admits only the four kinds, and a change always has a target.
        let change = match (
            r.change_kind.as_deref().and_then(ChangeKind::parse),
            r.target,
        ) {
            (Some(kind), Some(target)) => Some(Change {
                kind,
                target,
                emoji: r.emoji,
            }),
            _ => None,
        };
        Message {
            id: r.id,
            conversation_id: r.conversation_id,
            seq: r.seq,
            sender_id: r.sender_id,
            body: r.body,
            created_at: Timestamp::from_millis(r.created_at),
            reply_to: r.reply_to,
            change,
            edited_at: r.edited_at.map(Timestamp::from_millis),
            edit_seq: r.edit_seq,
            deleted_at: r.deleted_at.map(Timestamp::from_millis),
            // Written by this server from `Attachment`s; an unreadable value (a hand-edited
            // row) shows as no attachments rather than failing the page.
            attachments: r
                .attachments
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default(),
            removed_by_operator: r.removed_by_operator,
            sealed: r.sealed.map(ferry_proto::mls::MlsBytes),
        }
    }
}

/// What a change or a reply checks about the message it names.
#[derive(sqlx::FromRow)]
pub(crate) struct TargetRow {
    pub sender_id: UserId,
    pub change_kind: Option<String>,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
}

/// A `(user, contact, last_seen_at)` row.
pub(crate) type ContactRow = (UserId, UserId, Option<i64>);

impl From<ContactRow> for Contact {
    fn from((user, contact, last_seen): ContactRow) -> Self {
        Contact {
            user,
            contact,
            last_seen: last_seen.map(Timestamp::from_millis),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ConversationRow {
    pub id: ConversationId,
    pub kind: String,
    pub title: Option<String>,
    pub last_seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub change_version: i64,
    /// Changes (not messages) after the viewer's `read_seq`: unread counts only messages.
    pub unread_changes: i64,
    /// The lowest seq still held (retention deleted what was below).
    pub history_from: i64,
    /// The end-to-end encryption group's epoch (0: not encrypted).
    pub mls_epoch: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub user_created_at: i64,
    pub user_suspended_at: Option<i64>,
    pub user_deleted_at: Option<i64>,
    pub user_picture: Option<PictureId>,
    pub role: String,
    pub read_seq: i64,
    pub delivered_seq: i64,
    pub joined_at: i64,
    pub state: String,
    /// The member's notification level: shown to them alone, as their conversation's
    /// `notifications`.
    pub notify: String,
}

/// The columns of [`ConversationRow`] from `conversations c` joined with the viewer's
/// `members me` row, as a literal for `concat!`.
macro_rules! conversation_columns {
    () => {
        "c.id, c.kind, c.title, c.last_seq, c.created_at, c.updated_at, \
         CASE WHEN me.own_version > c.change_version THEN me.own_version \
         ELSE c.change_version END AS change_version, \
         (SELECT count(*) FROM messages x WHERE x.conversation_id = c.id \
          AND x.change_kind IS NOT NULL AND x.seq > me.read_seq) AS unread_changes, \
         c.history_from, c.mls_epoch"
    };
}

/// The columns of [`MemberRow`] from `members m JOIN users u`, as a literal for `concat!`.
macro_rules! member_columns {
    () => {
        "m.conversation_id, m.user_id, u.username, u.display_name, \
         u.created_at AS user_created_at, u.suspended_at AS user_suspended_at, \
         u.deleted_at AS user_deleted_at, u.picture AS user_picture, m.role, m.read_seq, m.delivered_seq, m.joined_at, \
         m.state, m.notify"
    };
}

/// Shows 0 for the watermarks of every member of `conversation` who has not accepted it,
/// but `viewer`'s own: a view that goes to several members (see
/// `chat::announce_conversation`) passes `None`.
pub fn hide_receipts(conversation: &mut Conversation, viewer: Option<UserId>) {
    if viewer.is_none() {
        // The level is the viewer's own choice, not the others' to see.
        conversation.notifications = None;
    }
    for m in &mut conversation.members {
        if m.state != MemberState::Accepted && Some(m.user.id) != viewer {
            m.read_seq = 0;
            m.delivered_seq = 0;
        }
    }
}

/// The member state stored as `text`.
pub(crate) fn member_state(text: &str) -> Result<MemberState, StoreError> {
    MemberState::parse(text).ok_or_else(|| StoreError::Corrupt(format!("member state {text:?}")))
}

/// The notification level stored as `text`.
pub(crate) fn notify_level(text: &str) -> Result<NotifyLevel, StoreError> {
    NotifyLevel::parse(text).ok_or_else(|| StoreError::Corrupt(format!("notify level {text:?}")))
}

/// The role stored as `text`.
pub(crate) fn role(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| StoreError::Corrupt(format!("role {text:?}")))
}

/// The conversation kind stored as `text`.
pub(crate) fn kind(text: &str) -> Result<ConversationKind, StoreError> {
    ConversationKind::parse(text).ok_or_else(|| StoreError::Corrupt(format!("kind {text:?}")))
}

/// Builds the conversations `viewer` sees from their rows, keeping the order of `convs`.
/// Conversations the viewer is not a member of are left out. The watermarks of members
/// `apart` from the viewer (a block between them, either way) show as 0.
pub(crate) fn assemble(
    viewer: UserId,
    convs: Vec<ConversationRow>,
    members: Vec<MemberRow>,
    last_messages: Vec<MessageRow>,
    apart: &HashSet<UserId>,
) -> Result<Vec<Conversation>, StoreError> {
    let mut members_of: HashMap<ConversationId, Vec<Member>> = HashMap::new();
    let mut read_of_viewer: HashMap<ConversationId, (i64, NotifyLevel)> = HashMap::new();
    for m in members {
        if m.user_id == viewer {
            read_of_viewer.insert(m.conversation_id, (m.read_seq, notify_level(&m.notify)?));
        }
        let state = member_state(&m.state)?;
        // A member who has not accepted shares no receipts: to everyone else their
        // watermarks show as 0 (see `hide_receipts`).
        let shared = |seq: i64| {
            if m.user_id == viewer
                || (state == MemberState::Accepted && !apart.contains(&m.user_id))
            {
                seq
            } else {
                0
            }
        };
        members_of
            .entry(m.conversation_id)
            .or_default()
            .push(Member {
                user: User {
                    id: m.user_id,
                    username: m.username,
                    display_name: m.display_name,
                    created_at: Timestamp::from_millis(m.user_created_at),
                    status: user_status(m.user_suspended_at, m.user_deleted_at),
                    picture: m.user_picture,
                },
                role: role(&m.role)?,
                read_seq: shared(m.read_seq),
                delivered_seq: shared(m.delivered_seq),
                state,
                joined_at: Timestamp::from_millis(m.joined_at),
            });
    }
    let mut last_of: HashMap<ConversationId, Message> = last_messages
        .into_iter()
        .map(|m| (m.conversation_id, Message::from(m)))
        .collect();
    let mut out = Vec::with_capacity(convs.len());
    for c in convs {
        let Some((read_seq, level)) = read_of_viewer.get(&c.id).copied() else {
            continue;
        };
        out.push(Conversation {
            id: c.id,
            kind: kind(&c.kind)?,
            title: c.title,
            members: members_of.remove(&c.id).unwrap_or_default(),
            last_seq: c.last_seq,
            last_message: last_of.remove(&c.id),
            // What retention deleted is not waiting to be read.
            unread_count: (c.last_seq - read_seq.max(c.history_from - 1) - c.unread_changes).max(0),
            history_from: (c.history_from > 1).then_some(c.history_from),
            notifications: Some(level),
            mls_epoch: c.mls_epoch,
            created_at: Timestamp::from_millis(c.created_at),
            updated_at: Timestamp::from_millis(c.updated_at),
        });
    }
    Ok(out)
}

/// Position in the conversation list (newest activity first): `updated_at` then id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActivityCursor {
    /// `updated_at` in milliseconds.
    pub updated_at: i64,
    /// Tie-breaker.
    pub id: ConversationId,
}

/// Position in the change stream of `/sync`: the change version, then the id, and during
/// a paged pass the lowest horizon seen so far.
///
/// A pass pages forward by position, so it always ends. Its last cursor restarts at the
/// pass's floor: the lowest horizon (a version below which every change is committed and
/// visible) of any of its pages. A change that committed late, below some page's position
/// but not below the floor, is found by the next pass; below the floor nothing is left to
/// find. Changes at or above the floor may come again (`/sync` is at-least-once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncCursor {
    /// A store-specific version (see each store).
    pub version: i64,
    /// Tie-breaker among conversations of one version.
    pub id: ConversationId,
    /// The pass's floor so far; `None` when a new pass starts at this position.
    pub floor: Option<i64>,
}

impl SyncCursor {
    /// Where a first sync starts: before everything.
    pub const START: Self = Self {
        version: i64::MIN,
        id: ConversationId(Uuid::nil()),
        floor: None,
    };

    /// The cursor after a page. `horizon`: every change below it is committed and was
    /// visible to this page; `last`: the page's last row when more rows follow.
    pub fn after_page(
        since: Option<Self>,
        horizon: i64,
        last: Option<(i64, ConversationId)>,
    ) -> Self {
        let floor = since
            .and_then(|c| c.floor)
            .map_or(horizon, |f| f.min(horizon));
        match last {
            Some((version, id)) => Self {
                version,
                id,
                floor: Some(floor),
            },
            None => Self {
                version: floor,
                id: ConversationId(Uuid::nil()),
                floor: None,
            },
        }
    }
}

/// A cursor string that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("malformed cursor")]
pub struct BadCursor;

fn parse_pair(s: &str) -> Result<(i64, ConversationId), BadCursor> {
    let (n, id) = s.split_once('.').ok_or(BadCursor)?;
    Ok((
        n.parse().map_err(|_| BadCursor)?,
        id.parse().map_err(|_| BadCursor)?,
    ))
}

impl fmt::Display for ActivityCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.updated_at, self.id)
    }
}

impl FromStr for ActivityCursor {
    type Err = BadCursor;
    fn from_str(s: &str) -> Result<Self, BadCursor> {
        parse_pair(s).map(|(updated_at, id)| Self { updated_at, id })
    }
}

impl fmt::Display for SyncCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.version, self.id)?;
        match self.floor {
            Some(floor) => write!(f, ".{floor}"),
            None => Ok(()),
        }
    }
}

impl FromStr for SyncCursor {
    type Err = BadCursor;
    fn from_str(s: &str) -> Result<Self, BadCursor> {
        let (pair, floor) = match s.rsplit_once('.') {
            // A UUID has no dots, so a third part is the floor.
            Some((pair, floor)) if pair.contains('.') => {
                (pair, Some(floor.parse().map_err(|_| BadCursor)?))
            }
            _ => (s, None),
        };
        parse_pair(pair).map(|(version, id)| Self { version, id, floor })
    }
}

impl ActivityCursor {
    /// The cursor that continues after `c`.
    pub fn after(c: &Conversation) -> Self {
        Self {
            updated_at: c.updated_at.as_millis(),
            id: c.id,
        }
    }
}

/// An upload: a file declared, its bytes arriving or stored, and the message (if any)
/// that carries it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct UploadRow {
    /// Also the attachment's id.
    pub id: UploadId,
    /// Who uploads it.
    pub owner_id: UserId,
    /// The file's name.
    pub name: String,
    /// Bytes declared.
    pub size: i64,
    /// Declared (normalized), then as checked against the bytes.
    pub content_type: String,
    /// Declared, then checked.
    pub sha256: String,
    /// Bytes the server holds.
    pub received: i64,
    /// `open` (bytes arriving) or `stored` (checked and in the blob store).
    pub state: String,
    /// Pixels, for images.
    pub width: Option<i64>,
    /// Pixels, for images.
    pub height: Option<i64>,
    /// 1 when a preview is stored.
    pub preview: i64,
    /// The conversation of the message that carries it.
    pub conversation_id: Option<ConversationId>,
    /// The message that carries it.
    pub message_id: Option<MessageId>,
    /// When it was declared (Unix ms).
    pub created_at: i64,
}

/// The columns of [`UploadRow`], as a literal for `concat!`.
macro_rules! upload_columns {
    () => {
        "id, owner_id, name, size, content_type, sha256, received, state, width, height, \
         preview, conversation_id, message_id, created_at"
    };
}

impl UploadRow {
    /// Whether every byte arrived and was checked.
    pub fn is_stored(&self) -> bool {
        self.state == "stored"
    }

    /// The attachment it is, once stored.
    pub fn attachment(&self) -> Option<ferry_proto::Attachment> {
        self.is_stored().then(|| ferry_proto::Attachment {
            id: self.id,
            name: self.name.clone(),
            size: self.size as u64,
            content_type: self.content_type.clone(),
            sha256: self.sha256.clone(),
            width: self.width.map(|w| w as u32),
            height: self.height.map(|h| h as u32),
            thumbnail: self.preview != 0,
        })
    }
}
