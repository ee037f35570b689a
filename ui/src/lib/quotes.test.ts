import { describe, expect, it } from "vitest";
import type { Quote } from "./bindings/Quote";
import { attachment, message } from "../test/fixtures";
import { quoteLine } from "./quotes";

const quote = (extra: Partial<Quote> = {}): Quote => ({
  id: "m1",
  sender_id: "u1",
  body: "first line\n\nsecond   line",
  seq: 4,
  deleted: false,
  unreadable: false,
  ...extra,
});

describe("quoteLine", () => {
  it("gives the quoted text on one line", () => {
    expect(quoteLine(quote())).toEqual({ kind: "text", text: "first line second line" });
  });

  it("names the quoted text's mentions, someone unknown as such", () => {
    const names = (id: string) => (id === "019ac0c7-1b1e-7c55-9e0b-3f1d8f0c2a11" ? "Ada" : null);
    const body = "<@019ac0c7-1b1e-7c55-9e0b-3f1d8f0c2a11> and <@019ac0c7-1b1e-7c55-9e0b-3f1d8f0c2a22>";
    expect(quoteLine(quote({ body }), names)).toEqual({ kind: "text", text: "@Ada and @unknown" });
  });

  it("says the quoted message was deleted, or that this device does not have it", () => {
    expect(quoteLine(quote({ body: "", deleted: true }))).toEqual({ kind: "deleted", text: "Message deleted" });
    expect(quoteLine(null)).toEqual({ kind: "missing", text: "Original message not available" });
  });

  it("says the answered message cannot be read here when it was sealed before this device joined", () => {
    const unreadable = { kind: "unreadable", text: "Can't be read on this device" };
    // A reply's quote, and the reply bar's message.
    expect(quoteLine(quote({ body: "", unreadable: true }))).toEqual(unreadable);
    expect(quoteLine(message({ body: "", unreadable: true }))).toEqual(unreadable);
  });

  it("says a quoted message of files alone is an attachment, and names its files where known", () => {
    expect(quoteLine(quote({ body: "" }))).toEqual({ kind: "text", text: "📎 Attachment" });
    // The reply bar has the whole message.
    expect(quoteLine(message({ body: "", attachments: [attachment()] }))).toEqual({ kind: "text", text: "📎 report.pdf" });
    expect(quoteLine(message({ body: "see p. 3", attachments: [attachment()] }))).toEqual({ kind: "text", text: "📎 see p. 3" });
  });
});
