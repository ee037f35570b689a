/**
 * History transfer between the person's own devices: a new device asks the others for
 * the history of their encrypted conversations (by itself, once it holds messages it
 * cannot open), and each ask waits on the others for the person to send the history or
 * dismiss the ask, since only they can tell their own new device from one someone else
 * signed in. The asks are kept on this device (reading and dismissing them works
 * offline); sending and asking go to the server.
 */
import type { HistoryRequest } from "../bindings/HistoryRequest";

import { call } from "./call";

/**
 * The asks of the person's other devices for this one's history, oldest first (a
 * `history_requests` event says when they change).
 */
export function historyRequests(): Promise<HistoryRequest[]> {
  return call("history_requests");
}

/**
 * Sends the history this device holds to the device `sessionId` that asked for it:
 * resolves with how many entries went. Its ask then goes (a `history_requests` event).
 * Refused, in the core's words, when that device asked nothing, is in none of this
 * device's encrypted conversations yet, or did not sign its ask.
 */
export function sendHistory(sessionId: string): Promise<number> {
  return call("send_history", { sessionId });
}

/**
 * Forgets the ask of the device `sessionId` without answering it (a `history_requests`
 * event follows); resolves with whether there was one.
 */
export function dismissHistoryRequest(sessionId: string): Promise<boolean> {
  return call("dismiss_history_request", { sessionId });
}

/**
 * Asks the person's other devices again for the history this device could not open (a
 * new ask, replacing this device's last): resolves with how many devices were asked.
 */
export function askForHistory(): Promise<number> {
  return call("ask_for_history");
}
