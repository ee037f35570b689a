import { describe, expect, it } from "vitest";
import { exportFileName, exportLine } from "./export";

describe("exportFileName", () => {
  it("names the archive after the person and the local day", () => {
    expect(exportFileName("morgan", new Date(2026, 0, 5, 23, 59))).toBe("ferry-export-morgan-2026-01-05.tar");
    expect(exportFileName("a.b-c_d", new Date(2026, 10, 25))).toBe("ferry-export-a.b-c_d-2026-11-25.tar");
  });

  it("never proposes a folder, whatever the server calls the person", () => {
    const name = exportFileName("../../.config/autostart/x", new Date(2026, 10, 25));
    expect(name).not.toMatch(/[/\\]/);
    expect(name).toBe("x-2026-11-25.tar");
  });
});

describe("exportLine", () => {
  it("says how much of the archive is saved", () => {
    expect(exportLine(0, 42_000_000)).toBe("0 B of 40 MB");
    expect(exportLine(12_900_000, 42_000_000)).toBe("12 MB of 40 MB");
    expect(exportLine(3_500_000, 3_500_000)).toBe("3.3 MB of 3.3 MB");
  });

  it("says what came so far when the size is unknown, and never more than the whole", () => {
    expect(exportLine(0, 0)).toBe("Starting…");
    expect(exportLine(5_000, 0)).toBe("4.9 KB so far");
    expect(exportLine(2048, 1024)).toBe("1.0 KB of 1.0 KB");
  });
});
