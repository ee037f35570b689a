import { describe, expect, it } from "vitest";
import { setLanguage } from "./i18n.svelte";
import { downloadLine, publishedLine } from "./updates";

describe("downloadLine", () => {
  it("says how much of the update is downloaded, never more than the whole", () => {
    expect(downloadLine(3_355_443, 13_107_200)).toBe("3.2 MB of 13 MB");
    expect(downloadLine(0, 13_107_200)).toBe("0 B of 13 MB");
    expect(downloadLine(2048, 1024)).toBe("1.0 KB of 1.0 KB");
  });

  it("says what came so far when the server gave no size", () => {
    expect(downloadLine(5_000, null)).toBe("4.9 KB so far");
    expect(downloadLine(5_000, 0)).toBe("4.9 KB so far");
  });

  it("writes the numbers as the window's language does", () => {
    setLanguage("de");
    expect(downloadLine(3_355_443, 13_107_200)).toBe("3,2 MB von 13 MB");
  });
});

describe("publishedLine", () => {
  const now = new Date(2026, 2, 20, 12, 0);

  it("says when the update was published, as the last use of a device reads", () => {
    expect(publishedLine(new Date(2026, 2, 17, 9, 0).toISOString(), now)).toBe("Published 3 days ago");
    expect(publishedLine(new Date(2026, 2, 3, 9, 0).toISOString(), now)).toBe("Published on March 3");
    expect(publishedLine(new Date(2025, 10, 5, 9, 0).toISOString(), now)).toBe("Published on November 5, 2025");
  });

  it("in the window's language", () => {
    setLanguage("de");
    expect(publishedLine(new Date(2026, 2, 3, 9, 0).toISOString(), now)).toBe("Veröffentlicht am 3. März");
  });

  it("says nothing without a date, or of one that is not a time", () => {
    expect(publishedLine(null, now)).toBeNull();
    expect(publishedLine("", now)).toBeNull();
    expect(publishedLine("last Tuesday", now)).toBeNull();
  });
});
