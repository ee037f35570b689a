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
/// Longest group title, in characters.
pub const TITLE_MAX_CHARS: usize = 200;

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
    TooLong,
}

/// Checks a message body: not blank after trimming, at most `max_chars` characters.
pub fn validate_body(body: &str, max_chars: usize) -> Result<(), BodyError> {
    if body.trim().is_empty() {
        Err(BodyError::Blank)
    } else if body.chars().count() > max_chars {
        Err(BodyError::TooLong)
    } else {
        Ok(())
    }
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
        assert_eq!(validate_body("héllo!", 5), Err(BodyError::TooLong));
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
