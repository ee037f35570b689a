//! What a send may be. An [`OutgoingMessage`] has room for a change, a reply and files
//! at once; [`OutgoingMessage::check`] turns it into the one shape it may take
//! ([`Sending`]), or says why not ([`SendError`]). The server refuses with these words
//! and the client core checks with them before anything is queued, so both say the same
//! thing, and neither writes its own.

use std::collections::HashSet;
use std::fmt;

use crate::limits::{BodyError, ChangeError, validate_body, validate_change};
use crate::{
    Change, ErrorCode, MAX_ATTACHMENTS, MAX_EMOJI_CHARS, MessageId, OutgoingMessage, UploadId,
};

/// The one shape a checked send has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sending<'a> {
    /// A message: its text (empty only as the caption of files), maybe a reply, maybe
    /// files.
    Message {
        /// The text.
        body: &'a str,
        /// The message it replies to.
        reply_to: Option<MessageId>,
        /// The uploads it carries, in order, each once.
        attachments: &'a [UploadId],
    },
    /// A change to an earlier message: an edit with its new text, a deletion, a reaction.
    Change(&'a Change),
}

/// Why a send was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The id is the nil UUID.
    NilId,
    /// The text of a message is not a valid body.
    Body(BodyError),
    /// A change's own fields are not valid.
    Change(ChangeError),
    /// A change that is also a reply.
    ChangeWithReply,
    /// A change that carries files.
    ChangeWithFiles,
    /// More than [`MAX_ATTACHMENTS`] files.
    TooManyFiles,
    /// The same upload attached twice.
    FileTwice,
    /// A sealed message that also carries text or an emoji in the open.
    SealedInTheOpen,
    /// A sealed message with no bytes.
    SealedEmpty,
}

impl SendError {
    /// The protocol's code for this refusal: too long is `too_large`, the rest invalid.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Body(BodyError::TooLong { .. })
            | Self::Change(ChangeError::Body(BodyError::TooLong { .. })) => ErrorCode::TooLarge,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NilId => f.write_str("message id must be a UUID (v7), not nil"),
            Self::Body(e) | Self::Change(ChangeError::Body(e)) => e.fmt(f),
            Self::Change(ChangeError::BodyNotEmpty) => {
                f.write_str("only a message or an edit carries a body; this change must not")
            }
            Self::Change(ChangeError::Emoji) => write!(
                f,
                "a reaction needs an emoji: 1 to {MAX_EMOJI_CHARS} characters, no white space"
            ),
            Self::Change(ChangeError::EmojiNotAllowed) => {
                f.write_str("only a reaction carries an emoji")
            }
            Self::ChangeWithReply => f.write_str("a change cannot also be a reply"),
            Self::ChangeWithFiles => f.write_str("a change cannot carry files"),
            Self::TooManyFiles => write!(f, "a message carries at most {MAX_ATTACHMENTS} files"),
            Self::FileTwice => f.write_str("a file is attached twice"),
            Self::SealedInTheOpen => f.write_str(
                "a sealed message carries its text and emoji inside: leave body and emoji empty",
            ),
            Self::SealedEmpty => f.write_str("a sealed message needs its sealed bytes"),
        }
    }
}

impl std::error::Error for SendError {}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blank => f.write_str("message body is empty"),
            Self::TooLong { max_chars } => {
                write!(f, "message body is over {max_chars} characters")
            }
            Self::Control => f.write_str(
                "message body holds a control character (only tab and line breaks are allowed)",
            ),
        }
    }
}

impl OutgoingMessage {
    /// Checks the send against the rules both sides apply (bodies of at most
    /// `max_chars`), and gives its one shape. What only the server can know (whether the
    /// target exists and the sender may change it, whether the files are theirs) it
    /// checks when storing.
    pub fn check(&self, max_chars: usize) -> Result<Sending<'_>, SendError> {
        if self.id.is_nil() {
            return Err(SendError::NilId);
        }
        if let Some(sealed) = &self.sealed {
            return self.check_sealed(sealed);
        }
        let Some(change) = &self.change else {
            // With files the text is an optional caption.
            let files_alone = self.body.is_empty() && !self.attachments.is_empty();
            if !files_alone {
                validate_body(&self.body, max_chars).map_err(SendError::Body)?;
            }
            if self.attachments.len() > MAX_ATTACHMENTS {
                return Err(SendError::TooManyFiles);
            }
            let mut seen = HashSet::new();
            if !self.attachments.iter().all(|id| seen.insert(*id)) {
                return Err(SendError::FileTwice);
            }
            return Ok(Sending::Message {
                body: &self.body,
                reply_to: self.reply_to,
                attachments: &self.attachments,
            });
        };
        validate_change(change, &self.body, max_chars).map_err(SendError::Change)?;
        if self.reply_to.is_some() {
            Err(SendError::ChangeWithReply)
        } else if !self.attachments.is_empty() {
            Err(SendError::ChangeWithFiles)
        } else {
            Ok(Sending::Change(change))
        }
    }

    /// The shape of a sealed send: its text and emoji are inside, so only what stays in
    /// the open (a reply's parent, a change's kind and target, the files) is checked.
    fn check_sealed(&self, sealed: &crate::mls::MlsBytes) -> Result<Sending<'_>, SendError> {
        if sealed.0.is_empty() {
            return Err(SendError::SealedEmpty);
        }
        if !self.body.is_empty() || self.change.as_ref().is_some_and(|c| c.emoji.is_some()) {
            return Err(SendError::SealedInTheOpen);
        }
        if let Some(change) = &self.change {
            return if self.reply_to.is_some() {
                Err(SendError::ChangeWithReply)
            } else if !self.attachments.is_empty() {
                Err(SendError::ChangeWithFiles)
            } else {
                Ok(Sending::Change(change))
            };
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(SendError::TooManyFiles);
        }
        let mut seen = HashSet::new();
        if !self.attachments.iter().all(|id| seen.insert(*id)) {
            return Err(SendError::FileTwice);
        }
        Ok(Sending::Message {
            body: &self.body,
            reply_to: self.reply_to,
            attachments: &self.attachments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChangeKind;

    fn id<T: From<uuid::Uuid>>(n: u128) -> T {
        uuid::Uuid::from_u128(n).into()
    }

    fn reaction(emoji: &str) -> OutgoingMessage {
        OutgoingMessage {
            change: Some(Change {
                kind: ChangeKind::React,
                target: id(9),
                emoji: Some(emoji.into()),
            }),
            ..OutgoingMessage::text(id(1), id(2), "")
        }
    }

    #[test]
    fn a_sealed_send_keeps_its_text_and_emoji_inside() {
        let seal = |m: OutgoingMessage| OutgoingMessage {
            sealed: Some(crate::mls::MlsBytes(vec![1, 2, 3])),
            ..m
        };
        let message = seal(OutgoingMessage::text(id(1), id(2), ""));
        assert!(matches!(
            message.check(10),
            Ok(Sending::Message { body: "", .. })
        ));
        let in_the_open = seal(OutgoingMessage::text(id(1), id(2), "salary"));
        assert_eq!(in_the_open.check(10), Err(SendError::SealedInTheOpen));
        let edit = seal(OutgoingMessage {
            change: Some(Change {
                kind: ChangeKind::Edit,
                target: id(9),
                emoji: None,
            }),
            ..OutgoingMessage::text(id(1), id(2), "")
        });
        assert!(
            matches!(edit.check(10), Ok(Sending::Change(_))),
            "no text to check"
        );
        assert_eq!(
            seal(reaction("👍")).check(10),
            Err(SendError::SealedInTheOpen)
        );
        let empty = OutgoingMessage {
            sealed: Some(crate::mls::MlsBytes(Vec::new())),
            ..OutgoingMessage::text(id(1), id(2), "")
        };
        assert_eq!(empty.check(10), Err(SendError::SealedEmpty));
    }

    #[test]
    fn a_message_takes_the_message_shape() {
        let mut message = OutgoingMessage::text(id(1), id(2), "hi");
        message.reply_to = Some(id(3));
        assert_eq!(
            message.check(100),
            Ok(Sending::Message {
                body: "hi",
                reply_to: Some(id(3)),
                attachments: &[],
            })
        );
    }

    #[test]
    fn files_may_go_without_text_but_text_alone_may_not_be_blank() {
        let mut message = OutgoingMessage::text(id(1), id(2), "");
        assert_eq!(message.check(100), Err(SendError::Body(BodyError::Blank)));
        message.attachments = vec![id(5)];
        assert!(matches!(message.check(100), Ok(Sending::Message { .. })));
        message.attachments = vec![id(5), id(5)];
        assert_eq!(message.check(100), Err(SendError::FileTwice));
        message.attachments = (0..=MAX_ATTACHMENTS as u128).map(id).collect();
        assert_eq!(message.check(100), Err(SendError::TooManyFiles));
    }

    #[test]
    fn a_change_is_only_a_change() {
        let mut change = reaction("👍");
        assert!(matches!(change.check(100), Ok(Sending::Change(_))));
        change.reply_to = Some(id(3));
        assert_eq!(change.check(100), Err(SendError::ChangeWithReply));
        change.reply_to = None;
        change.attachments = vec![id(5)];
        assert_eq!(change.check(100), Err(SendError::ChangeWithFiles));
        assert_eq!(
            reaction("two words").check(100),
            Err(SendError::Change(ChangeError::Emoji))
        );
    }

    #[test]
    fn too_long_is_too_large_and_says_the_limit() {
        let long = OutgoingMessage::text(id(1), id(2), "abcd");
        let refused = long.check(3).expect_err("over the limit");
        assert_eq!(refused.code(), ErrorCode::TooLarge);
        assert_eq!(refused.to_string(), "message body is over 3 characters");
        let nil = OutgoingMessage::text(MessageId::default(), id(2), "hi");
        assert_eq!(
            nil.check(3).map_err(|e| e.code()),
            Err(ErrorCode::InvalidRequest)
        );
    }
}
