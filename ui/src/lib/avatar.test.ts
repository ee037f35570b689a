import { describe, expect, it } from "vitest";
import { avatarHue, initials } from "./avatar";

describe("initials", () => {
  it("takes the first letters of the first and last words", () => {
    expect(initials("Ada Lovelace")).toBe("AL");
    expect(initials("Grace Brewster Murray Hopper")).toBe("GH");
    expect(initials("grace")).toBe("G");
    expect(initials("  jean-luc  ")).toBe("JL");
  });

  it("copes with empty names and non-Latin letters", () => {
    expect(initials("")).toBe("?");
    expect(initials("Émile Zola")).toBe("ÉZ");
    expect(initials("😀 Party")).toBe("😀P");
  });
});

describe("avatarHue", () => {
  it("is stable per id and within the colour wheel", () => {
    expect(avatarHue("abc")).toBe(avatarHue("abc"));
    expect(avatarHue("abc")).toBeGreaterThanOrEqual(0);
    expect(avatarHue("abc")).toBeLessThan(360);
    expect(avatarHue("abc")).not.toBe(avatarHue("abd"));
  });
});
