import { describe, expect, it } from "vitest";
import { ME, member, user } from "../test/fixtures";
import {
  candidates,
  insertMention,
  MAX_OPTIONS,
  mentionQuery,
  MentionWriter,
  readable,
  written,
} from "./mention-writing.svelte";
import { mentionToken } from "./mentions";

const ada = user("Ada Lovelace", "ada");
const adele = user("Adèle Ångström", "adele");
const grace = user("Grace Hopper", "amazing_grace");
const members = [member(ME), member(ada), member(adele), member(grace)];

const key = (k: string, extra: KeyboardEventInit = {}) => new KeyboardEvent("keydown", { key: k, ...extra });

describe("candidates", () => {
  it("matches the start of the display name, then the username, then a later word, ignoring case and accents", () => {
    expect(candidates(members, ME.id, "AD").map((c) => c.userId)).toEqual([ada.id, adele.id]);
    expect(candidates(members, ME.id, "amaz").map((c) => c.userId)).toEqual([grace.id]);
    expect(candidates(members, ME.id, "angs").map((c) => c.userId)).toEqual([adele.id]);
    expect(candidates(members, ME.id, "ada l").map((c) => c.label)).toEqual(["Ada Lovelace"]);
    expect(candidates(members, ME.id, "zed")).toEqual([]);
  });

  it("offers everyone but this user for a bare @, at most a handful", () => {
    expect(candidates(members, ME.id, "").map((c) => c.userId)).toEqual([ada.id, adele.id, grace.id]);
    expect(candidates(members, ME.id, "mor")).toEqual([]);
    const crowd = Array.from({ length: 12 }, (_, i) => member(user(`Sam ${i}`, `sam${i}`)));
    expect(candidates(crowd, ME.id, "sam")).toHaveLength(MAX_OPTIONS);
  });

  it("labels people who share a display name by their usernames", () => {
    const twin = user("Ada Lovelace", "ada2");
    expect(candidates([...members, member(twin)], ME.id, "ada").map((c) => c.label)).toEqual(["ada", "ada2"]);
  });
});

describe("mentionQuery", () => {
  it("is the @ and what follows it, up to the cursor", () => {
    expect(mentionQuery("hi @Ad", 6)).toEqual({ start: 3, end: 6, text: "Ad" });
    expect(mentionQuery("@", 1)).toEqual({ start: 0, end: 1, text: "" });
    expect(mentionQuery("(@gr) more", 4)).toEqual({ start: 1, end: 4, text: "gr" });
    expect(mentionQuery("@ada lo", 7)).toEqual({ start: 0, end: 7, text: "ada lo" });
  });

  it("is none in an address, after a space, across lines or far back", () => {
    expect(mentionQuery("me@example", 10)).toBeNull();
    expect(mentionQuery("@ ada", 5)).toBeNull();
    expect(mentionQuery("@ada\nx", 6)).toBeNull();
    expect(mentionQuery("no at here", 10)).toBeNull();
    expect(mentionQuery(`@${"x".repeat(60)}`, 61)).toBeNull();
  });
});

describe("insertMention", () => {
  it("replaces what was typed with the label and a space, the cursor after them", () => {
    expect(insertMention("hi @ad!", { start: 3, end: 6, text: "ad" }, "Ada Lovelace")).toEqual({
      text: "hi @Ada Lovelace !",
      caret: 17,
    });
    expect(insertMention("@ad there", { start: 0, end: 3, text: "ad" }, "Ada Lovelace")).toEqual({
      text: "@Ada Lovelace there",
      caret: 14,
    });
  });
});

describe("readable and written", () => {
  it("shows tokens as labels and turns chosen labels back into tokens", () => {
    const body = `${mentionToken(ada.id)}, ask ${mentionToken(grace.id)} (and <@nope>)`;
    const shown = readable(body, members);
    expect(shown.text).toBe("@Ada Lovelace, ask @Grace Hopper (and <@nope>)");
    expect(written(shown.text, shown.chosen)).toBe(body);
  });

  it("keeps the token of someone not in the conversation, so it goes back as it came", () => {
    const stranger = "019ac0c7-1b1e-7c55-9e0b-3f1d8f0c2a11";
    const shown = readable(`hi ${mentionToken(stranger)}`, members);
    expect(shown.text).toBe(`hi ${mentionToken(stranger)}`);
    expect(written(shown.text, shown.chosen)).toBe(`hi ${mentionToken(stranger)}`);
  });

  it("leaves names typed by hand, inside words, or longer than the label as text", () => {
    const chosen = [
      { label: "Ada", userId: grace.id },
      { label: "Ada Lovelace", userId: ada.id },
    ];
    expect(written("@Ada Lovelace and @Ada", chosen)).toBe(`${mentionToken(ada.id)} and ${mentionToken(grace.id)}`);
    expect(written("me@Ada @Adam @ada", chosen)).toBe("me@Ada @Adam @ada");
    expect(written("@Grace Hopper", chosen)).toBe("@Grace Hopper");
    expect(written("@Grace Hopper", [])).toBe("@Grace Hopper");
  });
});

describe("MentionWriter", () => {
  function writer() {
    return new MentionWriter(
      () => members,
      () => ME.id,
    );
  }

  it("opens on @, moves with the arrows (round), and chooses with Enter or Tab", () => {
    const w = writer();
    w.follow("hey @ad", 7);
    expect(w.open).toBe(true);
    expect(w.options.map((o) => o.label)).toEqual(["Ada Lovelace", "Adèle Ångström"]);
    expect(w.key(key("ArrowDown"), "hey @ad")).toBe("handled");
    expect(w.active).toBe(1);
    expect(w.key(key("ArrowDown"), "hey @ad")).toBe("handled");
    expect(w.active).toBe(0);
    expect(w.key(key("ArrowUp"), "hey @ad")).toBe("handled");
    expect(w.active).toBe(1);
    expect(w.key(key("Tab"), "hey @ad")).toEqual({ text: "hey @Adèle Ångström ", caret: 20 });
    expect(w.open).toBe(false);
    expect(w.written("hey @Adèle Ångström, hi")).toBe(`hey ${mentionToken(adele.id)}, hi`);

    w.follow("hey @Adèle Ångström @gr", 23);
    expect(w.key(key("Enter"), "hey @Adèle Ångström @gr")).toEqual({
      text: "hey @Adèle Ångström @Grace Hopper ",
      caret: 34,
    });
  });

  it("leaves keys with modifiers, and every key while closed, to the box", () => {
    const w = writer();
    expect(w.key(key("Enter"), "")).toBeNull();
    w.follow("@a", 2);
    expect(w.key(key("Enter", { shiftKey: true }), "@a")).toBeNull();
    expect(w.key(key("a"), "@a")).toBeNull();
  });

  it("stays closed after Esc until another @ is typed", () => {
    const w = writer();
    w.follow("@a", 2);
    expect(w.key(key("Escape"), "@a")).toBe("handled");
    expect(w.open).toBe(false);
    w.follow("@ad", 3);
    expect(w.open).toBe(false);
    w.follow("@ad @g", 6);
    expect(w.options.map((o) => o.userId)).toEqual([grace.id]);
  });

  it("keeps the active option while the list narrows, if it is still there", () => {
    const w = writer();
    w.follow("@a", 2);
    w.active = w.options.findIndex((o) => o.userId === adele.id);
    w.follow("@ad", 3);
    expect(w.options[w.active]!.userId).toBe(adele.id);
  });

  it("remembers the mentions of a body it showed", () => {
    const w = writer();
    const text = w.readable(`${mentionToken(grace.id)} hi`);
    expect(text).toBe("@Grace Hopper hi");
    expect(w.written(`${text}!`)).toBe(`${mentionToken(grace.id)} hi!`);
  });
});
