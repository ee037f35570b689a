// The console's words for the server's values: statuses, senders, times, sizes,
// deleted messages and audit actions.
import { describe, expect, it } from "vitest";
import { fakeMessage, fakeUser } from "./fake-server";
import { actionWords, deletedWords, fileSize, senderName, shortId, statusOf, when } from "./words";
import type { UserId } from "./wire";

describe("words", () => {
  it("name an account's status, active when the server names none", () => {
    expect(statusOf(fakeUser("ann"))).toBe("active");
    expect(statusOf(fakeUser("ann", { status: "suspended" }))).toBe("suspended");
    expect(statusOf(fakeUser("ann", { status: "deleted" }))).toBe("deleted");
  });

  it("name a sender by username when the report names them, else by the tail of the id", () => {
    const reporter = fakeUser("rita");
    const reported = fakeUser("mallory");
    const report = { reporter, reported };
    expect(senderName(reported.id, report)).toBe("mallory");
    expect(senderName(reporter.id, report)).toBe("rita");
    expect(senderName("0190c0de-1111-7000-8000-00000000abcd" as UserId, report)).toBe("user …0000abcd");
    expect(shortId("short")).toBe("short");
  });

  it("write a time to the minute, in the local zone", () => {
    const at = new Date(2026, 10, 22, 9, 5);
    expect(when(at.toISOString())).toBe("2026-11-22 09:05");
    expect(when("not a time")).toBe("not a time");
  });

  it("write sizes", () => {
    expect(fileSize(512)).toBe("512 B");
    expect(fileSize(3_400)).toBe("3.4 KB");
    expect(fileSize(12_000_000)).toBe("12 MB");
  });

  it("tell a message removed by an administrator from one its sender deleted", () => {
    const ann = fakeUser("ann");
    expect(deletedWords(fakeMessage(ann, 1, "hi"))).toBeNull();
    expect(deletedWords(fakeMessage(ann, 1, "", { deleted_at: "2026-11-22T10:00:00Z" }))).toBe("deleted");
    expect(
      deletedWords(fakeMessage(ann, 1, "", { deleted_at: "2026-11-22T10:00:00Z", removed_by_operator: true })),
    ).toBe("removed by an administrator");
  });

  it("put audit actions in words, and a newer one as the server names it", () => {
    expect(actionWords("suspend")).toBe("suspended");
    expect(actionWords("remove_message")).toBe("removed message");
    expect(actionWords("rename_server")).toBe("rename_server");
    expect(actionWords("toString")).toBe("toString");
  });
});
