/**
 * How a reply shows the message it answers, in its bubble and in the composer's reply
 * bar: one line of that message's text, or why there is none (it was deleted for
 * everyone, or this device never had it).
 */
import type { Quote } from "./bindings/Quote";
import { oneLine } from "./conversations";

export type QuoteLine =
  | { kind: "text"; text: string }
  | { kind: "deleted"; text: string }
  | { kind: "missing"; text: string };

/** What shows of the answered message (null: this device does not have it). */
export function quoteLine(quote: Quote | null): QuoteLine {
  if (!quote) return { kind: "missing", text: "Original message not available" };
  if (quote.deleted) return { kind: "deleted", text: "Message deleted" };
  return { kind: "text", text: oneLine(quote.body) };
}
