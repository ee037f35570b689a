import { describe, expect, it } from "vitest";
import { parseSnippet } from "./snippet";

describe("parseSnippet", () => {
  it("splits marked words from the rest", () => {
    expect(parseSnippet("the \u0002ferry\u0003 leaves at \u0002noon\u0003")).toEqual([
      { text: "the ", match: false },
      { text: "ferry", match: true },
      { text: " leaves at ", match: false },
      { text: "noon", match: true },
    ]);
  });

  it("is one plain part without markers", () => {
    expect(parseSnippet("nothing marked")).toEqual([{ text: "nothing marked", match: false }]);
  });

  it("joins adjacent matches and survives a missing end marker", () => {
    expect(parseSnippet("\u0002a\u0003\u0002b\u0003 c")).toEqual([
      { text: "ab", match: true },
      { text: " c", match: false },
    ]);
    expect(parseSnippet("x \u0002tail")).toEqual([
      { text: "x ", match: false },
      { text: "tail", match: true },
    ]);
  });

  it("keeps markup as plain characters", () => {
    expect(parseSnippet("\u0002<b>\u0003")).toEqual([{ text: "<b>", match: true }]);
  });
});
