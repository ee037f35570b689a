/** What an avatar shows: up to two initials, on a colour that stays the same per id. */

/** "Ada Lovelace" → "AL", "grace" → "G", "" → "?". */
export function initials(name: string): string {
  const words = name
    .trim()
    .split(/[\s._-]+/)
    .filter((w) => w.length > 0);
  const first = words[0];
  if (!first) return "?";
  const letter = (word: string) => (Array.from(word)[0] ?? "").toLocaleUpperCase();
  const last = words.length > 1 ? words[words.length - 1] : undefined;
  return last ? letter(first) + letter(last) : letter(first);
}

/** A hue (0–359) derived from `id`, so a person keeps their colour everywhere. */
export function avatarHue(id: string): number {
  // FNV-1a, then a final mix, so that ids differing in one character land far apart.
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  }
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return ((hash ^ (hash >>> 16)) >>> 0) % 360;
}
