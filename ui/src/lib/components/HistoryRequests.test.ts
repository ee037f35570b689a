// The history of encrypted chats going between the person's own devices, in the whole
// window against a mocked core. On the device asked: each ask of another device shows
// under the connection banner, naming the device once the server says which, until the
// person sends the history or dismisses the ask (and the core says the ask is gone); a
// failure stays beside its ask. On the device that asked: a history taken in is told in
// the notice, with how many messages it made readable.
import { render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import App from "../../App.svelte";
import type { HistoryRequest } from "../bindings/HistoryRequest";
import {
  ago,
  coreEmits,
  direct,
  historyAsks,
  historyRequest,
  sessionInfo,
  user,
  type Handlers,
} from "../../test/fixtures";
import { windowCore } from "../../test/window";

const ada = user("Ada Lovelace");

/** A promise the test settles when it likes: a command still under way until then. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/** The window signed in, with a chat in the list, its core answering with `handlers`. */
async function signedIn(handlers: Handlers) {
  const core = windowCore({ conversations: [direct(ada)], handlers });
  render(App);
  await screen.findByTestId("conversation-item");
  return core;
}

function rows(): HTMLElement[] {
  return screen.queryAllByTestId("history-request");
}

function row(request: HistoryRequest): HTMLElement {
  const found = rows().find((el) => el.dataset.sessionId === request.session_id);
  if (!found) throw new Error(`no ask of ${request.session_id}`);
  return found;
}

describe("the asks of the person's other devices for this one's history", () => {
  it("show a row each, in a labelled region, naming the device once the server says which", async () => {
    const laptop = sessionInfo({ device_name: "macOS · morgan-air", created_at: ago(10) });
    const fromLaptop = historyRequest({ session_id: laptop.id, asked_at: ago(9) });
    const fromElsewhere = historyRequest({ asked_at: ago(3) });
    const core = await signedIn({
      ...historyAsks([fromLaptop, fromElsewhere]),
      account_sessions: () => [sessionInfo({ current: true }), laptop],
    });

    const region = await screen.findByRole("region", { name: "Requests for your chat history" });
    expect(within(region).getAllByTestId("history-request")).toHaveLength(2);
    expect(rows().map((el) => el.dataset.sessionId)).toEqual([fromLaptop.session_id, fromElsewhere.session_id]);
    for (const el of rows()) {
      expect(el).toHaveTextContent(
        "A device signed in to your account asks for the history of your encrypted chats. Send it only if that device is yours.",
      );
    }
    // The laptop is among the account's devices: its name and when it signed in.
    await waitFor(() => expect(row(fromLaptop)).toHaveTextContent("macOS · morgan-air · signed in 10 minutes ago"));
    // The other is not (signed out since): when it asked is all there is to say.
    expect(within(row(fromElsewhere)).getByTestId("history-request-device")).toHaveTextContent("Asked 3 minutes ago");
    expect(core.count("history_requests")).toBe(1);
    expect(core.count("account_sessions")).toBe(1);

    // Each row's buttons are named, and say which device they answer.
    const send = within(row(fromLaptop)).getByRole("button", { name: "Send history" });
    expect(send).toHaveAccessibleDescription(/macOS · morgan-air/);
    expect(within(row(fromLaptop)).getByRole("button", { name: "Not now" })).toHaveAccessibleDescription(
      /macOS · morgan-air/,
    );
    expect(within(row(fromElsewhere)).getByRole("button", { name: "Send history" })).toHaveAccessibleDescription(
      /Asked 3 minutes ago/,
    );
  });

  it("show nothing while nothing asks, and come with the core's event", async () => {
    const core = await signedIn({});
    expect(core.count("history_requests")).toBe(1);
    expect(screen.queryByRole("region", { name: "Requests for your chat history" })).toBeNull();

    const ask = historyRequest();
    await coreEmits({ type: "history_requests", requests: [ask] });
    expect(await screen.findByRole("region", { name: "Requests for your chat history" })).toBeInTheDocument();
    expect(rows()).toHaveLength(1);
    // No device of the account's is that one (the core's fake has none): when it asked.
    await waitFor(() => expect(core.count("account_sessions")).toBe(1));
    expect(row(ask)).toHaveTextContent("Asked 1 minute ago");
  });

  it("are read again after missed changes", async () => {
    let held: HistoryRequest[] = [];
    const core = await signedIn({ history_requests: () => held });
    const ask = historyRequest();
    held = [ask];
    await coreEmits({ type: "resync" });
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(row(ask)).toBeInTheDocument();
    expect(core.count("history_requests")).toBe(2);
  });

  it("Send history sends it to the device that asked, says how many went, and the ask goes when the core says so", async () => {
    const ask = historyRequest();
    const sending = deferred<number>();
    const core = await signedIn({ history_requests: () => [ask], send_history: () => sending.promise });
    await screen.findByTestId("history-request");

    await userEvent.click(within(row(ask)).getByRole("button", { name: "Send history" }));
    expect(core.argsOf("send_history")).toEqual([{ sessionId: ask.session_id }]);
    // While it goes, the row says so and neither answer can be given again.
    const busy = within(row(ask)).getByTestId("send-history");
    await waitFor(() => expect(busy).toHaveTextContent("Sending…"));
    expect(busy).toBeDisabled();
    expect(within(row(ask)).getByRole("button", { name: "Not now" })).toBeDisabled();
    expect(row(ask)).toHaveAttribute("aria-busy", "true");

    sending.resolve(12);
    expect(await screen.findByTestId("notice")).toHaveTextContent("History sent: 12 messages");
    expect(screen.queryByTestId("history-request-error")).toBeNull();

    // The core takes the ask away, and says so.
    await coreEmits({ type: "history_requests", requests: [] });
    await waitFor(() => expect(rows()).toHaveLength(0));
    expect(screen.queryByRole("region", { name: "Requests for your chat history" })).toBeNull();
    expect(core.count("send_history")).toBe(1);
  });

  it("Send history says so when this device holds nothing to send", async () => {
    const ask = historyRequest();
    await signedIn(historyAsks([ask], 0));
    await userEvent.click(await screen.findByRole("button", { name: "Send history" }));
    expect(await screen.findByTestId("notice")).toHaveTextContent(
      "Nothing to send: this device holds no messages of the encrypted chats that device is in.",
    );
    // The core's fake, as the core, drops the ask it answered and says so.
    await waitFor(() => expect(rows()).toHaveLength(0));
  });

  it("Not now forgets the ask without sending anything", async () => {
    const first = historyRequest({ asked_at: ago(30) });
    const second = historyRequest();
    const core = await signedIn({
      history_requests: () => [first, second],
      dismiss_history_request: () => true,
    });
    await waitFor(() => expect(rows()).toHaveLength(2));

    await userEvent.click(within(row(first)).getByRole("button", { name: "Not now" }));
    expect(core.argsOf("dismiss_history_request")).toEqual([{ sessionId: first.session_id }]);
    expect(core.count("send_history")).toBe(0);

    await coreEmits({ type: "history_requests", requests: [second] });
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(row(second)).toBeInTheDocument();
    expect(within(row(second)).getByRole("button", { name: "Send history" })).toBeEnabled();
  });

  it("shows why sending failed, in the core's words, and keeps the ask to try again", async () => {
    const ask = historyRequest();
    const why =
      "that device is in none of your encrypted conversations yet: it joins them when it connects; send the history after that";
    let tries = 0;
    const core = await signedIn({
      history_requests: () => [ask],
      send_history: () => {
        tries += 1;
        if (tries === 1) throw { kind: "invalid_request", message: why };
        return 4;
      },
    });
    await screen.findByTestId("history-request");

    await userEvent.click(within(row(ask)).getByRole("button", { name: "Send history" }));
    const error = await within(row(ask)).findByRole("alert");
    expect(error).toHaveTextContent(why);
    expect(rows()).toHaveLength(1);
    const send = within(row(ask)).getByRole("button", { name: "Send history" });
    expect(send).toBeEnabled();
    expect(screen.queryByTestId("notice")).toBeNull();

    // Tried again once that device has joined: it goes, and the failure is gone.
    await userEvent.click(send);
    expect(await screen.findByTestId("notice")).toHaveTextContent("History sent: 4 messages");
    expect(within(row(ask)).queryByTestId("history-request-error")).toBeNull();
    expect(core.argsOf("send_history")).toEqual([{ sessionId: ask.session_id }, { sessionId: ask.session_id }]);
  });

  it("tells a failure in the notice when the core dropped the ask it came from", async () => {
    const ask = historyRequest();
    const why = "that ask is not signed by the device it names: nothing was sent";
    await signedIn({
      history_requests: () => [ask],
      send_history: () => {
        throw { kind: "invalid_request", message: why };
      },
    });
    await userEvent.click(await screen.findByRole("button", { name: "Send history" }));
    expect(await within(row(ask)).findByRole("alert")).toHaveTextContent(why);

    await coreEmits({ type: "history_requests", requests: [] });
    await waitFor(() => expect(rows()).toHaveLength(0));
    expect(await screen.findByTestId("notice")).toHaveTextContent(why);
  });
});

describe("a history from another of the person's devices", () => {
  it("says how many messages it made readable here", async () => {
    await signedIn({});
    await coreEmits({ type: "history_received", entries: 3 });
    expect(await screen.findByTestId("notice")).toHaveTextContent(
      "3 messages from your other device are readable here now",
    );
    await coreEmits({ type: "history_received", entries: 1 });
    await waitFor(() =>
      expect(screen.getByTestId("notice")).toHaveTextContent("1 message from your other device is readable here now"),
    );
  });

  it("says nothing when it made nothing readable", async () => {
    await signedIn({});
    await coreEmits({ type: "history_received", entries: 0 });
    // Events are handled in order: once the next one shows, the first was heard.
    await coreEmits({ type: "history_requests", requests: [historyRequest()] });
    await screen.findByTestId("history-request");
    expect(screen.queryByTestId("notice")).toBeNull();
  });
});
