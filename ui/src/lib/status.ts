/**
 * What a message's delivery status looks like on the sender's side: a clock while it
 * waits in the outbox, one tick once the server has it, two when every other member
 * has it, two filled (blue) when they have read it, red when it failed for good.
 */
import type { MessageStatus } from "./bindings/MessageStatus";

export interface StatusMark {
  icon: "clock" | "tick" | "double-tick" | "alert";
  /** Colour: quiet grey, the read blue, or the error red. */
  tone: "muted" | "read" | "failed";
  /** For screen readers and tooltips. */
  label: string;
}

const MARKS: Record<MessageStatus, StatusMark> = {
  pending: { icon: "clock", tone: "muted", label: "Waiting to send" },
  sent: { icon: "tick", tone: "muted", label: "Sent" },
  delivered: { icon: "double-tick", tone: "muted", label: "Delivered" },
  read: { icon: "double-tick", tone: "read", label: "Read" },
  failed: { icon: "alert", tone: "failed", label: "Not sent" },
};

export function statusMark(status: MessageStatus): StatusMark {
  return MARKS[status];
}
