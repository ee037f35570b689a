import { describe, expect, it } from "vitest";
import { EMOJI, emojiName, searchEmoji } from "./emoji";
import { setLanguage } from "./i18n.svelte";

const found = (query: string) => searchEmoji(query).map((x) => x.emoji);

describe("the picker's emoji", () => {
  it("are a few score, each once and named, the quick row first", () => {
    expect(EMOJI.length).toBeGreaterThanOrEqual(60);
    expect(EMOJI.length).toBeLessThanOrEqual(100);
    expect(new Set(EMOJI.map((x) => x.emoji)).size).toBe(EMOJI.length);
    expect(EMOJI.every((x) => x.name.trim() !== "")).toBe(true);
    expect(EMOJI.slice(0, 10).map((x) => x.emoji)).toEqual(["👍", "❤️", "😂", "😮", "😢", "🙏", "🎉", "👀", "🔥", "✅"]);
  });

  it("are named for tooltips, and unknown ones are not", () => {
    expect(emojiName("👍")).toBe("thumbs up");
    expect(emojiName("🦩")).toBeNull();
  });
});

describe("searchEmoji", () => {
  it("lists every emoji, in order, for a blank query", () => {
    expect(found("")).toEqual(EMOJI.map((x) => x.emoji));
    expect(found("   ")).toHaveLength(EMOJI.length);
  });

  it("finds by the start of the name, ignoring case", () => {
    expect(found("thumbs")).toEqual(["👍", "👎"]);
    expect(found("THUMBS U")).toEqual(["👍"]);
  });

  it("ranks names that start with the query before names with a word that does", () => {
    const hearts = found("heart");
    // "heart hands" starts with it; "red heart", "broken heart" and "heart-eyes" have the word.
    expect(hearts[0]).toBe("🫶");
    expect(hearts).toEqual(expect.arrayContaining(["❤️", "💔", "💙", "😍"]));
    expect(hearts.indexOf("❤️")).toBeLessThan(hearts.indexOf("💔"));
    expect(hearts).not.toContain("👍");
  });

  it("finds by the words people use for it", () => {
    expect(found("party").slice(0, 2)).toEqual(["🎉", "🥳"]);
    expect(found("lol")).toEqual(expect.arrayContaining(["😂", "🤣"]));
    expect(found("yes")).toEqual(expect.arrayContaining(["👍", "✅"]));
    expect(found("+1")[0]).toBe("👍");
  });

  it("finds nothing for nonsense, and the emoji itself when pasted", () => {
    expect(found("qwzx")).toEqual([]);
    expect(found("🔥")[0]).toBe("🔥");
  });
});

describe("the picker's emoji in German", () => {
  it("are named in German, found by German words (accents or not) and still by English ones", () => {
    setLanguage("de");
    expect(emojiName("👍")).toBe("Daumen hoch");
    expect(found("daumen").slice(0, 2)).toEqual(["👍", "👎"]);
    // "Daumen drücken" is one of the crossed fingers' words, so they come after.
    expect(found("daumen")).toContain("🤞");
    expect(found("gluhbirne")).toEqual(["💡"]);
    expect(found("thumbs")).toEqual(["👍", "👎"]);
    // Names that start with it first, as in English: "Herzhände" before "rotes Herz".
    const hearts = found("herz");
    expect(hearts[0]).toBe("🫶");
    expect(hearts.indexOf("🫶")).toBeLessThan(hearts.indexOf("❤️"));
  });
});
