import { describe, expect, it } from "vitest";
import { isolated, plainFileName } from "./bidi";

describe("text from other people, shown in isolation", () => {
  it("shows a file name without what could disguise it", () => {
    expect(plainFileName("invoice\u202Egnp.exe")).toBe("invoicegnp.exe");
    expect(plainFileName("a\u2066b\u2069\u200Fc\u200B.pdf")).toBe("abc.pdf");
    expect(plainFileName("\u202E")).toBe("file");
    expect(plainFileName("notes.pdf")).toBe("notes.pdf");
    expect(plainFileName("عقد.pdf")).toBe("عقد.pdf");
  });

  it("isolates a name that could reorder its neighbours, and leaves plain names alone", () => {
    expect(isolated("Ada Lovelace")).toBe("Ada Lovelace");
    expect(isolated("admin\u202E")).toBe("\u2068admin\u202E\u2069");
    expect(isolated("שרה")).toBe("\u2068שרה\u2069");
    expect(isolated("ليلى")).toBe("\u2068ليلى\u2069");
  });
});
