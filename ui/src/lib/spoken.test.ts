// What a screen reader says for a message the keyboard lands on.
import { describe, expect, it } from "vitest";
import { attachment, message } from "../test/fixtures";
import { spokenMessage } from "./spoken";
import { clockTime } from "./time";

describe("a message, spoken", () => {
  const at = "2024-05-01T10:42:00.000Z";
  const time = clockTime(at);

  it("says who, when and what", () => {
    const m = message({ body: "see you there", mine: false, created_at: at });
    expect(spokenMessage(m, "Ada Lovelace")).toBe(`Ada Lovelace, ${time}: see you there`);
  });

  it("says whom a reply answers, that it was edited, and one's own status", () => {
    const m = message({ body: "noon", created_at: at, edited: true, status: "read" });
    expect(spokenMessage(m, "You", "Ada Lovelace")).toBe(`You, ${time}, replying to Ada Lovelace: noon, edited, Read`);
  });

  it("names the files before the caption, and says when it is gone", () => {
    const files = message({ body: "the plan", mine: false, created_at: at, attachments: [attachment()] });
    expect(spokenMessage(files, "Ada")).toBe(`Ada, ${time}: report.pdf, the plan`);
    const gone = message({ body: "", mine: false, deleted: true, edited: true, created_at: at });
    expect(spokenMessage(gone, "Ada", "You")).toBe(`Ada, ${time}: This message was deleted`);
    const removed = message({ body: "", mine: false, deleted: true, removed_by_operator: true, created_at: at });
    expect(spokenMessage(removed, "Ada")).toBe(`Ada, ${time}: This message was removed by an administrator`);
  });

  it("says when it was sealed before this device joined, and cannot be read here", () => {
    const sealed = message({ body: "", mine: false, unreadable: true, created_at: at });
    expect(spokenMessage(sealed, "Ada")).toBe(`Ada, ${time}: Encrypted before this device joined: it can't be read here`);
    const mine = message({ body: "", unreadable: true, created_at: at, status: "read" });
    expect(spokenMessage(mine, "You")).toBe(`You, ${time}: Encrypted before this device joined: it can't be read here, Read`);
    // Deleted since: that is what it is now.
    const gone = message({ body: "", mine: false, unreadable: true, deleted: true, created_at: at });
    expect(spokenMessage(gone, "Ada")).toBe(`Ada, ${time}: This message was deleted`);
  });
});
