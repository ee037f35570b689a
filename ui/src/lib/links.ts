/**
 * Finds web links in message text. The text is split into plain parts and link parts;
 * the UI renders both as text nodes (a link inside an anchor), never as HTML. Only
 * http(s) links with a host become links: `javascript:`, `file:`, `data:` and the app's
 * own schemes stay text.
 */

export type TextPart = { kind: "text"; text: string } | { kind: "link"; text: string; href: string };

/**
 * A link ends at white space, angle brackets and quotes, and at the invisible format
 * characters: a bidirectional override inside one would make its text read as another
 * address (`https://evil.example/\u202Emoc.knab` shows ending in "bank.com").
 */
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]+/gi;

/** Punctuation that usually ends the sentence around a link rather than the link. */
const TRAILING = new Set([".", ",", ";", ":", "!", "?", "'", '"', "*", "_"]);

function count(text: string, ch: string): number {
  let n = 0;
  for (const c of text) if (c === ch) n++;
  return n;
}

/** Drops trailing punctuation, and a closing bracket the link did not open. */
function trimLink(candidate: string): string {
  let link = candidate;
  for (;;) {
    const last = link.at(-1);
    if (last === undefined) return link;
    if (TRAILING.has(last)) {
      link = link.slice(0, -1);
    } else if (last === ")" && count(link, ")") > count(link, "(")) {
      link = link.slice(0, -1);
    } else if (last === "]" && count(link, "]") > count(link, "[")) {
      link = link.slice(0, -1);
    } else {
      return link;
    }
  }
}

function webHref(link: string): string | null {
  try {
    const url = new URL(link);
    if ((url.protocol === "http:" || url.protocol === "https:") && url.hostname) return url.href;
  } catch {
    // Not a URL after all: it stays text.
  }
  return null;
}

export function splitLinks(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let plain = "";
  let at = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const start = match.index ?? 0;
    const link = trimLink(match[0]);
    const href = webHref(link);
    plain += text.slice(at, start);
    if (href) {
      if (plain) parts.push({ kind: "text", text: plain });
      parts.push({ kind: "link", text: link, href });
      plain = "";
    } else {
      plain += link;
    }
    at = start + link.length;
  }
  plain += text.slice(at);
  if (plain) parts.push({ kind: "text", text: plain });
  return parts;
}
