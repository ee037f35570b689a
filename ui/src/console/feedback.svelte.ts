// What the console says back after an operator acts: a short confirmation ("Suspended
// mallory") or what went wrong, in the server's words. One of each at most, shown under
// the tabs; each stays until the next action or tab replaces it, so nothing is timed.
import { errorMessage } from "./api";

export class Feedback {
  notice = $state<string | null>(null);
  error = $state<string | null>(null);

  /** Something worked. */
  done(text: string) {
    this.error = null;
    this.notice = text;
  }

  /** Something did not. */
  failed(error: unknown) {
    this.notice = null;
    this.error = errorMessage(error);
  }

  clear() {
    this.notice = null;
    this.error = null;
  }
}
