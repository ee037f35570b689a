import { describe, expect, it } from "vitest";
import { fresher } from "./copies";
import { message } from "../test/fixtures";

describe("which copy of a message shows", () => {
  const pending = message({ seq: null, status: "pending", body: "on its way" });
  const sent = { ...pending, seq: 7, status: "sent" as const };
  const delivered = { ...sent, status: "delivered" as const };

  it("moves forward: acked, then delivered, then read", () => {
    expect(fresher(pending, sent)).toBe(sent);
    expect(fresher(sent, delivered)).toBe(delivered);
    expect(fresher(delivered, { ...delivered, status: "read" })).toEqual({ ...delivered, status: "read" });
  });

  it("never goes back to pending once it has a seq (the send's late answer)", () => {
    expect(fresher(sent, pending)).toBe(sent);
    expect(fresher(delivered, pending)).toBe(delivered);
  });

  it("keeps a status that went further, and takes the rest of a late copy", () => {
    const edited = { ...sent, body: "on its way, edited", edited: true };
    expect(fresher(delivered, edited)).toEqual({ ...edited, status: "delivered" });
  });

  it("takes a failure, and a retry after it", () => {
    const failed = { ...pending, status: "failed" as const, error: "refused" };
    expect(fresher(pending, failed)).toBe(failed);
    expect(fresher(failed, pending)).toBe(pending);
  });
});
