/**
 * Mentions as a person writes them in a text box (the composer, an edit in place). The
 * box shows them readable, "@Ada Lovelace"; the message carries `<@id>` (`./mentions`).
 * Typing "@" and the start of a name offers the members it may be (`MentionWriter`:
 * what the popup lists, which one is active, the keys that move and choose); choosing
 * one puts their label in the text and remembers it, and when the text is sent (or
 * saved, as a draft or an edit) each remembered label becomes its token again. A name
 * only typed, never chosen, stays text.
 *
 * A member's label is their display name, or their username where another member has
 * the same display name, so that one label names one person.
 */
import type { MemberView } from "./bindings/MemberView";
import type { PictureId } from "./bindings/PictureId";
import { mentionToken, pieces } from "./mentions";

/** Someone who may be mentioned, as the popup lists them. */
export interface Mentionable {
  userId: string;
  /** What the box shows after "@". */
  label: string;
  displayName: string;
  username: string;
  picture: PictureId | null;
}

/** A mention chosen in the popup (or read from a body): its label in the text, and whom it names. */
export interface Chosen {
  label: string;
  userId: string;
}

/** The "@…" being typed before the cursor: where its "@" is, and what follows it. */
export interface MentionQuery {
  start: number;
  end: number;
  text: string;
}

/** Options the popup lists at most. */
export const MAX_OPTIONS = 8;
/** How far back from the cursor an "@" still starts the mention being typed. */
const MAX_QUERY = 40;

const WORD = /[\p{L}\p{N}_]/u;
const isWord = (char: string | undefined) => char !== undefined && WORD.test(char);

function fold(text: string): string {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLocaleLowerCase();
}

/** Every member with their label (see the module's comment). */
export function mentionables(members: readonly MemberView[]): Mentionable[] {
  const named = new Map<string, number>();
  for (const { user } of members) named.set(user.display_name, (named.get(user.display_name) ?? 0) + 1);
  return members.map(({ user }) => ({
    userId: user.id,
    label: (named.get(user.display_name) ?? 0) > 1 ? user.username : user.display_name,
    displayName: user.display_name,
    username: user.username,
    picture: user.picture ?? null,
  }));
}

/**
 * The members `query` may mean, best first: those whose display name starts with it, then
 * whose username does, then with a later word of the name that does (case and accents
 * aside); never `meId`.
 */
export function candidates(members: readonly MemberView[], meId: string, query: string): Mentionable[] {
  const q = fold(query);
  const rank = (who: Mentionable): number => {
    const name = fold(who.displayName);
    if (name.startsWith(q)) return 0;
    if (fold(who.username).startsWith(q)) return 1;
    return name.split(/\s+/).some((word) => word.startsWith(q)) ? 2 : -1;
  };
  return mentionables(members)
    .filter((who) => who.userId !== meId)
    .map((who) => ({ who, rank: rank(who) }))
    .filter(({ rank }) => rank >= 0)
    .sort((a, b) => a.rank - b.rank || a.who.displayName.localeCompare(b.who.displayName))
    .slice(0, MAX_OPTIONS)
    .map(({ who }) => who);
}

/**
 * The mention being typed just before `caret`, if any: an "@" at the start or after
 * something that is not part of a word ("me@example" is an address), on the same line,
 * not followed by a space.
 */
export function mentionQuery(text: string, caret: number): MentionQuery | null {
  for (let at = caret - 1; at >= 0 && caret - at <= MAX_QUERY; at--) {
    const char = text[at];
    if (char === "\n") return null;
    if (char !== "@") continue;
    if (isWord(text[at - 1])) return null;
    const typed = text.slice(at + 1, caret);
    return /^\s/.test(typed) ? null : { start: at, end: caret, text: typed };
  }
  return null;
}

/** `text` with the mention being typed replaced by `label`, and where the cursor goes (past a space after it). */
export function insertMention(text: string, query: MentionQuery, label: string): { text: string; caret: number } {
  const before = text.slice(0, query.start);
  const after = text.slice(query.end);
  const inserted = `@${label} `;
  const rest = /^\s/.test(after) ? after.slice(1) : after;
  return { text: before + inserted + rest, caret: before.length + inserted.length };
}

/**
 * A message's body as the box shows it: each mention of a member as "@label", remembered
 * in `chosen`. A mention of someone not in the conversation keeps its token, so that it
 * goes back as it came.
 */
export function readable(body: string, members: readonly MemberView[]): { text: string; chosen: Chosen[] } {
  if (!body.includes("<@")) return { text: body, chosen: [] };
  const byId = new Map(mentionables(members).map((who) => [who.userId, who.label]));
  const chosen: Chosen[] = [];
  const text = pieces(body)
    .map((piece) => {
      if (piece.kind === "text") return piece.text;
      const label = byId.get(piece.userId);
      if (label === undefined) return mentionToken(piece.userId);
      chosen.push({ label, userId: piece.userId });
      return `@${label}`;
    })
    .join("");
  return { text, chosen };
}

/**
 * The body to send for the box's `text`: each "@label" of a chosen mention (standing
 * alone: not inside a word, not the start of a longer one) as its token, longer labels
 * first so that "@Ada Lovelace" is not taken for "@Ada".
 */
export function written(text: string, chosen: readonly Chosen[]): string {
  if (chosen.length === 0 || !text.includes("@")) return text;
  const byLabel = new Map(chosen.map((c) => [c.label, c.userId]));
  const labels = [...byLabel.keys()].sort((a, b) => b.length - a.length);
  let out = "";
  let at = 0;
  while (at < text.length) {
    if (text[at] === "@" && !isWord(text[at - 1])) {
      const label = labels.find((l) => text.startsWith(l, at + 1) && !isWord(text[at + 1 + l.length]));
      if (label !== undefined) {
        out += mentionToken(byLabel.get(label)!);
        at += 1 + label.length;
        continue;
      }
    }
    out += text[at];
    at += 1;
  }
  return out;
}

/**
 * One text box's mentions: the popup's options while a mention is being typed (none:
 * closed), the active one, and the mentions chosen so far. The box tells it where its
 * text and cursor are (`follow`) and hands it keys (`key`) before acting on them itself.
 */
export class MentionWriter {
  /** Whom the mention being typed may name, best first; empty while the popup is closed. */
  options = $state.raw<Mentionable[]>([]);
  /** The option Enter or Tab would choose. */
  active = $state(0);

  readonly #members: () => readonly MemberView[];
  readonly #meId: () => string;
  #query: MentionQuery | null = null;
  /** The "@" whose popup was closed (Esc, or chosen): it stays closed until another "@". */
  #closedAt: number | null = null;
  #chosen: Chosen[] = [];

  constructor(members: () => readonly MemberView[], meId: () => string) {
    this.#members = members;
    this.#meId = meId;
  }

  get open(): boolean {
    return this.options.length > 0;
  }

  /** The box's text for `body` (a draft or a message being edited), its mentions remembered. */
  readable(body: string): string {
    const { text, chosen } = readable(body, this.#members());
    this.#chosen.push(...chosen);
    return text;
  }

  /** The body to send (or save) for the box's `text`. */
  written(text: string): string {
    return written(text, this.#chosen);
  }

  /** The box's text or cursor changed: the popup opens, narrows or closes. */
  follow(text: string, caret: number): void {
    const query = mentionQuery(text, caret);
    if (query?.start !== this.#closedAt) this.#closedAt = null;
    this.#query = query && query.start !== this.#closedAt ? query : null;
    const before = this.options[this.active]?.userId;
    this.options = this.#query ? candidates(this.#members(), this.#meId(), this.#query.text) : [];
    const kept = this.options.findIndex((o) => o.userId === before);
    this.active = kept >= 0 ? kept : 0;
  }

  close(): void {
    this.#closedAt = this.#query?.start ?? null;
    this.#query = null;
    this.options = [];
  }

  /**
   * A key pressed in the box while the popup is open: Up and Down move, Enter and Tab
   * choose (the new text and cursor), Esc closes ("handled"). Null when the key is not
   * the popup's (it is closed, or a modifier is held): the box does what it does.
   */
  key(event: KeyboardEvent, text: string): { text: string; caret: number } | "handled" | null {
    if (!this.open || event.ctrlKey || event.metaKey || event.altKey || event.shiftKey) return null;
    const count = this.options.length;
    switch (event.key) {
      case "ArrowDown":
        this.active = (this.active + 1) % count;
        return "handled";
      case "ArrowUp":
        this.active = (this.active - 1 + count) % count;
        return "handled";
      case "Enter":
      case "Tab":
        return this.choose(this.active, text);
      case "Escape":
        this.close();
        return "handled";
      default:
        return null;
    }
  }

  /** Chooses option `index`: the new text, with its label, and where the cursor goes. */
  choose(index: number, text: string): { text: string; caret: number } | "handled" {
    const option = this.options[index];
    const query = this.#query;
    if (!option || !query) return "handled";
    this.#chosen.push({ label: option.label, userId: option.userId });
    const next = insertMention(text, query, option.label);
    this.close();
    return next;
  }
}
