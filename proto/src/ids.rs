//! Typed identities: [`UserId`], [`ConversationId`], [`MessageId`], [`UploadId`],
//! [`SessionId`], [`DeviceId`], [`ReportId`], [`WelcomeId`] and [`NoteId`]. Each is a UUID that says what it names, so a function
//! taking a conversation and a user cannot be handed them swapped, and a pair like
//! `(ConversationId, UserId)` needs no comment to say which is which. On the wire and in
//! both databases they are the plain UUIDs they wrap: serde sees through them
//! (`transparent`), and so do sqlx (the `sqlx` feature, the server's) and rusqlite (the
//! `rusqlite` feature, the client's hyphenated text), so adopting one changes no byte.
//! The API document and the UI's bindings name them (`UserId`, a string in UUID form).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub struct $name(#[cfg_attr(feature = "ts", ts(type = "string"))] pub Uuid);

        impl $name {
            /// A new id, time-ordered (UUIDv7), as every id Ferry makes.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The id made of `n`'s bits (as `Uuid::from_u128`), for fixed ids in tests
            /// and tools.
            pub const fn from_u128(n: u128) -> Self {
                Self(Uuid::from_u128(n))
            }

            /// The UUID it wraps.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Whether it is the nil UUID, which no id Ferry makes is.
            pub fn is_nil(&self) -> bool {
                self.0.is_nil()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::from_str(s).map(Self)
            }
        }

        #[cfg(feature = "rusqlite")]
        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.0.to_string().into())
            }
        }

        #[cfg(feature = "rusqlite")]
        impl rusqlite::types::FromSql for $name {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                text.parse()
                    .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }
    )*};
}

ids! {
    /// A user (an account).
    UserId;
    /// A conversation, direct or group.
    ConversationId;
    /// A message or a change (an edit, deletion or reaction): the client chooses it, and
    /// it is the idempotency key all the way to the server's table.
    MessageId;
    /// A file being uploaded, and then the attachment it becomes.
    UploadId;
    /// A signed-in session (one refresh-token family).
    SessionId;
    /// A device of a user.
    DeviceId;
    /// A report someone made to the operators.
    ReportId;
    /// An MLS welcome waiting for the device it adds to a group (addition to v1).
    WelcomeId;
    /// A note one device of a user left for another (addition to v1).
    NoteId;
    /// A profile picture: a new one each time a person sets theirs, so a picture's bytes
    /// never change under its id.
    PictureId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_uuid_on_the_wire() {
        let uuid = Uuid::now_v7();
        let id = ConversationId(uuid);
        assert_eq!(
            serde_json::to_string(&id).expect("encode"),
            serde_json::to_string(&uuid).expect("encode")
        );
        let back: ConversationId = serde_json::from_str(&format!("\"{uuid}\"")).expect("decode");
        assert_eq!(back, id);
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(
            uuid.to_string().parse::<ConversationId>().expect("parse"),
            id
        );
        assert!("not a uuid".parse::<UserId>().is_err());
    }

    /// The client core's columns hold hyphenated text: a typed id writes and reads it.
    #[cfg(feature = "rusqlite")]
    #[test]
    fn an_id_is_its_hyphenated_text_in_sqlite() {
        let db = rusqlite::Connection::open_in_memory().expect("open");
        db.execute("CREATE TABLE t (id TEXT)", []).expect("table");
        let id = MessageId::new();
        db.execute("INSERT INTO t (id) VALUES (?1)", [id])
            .expect("insert");
        let text: String = db
            .query_row("SELECT id FROM t", [], |r| r.get(0))
            .expect("as text");
        assert_eq!(text, id.as_uuid().to_string());
        let back: MessageId = db
            .query_row("SELECT id FROM t", [], |r| r.get(0))
            .expect("as an id");
        assert_eq!(back, id);
        db.execute("UPDATE t SET id = 'garbage'", [])
            .expect("update");
        assert!(
            db.query_row("SELECT id FROM t", [], |r| r.get::<_, MessageId>(0))
                .is_err()
        );
    }
}
