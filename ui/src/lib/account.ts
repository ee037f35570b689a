/**
 * What the server accepts for the account's own fields (docs/protocol.md, "Accounts"),
 * checked before asking it, so that the account dialog and the password reset say what
 * is wrong at once and keep the form as typed: a display name of 1 to 64 characters
 * after trimming, a new password of 8 to 1,024 characters, typed the same twice.
 * Characters are counted as the server counts them (code points, not UTF-16 units, so
 * an emoji is one).
 */
import { m } from "./paraglide/messages.js";

export const DISPLAY_NAME_MAX_CHARS = 64;
export const PASSWORD_MIN_CHARS = 8;
export const PASSWORD_MAX_CHARS = 1024;

function chars(text: string): number {
  return [...text].length;
}

/** Why `name` cannot be a display name (judged trimmed, as the server does), or null. */
export function displayNameProblem(name: string): string | null {
  const trimmed = name.trim();
  if (trimmed === "") return m.name_empty();
  if (chars(trimmed) > DISPLAY_NAME_MAX_CHARS) return m.name_too_long({ count: DISPLAY_NAME_MAX_CHARS });
  return null;
}

/** Why `password`, typed again as `again`, cannot be the new password, or null. */
export function newPasswordProblem(password: string, again: string): string | null {
  const length = chars(password);
  if (length < PASSWORD_MIN_CHARS) return m.password_too_short({ count: PASSWORD_MIN_CHARS });
  if (length > PASSWORD_MAX_CHARS) return m.password_too_long({ count: PASSWORD_MAX_CHARS });
  if (password !== again) return m.password_mismatch();
  return null;
}
