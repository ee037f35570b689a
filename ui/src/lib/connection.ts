/**
 * The connection banner: what it says for each connection state. "Back online" shows
 * only after trouble (offline or reconnecting) and for a moment; the banner component
 * owns that moment, this module the words.
 */
import type { ConnectionState } from "./bindings/ConnectionState";
import { m } from "./paraglide/messages.js";
import { clockTimeWithSeconds } from "./time";

export type Banner =
  | { kind: "offline"; text: string; reason: string | null }
  | { kind: "connecting"; text: string }
  | { kind: "polling"; text: string; reason: string | null }
  | { kind: "back-online"; text: string }
  | { kind: "signed-out"; text: string };

/**
 * What being offline means, in words a person understands. The core's reason is a
 * technical message (`cannot connect: IO error: Connection refused (os error 111)`): it
 * stays available as details, a click away.
 */
export function offlineExplanation(): string {
  return m.connection_offline_explanation();
}

/**
 * What polling means: the server answers, but something on the way (a proxy, a firewall)
 * refuses live connections, so new messages come by asking every few seconds.
 */
export function pollingExplanation(): string {
  return m.connection_polling_explanation();
}

/** How long "Back online" stays up. */
export const BACK_ONLINE_MS = 3000;

/**
 * The banner for `state`; `recovering` says the link was down since it was last online
 * (so that reaching "online" is news). Null: nothing to say.
 */
export function bannerFor(
  state: ConnectionState,
  recovering: boolean,
  locale?: string,
): Banner | null {
  switch (state.state) {
    case "offline":
      return {
        kind: "offline",
        text: state.retry_at
          ? m.connection_offline_retrying_at({ time: clockTimeWithSeconds(state.retry_at, locale) })
          : m.connection_offline(),
        reason: state.reason,
      };
    case "connecting":
      return { kind: "connecting", text: m.connection_connecting() };
    case "polling":
      return { kind: "polling", text: m.connection_polling(), reason: state.reason };
    case "online":
      return recovering ? { kind: "back-online", text: m.connection_back_online() } : null;
    case "signed_out":
      return { kind: "signed-out", text: m.connection_signed_out() };
  }
}
