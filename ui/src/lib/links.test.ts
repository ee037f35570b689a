import { describe, expect, it } from "vitest";
import { splitLinks } from "./links";

describe("splitLinks", () => {
  it("keeps plain text as one part", () => {
    expect(splitLinks("no links here")).toEqual([{ kind: "text", text: "no links here" }]);
    expect(splitLinks("")).toEqual([]);
  });

  it("finds http and https links between text", () => {
    expect(splitLinks("see https://example.com/a?b=1 and http://x.org")).toEqual([
      { kind: "text", text: "see " },
      { kind: "link", text: "https://example.com/a?b=1", href: "https://example.com/a?b=1" },
      { kind: "text", text: " and " },
      { kind: "link", text: "http://x.org", href: "http://x.org/" },
    ]);
  });

  it("leaves sentence punctuation and unopened brackets outside the link", () => {
    expect(splitLinks("Look: https://example.com/page.")).toEqual([
      { kind: "text", text: "Look: " },
      { kind: "link", text: "https://example.com/page", href: "https://example.com/page" },
      { kind: "text", text: "." },
    ]);
    expect(splitLinks("(https://example.com)")[1]).toMatchObject({ text: "https://example.com" });
    expect(splitLinks("https://en.wikipedia.org/wiki/Ferry_(boat)")[0]).toMatchObject({
      kind: "link",
      text: "https://en.wikipedia.org/wiki/Ferry_(boat)",
    });
  });

  it("never makes links of other schemes", () => {
    expect(splitLinks("javascript:alert(1) file:///etc/passwd")).toEqual([
      { kind: "text", text: "javascript:alert(1) file:///etc/passwd" },
    ]);
  });

  it("keeps markup as text and stops a link at angle brackets and quotes", () => {
    expect(splitLinks('<a href="https://evil.test">x</a>')).toEqual([
      { kind: "text", text: '<a href="' },
      { kind: "link", text: "https://evil.test", href: "https://evil.test/" },
      { kind: "text", text: '">x</a>' },
    ]);
  });

  it("treats a scheme with no host as text", () => {
    expect(splitLinks("http://")).toEqual([{ kind: "text", text: "http://" }]);
  });
});
