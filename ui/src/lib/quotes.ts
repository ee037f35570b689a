/**
 * How a reply shows the message it answers, in its bubble and in the composer's reply
 * bar: one line of that message's text (with what its files are, where known), or why
 * there is none (it was deleted for everyone, or this device never had it, or it was
 * sealed before this device joined and cannot be read here).
 * Its mentions read "@Name", as the conversation's members are called now.
 */
import type { LocalAttachment } from "./bindings/LocalAttachment";
import type { Quote } from "./bindings/Quote";
import { oneLine } from "./conversations";
import { withFiles } from "./files";
import { plainMentions, type NameOf } from "./mentions";
import { m } from "./paraglide/messages.js";

export type QuoteLine =
  | { kind: "text"; text: string }
  | { kind: "deleted"; text: string }
  | { kind: "missing"; text: string }
  | { kind: "unreadable"; text: string };

/**
 * What shows of the answered message (null: this device does not have it). The reply
 * bar has the whole message, files and all; a quote has only its text, and a message
 * of files alone has none, so it says "Attachment".
 */
export function quoteLine(
  quote: (Quote & { attachments?: LocalAttachment[] }) | null,
  names: NameOf = () => null,
): QuoteLine {
  if (!quote) return { kind: "missing", text: m.quote_missing() };
  if (quote.deleted) return { kind: "deleted", text: m.message_deleted() };
  if (quote.unreadable) return { kind: "unreadable", text: m.preview_unreadable() };
  const text = withFiles(oneLine(plainMentions(quote.body, names)), quote.attachments);
  return { kind: "text", text: text || m.quote_attachment() };
}
