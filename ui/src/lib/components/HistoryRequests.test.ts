// The history of encrypted chats going between the person's own devices, in the whole
// window against a mocked core. On the device asked: each ask of another device shows
// under the connection banner, naming the device once the server says which, until the
// person sends the history or dismisses the ask (and the core says the ask is gone); a
// failure stays beside its ask. On the device that asked: a thread holding messages it
// cannot open offers, in one line, to ask the other devices again, and the notice says
// how many were asked; a history taken in is told in the notice, with how many messages
// it made readable.
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
  message,
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

describe("asking the person's other devices again, from a thread this device cannot read all of", () => {
  /** Ada's encrypted chat, open: three messages sealed before this device joined, then one it can read. */
  async function sealedOpen(handlers: Handlers = {}) {
    const sealedChat = direct(ada, { encrypted: true, updated_at: ago(1) });
    const plainChat = direct(user("Grace Hopper"), { updated_at: ago(30) });
    const theirs = { conversation_id: sealedChat.id, mine: false, sender_id: ada.id };
    const sealed = [1, 2, 3].map((seq) =>
      message({ ...theirs, seq, body: "", unreadable: true, created_at: ago(9 - seq) }),
    );
    const held = [...sealed, message({ ...theirs, seq: 4, body: "see you there", created_at: ago(2) })];
    const core = windowCore({
      conversations: [sealedChat, plainChat],
      messages: {
        [sealedChat.id]: held,
        [plainChat.id]: [message({ conversation_id: plainChat.id, body: "hi" })],
      },
      handlers,
    });
    render(App);
    const items = await screen.findAllByTestId("conversation-item");
    return { core, sealed, held, items };
  }

  async function open(item: HTMLElement, messages: number) {
    await userEvent.click(item);
    await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(messages));
  }

  function askButton(): HTMLElement {
    return within(screen.getByTestId("history-ask")).getByTestId("ask-history");
  }

  it("shows one line, before the first message it cannot open, only while the thread holds one", async () => {
    const { core, sealed, held, items } = await sealedOpen();
    // A thread it can read all of offers nothing.
    await open(items[1]!, 1);
    expect(screen.queryByTestId("history-ask")).toBeNull();

    await open(items[0]!, held.length);
    const lines = screen.getAllByTestId("history-ask");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toHaveTextContent("Messages from before this device joined can come from your other device.");
    expect(lines[0]!.nextElementSibling).toHaveAttribute("id", `message-${sealed[0]!.id}`);
    expect(screen.getAllByTestId("unreadable")).toHaveLength(3);
    const ask = screen.getByRole("button", { name: "Ask my other devices" });
    expect(ask).toHaveAccessibleDescription("Messages from before this device joined can come from your other device.");
    expect(ask).toBeEnabled();
    // Nothing is asked until the person says so (the device asked once by itself).
    expect(core.count("ask_for_history")).toBe(0);

    // A history from another device opens the first: the line moves to the next one held...
    await coreEmits({ type: "changed", message: { ...sealed[0]!, body: "lunch friday?", unreadable: false } });
    await waitFor(() =>
      expect(screen.getByTestId("history-ask").nextElementSibling).toHaveAttribute("id", `message-${sealed[1]!.id}`),
    );
    expect(screen.getAllByTestId("history-ask")).toHaveLength(1);
    // ...and goes once the thread holds none it cannot open.
    for (const rest of sealed.slice(1)) {
      await coreEmits({ type: "changed", message: { ...rest, body: "opened", unreadable: false } });
    }
    await waitFor(() => expect(screen.queryByTestId("history-ask")).toBeNull());
    expect(screen.queryByTestId("unreadable")).toBeNull();
  });

  it("asks the other devices, waiting while it goes, and says how many were asked", async () => {
    const asking = deferred<number>();
    let asks = 0;
    const { core, held, items } = await sealedOpen({
      ask_for_history: () => (++asks === 1 ? asking.promise : 1),
    });
    await open(items[0]!, held.length);

    await userEvent.click(askButton());
    expect(core.argsOf("ask_for_history")).toEqual([{}]);
    await waitFor(() => expect(askButton()).toHaveTextContent("Asking…"));
    expect(askButton()).toBeDisabled();
    // A click while it goes asks nothing more.
    await userEvent.click(askButton());
    expect(core.count("ask_for_history")).toBe(1);

    asking.resolve(2);
    expect(await screen.findByTestId("notice")).toHaveTextContent(
      "Asked your other devices (2). Send the history from one of them.",
    );
    await waitFor(() => expect(askButton()).toBeEnabled());
    expect(askButton()).toHaveTextContent("Ask my other devices");
    expect(screen.getAllByTestId("history-ask")).toHaveLength(1);

    // Asked again, with one other device signed in.
    await userEvent.click(askButton());
    await waitFor(() =>
      expect(screen.getByTestId("notice")).toHaveTextContent("Asked your other device. Send the history from it."),
    );
    expect(core.count("ask_for_history")).toBe(2);
  });

  it("says so when the person is signed in on no other device", async () => {
    const { held, items } = await sealedOpen({ ask_for_history: () => 0 });
    await open(items[0]!, held.length);
    await userEvent.click(askButton());
    expect(await screen.findByTestId("notice")).toHaveTextContent("You are signed in on no other device to ask.");
    expect(askButton()).toBeEnabled();
  });

  it("tells why asking failed, in the core's words, and offers to try again", async () => {
    const { core, held, items } = await sealedOpen({
      ask_for_history: () => {
        throw { kind: "offline", message: "the server cannot be reached" };
      },
    });
    await open(items[0]!, held.length);
    await userEvent.click(askButton());
    expect(await screen.findByTestId("notice")).toHaveTextContent("the server cannot be reached");
    await waitFor(() => expect(askButton()).toBeEnabled());
    expect(askButton()).toHaveTextContent("Ask my other devices");
    expect(core.count("ask_for_history")).toBe(1);
  });
});
