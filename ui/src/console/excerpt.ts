// The reported message among the messages around it, as the report view lists them: the
// server sends the message and its context separately (the context may or may not hold
// the message itself), and the operator reads one conversation in seq order.
import type { AdminReport, Message } from "./wire";

/** A message of the excerpt, and whether it is the one reported. */
export interface ExcerptLine {
  message: Message;
  reported: boolean;
}

export function excerpt(report: Pick<AdminReport, "message" | "context">): ExcerptLine[] {
  const reported = report.message;
  const lines = report.context
    .filter((m) => m.id !== reported?.id)
    .map((message) => ({ message, reported: false }));
  // The reported message as the report holds it now: after a removal, the context may
  // still carry an older copy of it.
  if (reported) lines.push({ message: reported, reported: true });
  return lines.sort((a, b) => a.message.seq - b.message.seq);
}
