import { describe, expect, it } from "vitest";
import type { Quote } from "./bindings/Quote";
import { quoteLine } from "./quotes";

const quote = (extra: Partial<Quote> = {}): Quote => ({
  id: "m1",
  sender_id: "u1",
  body: "first line\n\nsecond   line",
  seq: 4,
  deleted: false,
  ...extra,
});

describe("quoteLine", () => {
  it("gives the quoted text on one line", () => {
    expect(quoteLine(quote())).toEqual({ kind: "text", text: "first line second line" });
  });

  it("says the quoted message was deleted, or that this device does not have it", () => {
    expect(quoteLine(quote({ body: "", deleted: true }))).toEqual({ kind: "deleted", text: "Message deleted" });
    expect(quoteLine(null)).toEqual({ kind: "missing", text: "Original message not available" });
  });
});
