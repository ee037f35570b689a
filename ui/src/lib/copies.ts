/**
 * Two copies of one message, and which the window shows. Copies reach the window by more
 * than one road (a command's answer, the core's events, a re-read of the thread, events
 * heard during that re-read and put back after it), and not always in the order they
 * were made: the answer to `send_message` (pending) can arrive after the event that says
 * the message was acked, even delivered. A message only moves forward, so an older copy
 * never takes a newer one's place: once it has a seq it keeps it, and its status never
 * goes back from read to delivered to sent.
 */
import type { LocalMessage } from "./bindings/LocalMessage";
import type { MessageStatus } from "./bindings/MessageStatus";

/** How far a sent message has come (pending and failed ones have no seq yet). */
const PROGRESS: Record<MessageStatus, number> = { pending: 0, failed: 0, sent: 1, delivered: 2, read: 3 };

/** The copy to show of a message held as `held` when `incoming` arrives. */
export function fresher(held: LocalMessage, incoming: LocalMessage): LocalMessage {
  // A copy without a seq was made before the ack: the held one is newer.
  if (held.seq !== null && incoming.seq === null) return held;
  if (held.seq !== null && incoming.seq !== null && PROGRESS[incoming.status] < PROGRESS[held.status]) {
    // Its other fields may be news (an edit, a reaction); its status is not.
    return { ...incoming, status: held.status };
  }
  return incoming;
}
