/**
 * What a message's delivery status looks like on the sender's side: a clock while it
 * waits in the outbox, one tick once the server has it, two when every other member
 * has it, two filled (blue) when they have read it, red when it failed for good.
 */
import type { MessageStatus } from "./bindings/MessageStatus";
import { m } from "./paraglide/messages.js";

export interface StatusMark {
  icon: "clock" | "tick" | "double-tick" | "alert";
  /** Colour: quiet grey, the read blue, or the error red. */
  tone: "muted" | "read" | "failed";
  /** For screen readers and tooltips. */
  label: string;
}

// The labels are asked for each time: the language can change.
const MARKS: Record<MessageStatus, Omit<StatusMark, "label"> & { label: () => string }> = {
  pending: { icon: "clock", tone: "muted", label: m.status_pending },
  sent: { icon: "tick", tone: "muted", label: m.status_sent },
  delivered: { icon: "double-tick", tone: "muted", label: m.status_delivered },
  read: { icon: "double-tick", tone: "read", label: m.status_read },
  failed: { icon: "alert", tone: "failed", label: m.message_not_sent },
};

export function statusMark(status: MessageStatus): StatusMark {
  const mark = MARKS[status];
  return { ...mark, label: mark.label() };
}
