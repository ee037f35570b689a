//! Limits and the validation both sides apply before anything is stored or sent.

/// Longest message body, in characters (the server may be configured lower or higher).
pub const MAX_BODY_CHARS: usize = 10_000;
/// Largest WebSocket frame; a larger one closes the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Page size when a request names none.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
/// Largest page a request may ask for.
pub const MAX_PAGE_LIMIT: u32 = 500;
/// Most latest messages per conversation that `/sync?messages=` returns: with a full page
/// of 500 conversations that is at most 50,000 messages in one answer.
pub const MAX_SYNC_MESSAGES: u32 = 100;
/// Most bytes of message bodies that the latest messages of one `/sync` page carry (the
/// server may be configured otherwise): past it a page brings fewer than asked, and the
/// client fetches the rest as history, as it does for anything beyond `messages=N`.
/// Without it one page could hold 50,000 bodies of 10,000 characters: about 2 GB.
pub const SYNC_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Longest long-poll of `/sync?wait=`, in seconds: under the REST request timeout.
pub const MAX_SYNC_WAIT_SECS: u32 = 10;
/// Longest group title, in characters.
pub const TITLE_MAX_CHARS: usize = 200;

/// Longest reason of a report (addition to v1), in characters.
pub const REPORT_REASON_MAX_CHARS: usize = 1000;
/// The most copies a report carries: the reported message and five either side, what
/// the operators' view shows around it.
pub const REPORT_MAX_COPIES: usize = 11;
/// The shortest user search, in characters after trimming: an empty or one-letter
/// search would list the directory.
pub const USER_SEARCH_MIN_CHARS: usize = 2;
/// The most users one search returns (a people picker, not a directory).
pub const USER_SEARCH_MAX_LIMIT: u32 = 20;

/// Most distinct emoji on one message: past it a new emoji is refused (adding one that is
/// already there still works).
pub const MAX_REACTIONS_PER_MESSAGE: usize = 20;
/// Most distinct emoji one user puts on one message.
pub const MAX_REACTIONS_PER_USER: usize = 10;
/// Longest reaction, in characters: one emoji, even a family with skin tones joined by
/// zero-width joiners, fits.
pub const MAX_EMOJI_CHARS: usize = 16;

/// Most files on one message.
pub const MAX_ATTACHMENTS: usize = 10;
/// The largest file a server takes unless configured otherwise: 100 MB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// The most bytes one `PATCH /uploads/{id}` carries: a dropped connection costs at most
/// this much again, and the server holds at most this much of a request in memory.
pub const UPLOAD_CHUNK_BYTES: u64 = 4 * 1024 * 1024;
/// Longest file name, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// The most pixels of an image the server decodes (for its preview): more is refused as
/// `image_too_large`, so a small file that inflates to gigabytes (a decompression bomb)
/// never is. 50 megapixels is more than any phone camera takes.
pub const MAX_IMAGE_PIXELS: u64 = 50_000_000;
/// A preview's longest side, in pixels.
pub const PREVIEW_MAX_SIDE: u32 = 320;
/// A profile picture's side in pixels: the server makes every picture this square.
pub const PICTURE_SIDE: u32 = 256;

/// Why a declared upload was refused before any byte was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadError {
    /// Zero bytes: there is nothing to send.
    Empty,
    /// More bytes than the limit.
    TooLarge,
    /// A name that is empty, too long, or holds a path separator, a control character or
    /// a bidirectional override.
    Name,
    /// A media type that is not `type/subtype`.
    ContentType,
    /// A SHA-256 that is not 64 lowercase hex digits.
    Sha256,
}

/// Checks what an upload declares, against the largest file `max_bytes`.
pub fn validate_upload(upload: &crate::NewUpload, max_bytes: u64) -> Result<(), UploadError> {
    let name_len = upload.name.chars().count();
    let mime = upload.content_type.split_once('/');
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    if upload.size == 0 {
        Err(UploadError::Empty)
    } else if upload.size > max_bytes {
        Err(UploadError::TooLarge)
    } else if !(1..=MAX_FILE_NAME_CHARS).contains(&name_len)
        || upload.name.trim().is_empty()
        || upload.name.contains(['/', '\\'])
        || matches!(upload.name.as_str(), "." | "..")
        || has_control(&upload.name)
        || upload.name.chars().any(is_bidi_control)
    {
        Err(UploadError::Name)
    } else if upload.content_type.len() > 127 || !mime.is_some_and(|(t, s)| token(t) && token(s)) {
        Err(UploadError::ContentType)
    } else if upload.sha256.len() != 64
        || !upload
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Err(UploadError::Sha256)
    } else {
        Ok(())
    }
}

const PASSWORD_MIN_CHARS: usize = 8;
const PASSWORD_MAX_CHARS: usize = 1024;
const USERNAME_MIN_CHARS: usize = 3;
const USERNAME_MAX_CHARS: usize = 32;

/// Why a message body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Empty after trimming white space.
    Blank,
    /// Longer than the limit.
    TooLong {
        /// The limit, in characters.
        max_chars: usize,
    },
    /// Holds a control character other than tab, line feed or carriage return.
    Control,
}

/// Checks a message body: not blank after trimming, at most `max_chars` characters, and
/// no control characters but tab and line breaks. NUL cannot be stored in Postgres text
/// at all, and the others (escape sequences above all) would act on a terminal that
/// prints the message instead of showing as text; every backend refuses them alike.
pub fn validate_body(body: &str, max_chars: usize) -> Result<(), BodyError> {
    if body.trim().is_empty() {
        Err(BodyError::Blank)
    } else if body.chars().count() > max_chars {
        Err(BodyError::TooLong { max_chars })
    } else if body
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Err(BodyError::Control)
    } else {
        Ok(())
    }
}

/// Why a change to a message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeError {
    /// An edit's new text is not a valid body.
    Body(BodyError),
    /// A deletion or a reaction carries text.
    BodyNotEmpty,
    /// A reaction without a valid emoji: 1 to 16 characters, no white space or control
    /// character.
    Emoji,
    /// An edit or a deletion carries an emoji.
    EmojiNotAllowed,
}

/// Checks a change's own fields (its target and the rules about it are the server's):
/// an edit carries a valid body, a reaction one emoji, and neither anything else.
pub fn validate_change(
    change: &crate::Change,
    body: &str,
    max_chars: usize,
) -> Result<(), ChangeError> {
    use crate::ChangeKind;
    match change.kind {
        ChangeKind::Edit | ChangeKind::Delete if change.emoji.is_some() => {
            Err(ChangeError::EmojiNotAllowed)
        }
        ChangeKind::Edit => validate_body(body, max_chars).map_err(ChangeError::Body),
        _ if !body.is_empty() => Err(ChangeError::BodyNotEmpty),
        ChangeKind::Delete => Ok(()),
        ChangeKind::React | ChangeKind::Unreact => match change.emoji.as_deref() {
            Some(e) if valid_emoji(e) => Ok(()),
            _ => Err(ChangeError::Emoji),
        },
    }
}

fn valid_emoji(emoji: &str) -> bool {
    let len = emoji.chars().count();
    (1..=MAX_EMOJI_CHARS).contains(&len)
        && !emoji.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether a one-line name (a display name, a group title, a search query) holds a
/// control character (Unicode's Cc: U+0000–U+001F and U+007F–U+009F, tab and line
/// breaks included): such names are refused, for the reasons of [`validate_body`].
pub fn has_control(name: &str) -> bool {
    name.chars().any(char::is_control)
}

/// The characters that reorder the text around them (embeddings, overrides, isolates):
/// `invoice\u{202E}gnp.exe` shows as `invoiceexe.png`. No file name needs them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A file name as a sender should declare it: without control characters and
/// bidirectional overrides (which [`validate_upload`] refuses).
pub fn clean_file_name(name: &str) -> String {
    name.chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .collect()
}

/// Why a username was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsernameError {
    /// Not 3 to 32 characters.
    Length,
    /// A character outside `a-z 0-9 _ . -`.
    Characters,
}

/// Lowercases a username and checks it: 3-32 characters of `a-z 0-9 _ . -`.
pub fn normalize_username(name: &str) -> Result<String, UsernameError> {
    let lower = name.to_ascii_lowercase();
    let len = lower.chars().count();
    if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&len) {
        return Err(UsernameError::Length);
    }
    if !lower
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
    {
        return Err(UsernameError::Characters);
    }
    Ok(lower)
}

/// Why a password was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordError;

/// Checks a password's length: 8 to 1024 characters.
pub fn validate_password(password: &str) -> Result<(), PasswordError> {
    let len = password.chars().count();
    if (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&len) {
        Ok(())
    } else {
        Err(PasswordError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(validate_body("  \n\t ", 10), Err(BodyError::Blank));
        assert_eq!(validate_body("héllo", 5), Ok(()));
        assert_eq!(
            validate_body("héllo!", 5),
            Err(BodyError::TooLong { max_chars: 5 })
        );
    }

    #[test]
    fn bodies_keep_tabs_and_line_breaks_but_no_other_control_character() {
        assert_eq!(validate_body("a\tb\r\nc\n", 100), Ok(()));
        for bad in [
            "nul\0",
            "esc\u{1b}[2J",
            "bell\u{7}",
            "del\u{7f}",
            "csi\u{9b}",
            "nel\u{85}",
        ] {
            assert_eq!(validate_body(bad, 100), Err(BodyError::Control), "{bad:?}");
        }
        assert_eq!(validate_body("🚢 ünïcödé text", 100), Ok(()));
    }

    #[test]
    fn names_hold_no_control_character_at_all() {
        assert!(!has_control("Ada Lovelace 🚢"));
        for bad in ["tab\there", "line\nbreak", "nul\0", "\u{85}"] {
            assert!(has_control(bad), "{bad:?}");
        }
    }

    #[test]
    fn changes_carry_only_what_their_kind_needs() {
        use crate::{Change, ChangeKind};
        let change = |kind, emoji: Option<&str>| Change {
            kind,
            target: crate::MessageId::default(),
            emoji: emoji.map(str::to_owned),
        };
        let edit = change(ChangeKind::Edit, None);
        assert_eq!(validate_change(&edit, "new text", 100), Ok(()));
        assert_eq!(
            validate_change(&edit, " ", 100),
            Err(ChangeError::Body(BodyError::Blank))
        );
        assert_eq!(
            validate_change(&edit, "toolong", 3),
            Err(ChangeError::Body(BodyError::TooLong { max_chars: 3 }))
        );
        assert_eq!(
            validate_change(&change(ChangeKind::Edit, Some("👍")), "x", 100),
            Err(ChangeError::EmojiNotAllowed)
        );
        let delete = change(ChangeKind::Delete, None);
        assert_eq!(validate_change(&delete, "", 100), Ok(()));
        assert_eq!(
            validate_change(&delete, "why", 100),
            Err(ChangeError::BodyNotEmpty)
        );
        for good in ["👍", "👨‍👩‍👧‍👦", "🏳️‍🌈", "+1"] {
            let react = change(ChangeKind::React, Some(good));
            assert_eq!(validate_change(&react, "", 100), Ok(()), "{good:?}");
        }
        for bad in [
            None,
            Some(""),
            Some("a b"),
            Some("\u{1b}"),
            Some("x".repeat(17).leak() as &str),
        ] {
            let react = change(ChangeKind::Unreact, bad);
            assert_eq!(
                validate_change(&react, "", 100),
                Err(ChangeError::Emoji),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(normalize_username("Alice_1.x-y"), Ok("alice_1.x-y".into()));
        assert_eq!(normalize_username("ab"), Err(UsernameError::Length));
        assert_eq!(
            normalize_username(&"a".repeat(33)),
            Err(UsernameError::Length)
        );
        assert_eq!(normalize_username("al ice"), Err(UsernameError::Characters));
        assert_eq!(
            normalize_username("bob'; --"),
            Err(UsernameError::Characters)
        );
        assert_eq!(normalize_username("ålice"), Err(UsernameError::Characters));
    }

    #[test]
    fn passwords() {
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"x".repeat(1025)).is_err());
    }
}
