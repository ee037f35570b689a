/**
 * The connection banner: what it says for each connection state. "Back online" shows
 * only after trouble (offline or reconnecting) and for a moment; the banner component
 * owns that moment, this module the words.
 */
import type { ConnectionState } from "./bindings/ConnectionState";
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
export const OFFLINE_EXPLANATION = "Ferry can't reach the server right now.";

/**
 * What polling means: the server answers, but something on the way (a proxy, a firewall)
 * refuses live connections, so new messages come by asking every few seconds.
 */
export const POLLING_EXPLANATION =
  "Something between you and the server blocks live updates, so Ferry checks for new messages instead. Typing and online status are paused.";

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
          ? `Offline — retrying at ${clockTimeWithSeconds(state.retry_at, locale)}`
          : "Offline",
        reason: state.reason,
      };
    case "connecting":
      return { kind: "connecting", text: "Connecting…" };
    case "polling":
      return { kind: "polling", text: "Connected without live updates", reason: state.reason };
    case "online":
      return recovering ? { kind: "back-online", text: "Back online" } : null;
    case "signed_out":
      return { kind: "signed-out", text: "Your session has ended. Sign in again." };
  }
}
