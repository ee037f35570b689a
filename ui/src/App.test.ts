// The whole window against a mocked core: what it asks the core for, and what it shows
// from the answers and the core's events.
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { emit } from "@tauri-apps/api/event";
import { describe, expect, it, vi } from "vitest";
import App from "./App.svelte";
import bubbleSource from "./lib/components/MessageBubble.svelte?raw";
import type { ConnectionState } from "./lib/bindings/ConnectionState";
import type { ConversationSummary } from "./lib/bindings/ConversationSummary";
import type { KnownAccount } from "./lib/bindings/KnownAccount";
import type { LocalMessage } from "./lib/bindings/LocalMessage";
import type { SearchHit } from "./lib/bindings/SearchHit";
import type { User } from "./lib/bindings/User";
import {
  ago,
  attachment,
  connectionEvent,
  coreEmits,
  direct,
  group,
  image,
  listPage,
  ME,
  member,
  message,
  mockCore,
  safetyDigits,
  type Handlers,
} from "./test/fixtures";
import { user } from "./test/fixtures";
import "./test/screens";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");

/** A mocked core with a store the test can change between events. */
function core(options: {
  me?: User | null;
  connection?: ConnectionState;
  conversations?: ConversationSummary[];
  messages?: Record<string, LocalMessage[]>;
  handlers?: Handlers;
}) {
  const store = {
    me: options.me === undefined ? ME : options.me,
    lastAccount: null as KnownAccount | null,
    connection: options.connection ?? ({ state: "online" } as ConnectionState),
    conversations: options.conversations ?? [],
    messages: options.messages ?? {},
  };
  const mock = mockCore({
    session: () => ({ user: store.me, connection: store.connection, last_account: store.lastAccount }),
    conversations: (args) => listPage(store.conversations, args),
    conversation: (args) => store.conversations.find((c) => c.id === args.conversationId) ?? null,
    messages: (args) => {
      const all = store.messages[args.conversationId as string] ?? [];
      const before = args.beforeSeq as number | null;
      const limit = args.limit as number;
      if (before !== null) {
        return all.filter((m) => m.seq !== null && m.seq < before).slice(-limit);
      }
      const sent = all.filter((m) => m.seq !== null).slice(-limit);
      return [...sent, ...all.filter((m) => m.seq === null)];
    },
    ...options.handlers,
  });
  return { store, ...mock };
}

function item(name: string): HTMLElement {
  const found = screen.getAllByTestId("conversation-item").find((el) => el.dataset.name === name);
  if (!found) throw new Error(`no conversation ${name}`);
  return found;
}

describe("signing in", () => {
  it("asks for the server and account when nobody is signed in", async () => {
    core({ me: null, connection: { state: "signed_out" } });
    render(App);
    expect(await screen.findByTestId("server-url")).toHaveValue("http://127.0.0.1:8080");
    expect(screen.getByTestId("sign-in")).toBeDisabled();
  });

  it("shows the core's error, then lands in the app once signed in", async () => {
    let attempts = 0;
    const c = core({
      me: null,
      connection: { state: "signed_out" },
      conversations: [direct(ada)],
      handlers: {
        sign_in: () => {
          attempts++;
          if (attempts === 1) throw { kind: "invalid_credentials", message: "wrong username or password" };
          return ME;
        },
      },
    });
    render(App);
    await userEvent.type(await screen.findByTestId("username"), "me");
    await userEvent.type(screen.getByTestId("password"), "nope");
    await userEvent.click(screen.getByTestId("sign-in"));
    expect(await screen.findByTestId("auth-error")).toHaveTextContent("wrong username or password");

    await userEvent.clear(screen.getByTestId("password"));
    await userEvent.type(screen.getByTestId("password"), "right{Enter}");
    expect(await screen.findByTestId("conversation-item")).toHaveAttribute("data-name", "Ada Lovelace");
    expect(c.argsOf("sign_in").at(-1)).toEqual({
      serverUrl: "http://127.0.0.1:8080",
      username: "me",
      password: "right",
      allowPlainHttp: false,
    });
  });

  it("creates an account with a display name", async () => {
    const c = core({ me: null, handlers: { sign_up: () => ME } });
    render(App);
    await userEvent.type(await screen.findByTestId("username"), "morgan");
    await userEvent.type(screen.getByTestId("password"), "secret");
    await userEvent.type(screen.getByTestId("display-name"), "Morgan Me");
    await userEvent.click(screen.getByTestId("sign-up"));
    await screen.findByTestId("new-chat");
    expect(c.argsOf("sign_up")).toEqual([
      {
        serverUrl: "http://127.0.0.1:8080",
        username: "morgan",
        password: "secret",
        displayName: "Morgan Me",
        allowPlainHttp: false,
      },
    ]);
  });

  it("sends a password over plain http to another machine only once the user agrees", async () => {
    const c = core({ me: null, handlers: { sign_in: () => ME } });
    render(App);
    const server = await screen.findByTestId("server-url");
    // This machine's own server, or https: nothing to ask.
    expect(screen.queryByTestId("allow-plain-http")).toBeNull();
    await userEvent.clear(server);
    await userEvent.type(server, "https://chat.example.com");
    expect(screen.queryByTestId("allow-plain-http")).toBeNull();
    await userEvent.clear(server);
    await userEvent.type(server, "http://chat.example.com:8080");
    const agree = screen.getByTestId("allow-plain-http");
    expect(agree).not.toBeChecked();
    await userEvent.type(screen.getByTestId("username"), "me");
    await userEvent.type(screen.getByTestId("password"), "pw");
    expect(screen.getByTestId("sign-in")).toBeDisabled();
    await userEvent.click(agree);
    await userEvent.click(screen.getByTestId("sign-in"));
    await screen.findByTestId("new-chat");
    expect(c.argsOf("sign_in")).toEqual([
      { serverUrl: "http://chat.example.com:8080", username: "me", password: "pw", allowPlainHttp: true },
    ]);
  });

  it("signs out from the account menu after asking, and proposes that account to sign in again", async () => {
    const c = core({ conversations: [direct(ada)] });
    c.store.lastAccount = { server_url: "https://chat.example.com", username: ME.username };
    render(App);
    await userEvent.click(await screen.findByTestId("account-menu"));
    await userEvent.click(screen.getByRole("menuitem", { name: /Sign out/ }));
    // Cancel keeps the session.
    const dialog = await screen.findByTestId("sign-out-dialog");
    expect(dialog).toHaveTextContent("@me");
    await userEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByTestId("sign-out-dialog")).toBeNull();
    expect(c.count("sign_out")).toBe(0);
    await userEvent.click(screen.getByTestId("account-menu"));
    await userEvent.click(screen.getByRole("menuitem", { name: /Sign out/ }));
    await userEvent.click(await screen.findByTestId("confirm-sign-out"));
    expect(await screen.findByTestId("server-url")).toHaveValue("https://chat.example.com");
    expect(screen.getByTestId("username")).toHaveValue("me");
    expect(screen.getByTestId("password")).toHaveFocus();
    expect(c.count("sign_out")).toBe(1);
  });

  it("proposes the account signed out of when the app starts signed out", async () => {
    const c = core({ me: null, connection: { state: "signed_out" } });
    c.store.lastAccount = { server_url: "http://10.0.0.5:8080", username: "morgan" };
    render(App);
    expect(await screen.findByTestId("server-url")).toHaveValue("http://10.0.0.5:8080");
    expect(screen.getByTestId("username")).toHaveValue("morgan");
  });
});

describe("the conversation list", () => {
  it("lists newest activity first with unread badges, and keeps up with events", async () => {
    const quiet = direct(ada, { updated_at: ago(120) });
    const busy = group("Team", [ada, grace], { updated_at: ago(2), unread_count: 4 });
    const c = core({ conversations: [quiet, busy] });
    render(App);
    await screen.findAllByTestId("conversation-item");
    const names = () => screen.getAllByTestId("conversation-item").map((el) => el.dataset.name);
    expect(names()).toEqual(["Team", "Ada Lovelace"]);
    expect(within(item("Team")).getByTestId("unread-badge")).toHaveTextContent("4");

    const pinged = {
      ...quiet,
      updated_at: ago(0),
      unread_count: 1,
      last_message: message({ body: "ping", mine: false, sender_id: ada.id }),
    };
    c.store.conversations = [pinged, busy];
    await coreEmits({ type: "conversation", summary: pinged });
    await waitFor(() => expect(names()).toEqual(["Ada Lovelace", "Team"]));
    expect(within(item("Ada Lovelace")).getByTestId("unread-badge")).toHaveTextContent("1");
  });

  describe("of a large account", () => {
    /** 1,250 conversations: twelve full pages of 100 and a short one. */
    const many = () =>
      Array.from({ length: 1_250 }, (_, i) => direct(ada, { name: `Person ${i}`, updated_at: ago(i) }));
    const list = () => screen.getByTestId("conversation-list");

    it("reads a page more each time it is scrolled near the end, until the last page", async () => {
      const c = core({ conversations: many() });
      render(App);
      await screen.findAllByTestId("conversation-item");
      expect(c.argsOf("conversations")).toEqual([{ after: null, limit: 100 }]);

      for (let page = 2; page <= 13; page++) {
        await fireEvent.scroll(list().parentElement!, { target: { scrollTop: parseInt(list().style.height) } });
        await waitFor(() => expect(c.count("conversations")).toBe(page));
        await waitFor(() => expect(list()).toHaveStyle({ height: `${Math.min(1_250, page * 100) * 64 + 8}px` }));
      }
      await fireEvent.scroll(list().parentElement!, { target: { scrollTop: parseInt(list().style.height) } });
      expect(item("Person 1249")).toHaveAttribute("aria-setsize", "1250");
      // The short page was the end: nothing more is asked (the mocked IPC answers through
      // promises only, so one macrotask lets any ask land).
      await new Promise((done) => setTimeout(done, 0));
      expect(c.count("conversations")).toBe(13);
    });

    it("reaches the real end with End, a page at a time", async () => {
      const c = core({ conversations: many() });
      render(App);
      await screen.findAllByTestId("conversation-item");
      await fireEvent.click(item("Person 0"));
      const tabStop = () => screen.getAllByTestId("conversation-item").find((el) => el.tabIndex === 0)!;
      let presses = 0;
      for (; presses < 20; presses++) {
        const height = parseInt(list().style.height);
        await fireEvent.keyDown(tabStop(), { key: "End" });
        // On the last row held, which asked for the next page (if there is one).
        await waitFor(() => {
          expect(document.activeElement).toBe(tabStop());
          expect(tabStop().getAttribute("aria-posinset")).toBe(tabStop().getAttribute("aria-setsize"));
        });
        if (tabStop().dataset.name === "Person 1249") break;
        await waitFor(() => expect(parseInt(list().style.height)).toBeGreaterThan(height));
      }
      expect(presses + 1).toBe(13);
      expect(item("Person 1249")).toHaveAttribute("aria-setsize", "1250");
      expect(c.count("conversations")).toBe(13);
    });
  });
});

describe("the first paint", () => {
  it("is told to the shell once, after the list is on screen with its data", async () => {
    const rowsAtMark: number[] = [];
    const c = core({
      conversations: [direct(ada), direct(grace)],
      handlers: {
        first_paint: () => {
          rowsAtMark.push(screen.queryAllByTestId("conversation-item").length);
          return null;
        },
      },
    });
    render(App);
    await waitFor(() => expect(c.count("first_paint")).toBe(1));
    expect(rowsAtMark).toEqual([2]);
    const order = c.calls.map((call) => call.cmd);
    expect(order.indexOf("first_paint")).toBeGreaterThan(order.indexOf("conversations"));

    // Later changes, re-reads and opening a conversation do not tell it again.
    const pinged = { ...c.store.conversations[0]!, updated_at: ago(0), unread_count: 1 };
    await coreEmits({ type: "conversation", summary: pinged });
    await coreEmits({ type: "resync" });
    await waitFor(() => expect(c.count("conversations")).toBe(2));
    await userEvent.click(item("Grace Hopper"));
    await screen.findByTestId("thread");
    await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
    expect(c.count("first_paint")).toBe(1);
  });

  it("comes for a list known to be empty, and a shell without the command is no error", async () => {
    let shownAtMark = false;
    const c = core({
      conversations: [],
      handlers: {
        first_paint: () => {
          shownAtMark = screen.queryByText(/No conversations yet/) !== null;
          throw "command first_paint not found";
        },
      },
    });
    render(App);
    await waitFor(() => expect(c.count("first_paint")).toBe(1));
    expect(shownAtMark).toBe(true);
    await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
    expect(screen.queryByTestId("notice")).toBeNull();
  });

  it("waits for someone to be signed in", async () => {
    const c = core({ me: null, connection: { state: "signed_out" } });
    render(App);
    await screen.findByTestId("server-url");
    await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
    expect(c.count("first_paint")).toBe(0);
  });
});

describe("a thread", () => {
  function adaChat(messages: LocalMessage[], extra: Partial<ConversationSummary> = {}) {
    const conversation = direct(ada, extra);
    const placed = messages.map((m) => ({ ...m, conversation_id: conversation.id }));
    return { conversation, messages: { [conversation.id]: placed } };
  }

  it("opens with day separators, sides and status, and tells the core what is open", async () => {
    const yesterday = new Date();
    yesterday.setDate(yesterday.getDate() - 1);
    const { conversation, messages } = adaChat([
      message({ seq: 1, body: "yesterday's news", mine: false, sender_id: ada.id, created_at: yesterday.toISOString() }),
      message({ seq: 2, body: "today's reply", status: "read", created_at: ago(1) }),
    ]);
    const c = core({ conversations: [conversation], messages });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));

    const thread = await screen.findByTestId("thread");
    expect(thread).toHaveAttribute("role", "log");
    expect(thread).toHaveAttribute("aria-live", "polite");
    await waitFor(() => expect(within(thread).getAllByTestId("message")).toHaveLength(2));
    expect(within(thread).getAllByTestId("day-separator").map((el) => el.textContent)).toEqual([
      "Yesterday",
      "Today",
    ]);
    const [theirs, mine] = within(thread).getAllByTestId("message");
    expect(theirs).toHaveAttribute("data-mine", "false");
    expect(mine).toHaveAttribute("data-mine", "true");
    expect(mine).toHaveAttribute("data-status", "read");
    expect(c.argsOf("messages")[0]).toEqual({ conversationId: conversation.id, beforeSeq: null, limit: 50 });
    await waitFor(() =>
      expect(c.argsOf("set_attention").at(-1)).toMatchObject({ openConversation: conversation.id }),
    );
    expect(screen.getByTestId("composer")).toHaveFocus();
  });

  it("shows a day again where the messages' times go back across midnight", async () => {
    // Just after midnight, with a message from a clock a few minutes behind: what a CI
    // run at 00:01 once hit, when the thread threw on the day's repeated key.
    vi.setSystemTime(new Date(2026, 10, 26, 0, 1));
    const { conversation, messages } = adaChat([
      message({ seq: 1, body: "still up?", created_at: ago(3) }),
      message({ seq: 2, body: "yes", mine: false, sender_id: ada.id, created_at: ago(0) }),
      message({ seq: 3, body: "from a slow clock", created_at: ago(2) }),
    ]);
    core({ conversations: [conversation], messages });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));

    const thread = await screen.findByTestId("thread");
    await waitFor(() => expect(within(thread).getAllByTestId("message")).toHaveLength(3));
    expect(within(thread).getAllByTestId("day-separator").map((el) => el.textContent)).toEqual([
      "Yesterday",
      "Today",
      "Yesterday",
    ]);
  });

  it("shows a sent message at once as pending, then as the core updates it", async () => {
    const { conversation, messages } = adaChat([]);
    const c = core({
      conversations: [conversation],
      messages,
      handlers: {
        send_message: (args) => {
          const m = message({
            conversation_id: args.conversationId as string,
            body: args.body as string,
            seq: null,
            status: "pending",
            created_at: ago(0),
          });
          c.store.messages[conversation.id]!.push(m);
          return m;
        },
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await userEvent.type(await screen.findByTestId("composer"), "on my way{Enter}");

    const sent = await screen.findByTestId("message");
    expect(sent).toHaveAttribute("data-status", "pending");
    expect(sent).toHaveTextContent("on my way");
    expect(c.argsOf("send_message")).toEqual([{ conversationId: conversation.id, body: "on my way", replyTo: null }]);

    const stored = c.store.messages[conversation.id]![0]!;
    c.store.messages[conversation.id] = [{ ...stored, seq: 1, status: "delivered" }];
    await coreEmits({ type: "message", message: { ...stored, seq: 1, status: "delivered" } });
    await waitFor(() => expect(screen.getByTestId("message")).toHaveAttribute("data-status", "delivered"));
  });

  it("retries and deletes failed messages", async () => {
    const failed = message({ seq: null, status: "failed", error: "refused" });
    const { conversation, messages } = adaChat([failed]);
    const c = core({ conversations: [conversation], messages });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await userEvent.click(await screen.findByTestId("retry"));
    expect(c.argsOf("retry_message")).toEqual([{ messageId: failed.id }]);
    await userEvent.click(screen.getByTestId("discard"));
    expect(c.argsOf("discard_message")).toEqual([{ messageId: failed.id }]);
  });

  it("shows who is typing", async () => {
    const { conversation, messages } = adaChat([]);
    const c = core({ conversations: [conversation], messages });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await screen.findByTestId("thread");
    expect(screen.queryByTestId("typing-indicator")).toBeNull();

    c.store.conversations = [{ ...conversation, typing: [ada.id] }];
    await coreEmits({ type: "typing", conversation_id: conversation.id, typing: [ada.id] });
    expect(await screen.findByTestId("typing-indicator")).toHaveTextContent("Ada Lovelace is typing…");
  });

  it("marks where unread messages start", async () => {
    const { conversation, messages } = adaChat(
      [1, 2, 3, 4, 5].map((seq) =>
        message({ seq, body: `m${seq}`, mine: seq < 3, sender_id: seq < 3 ? ME.id : ada.id, created_at: ago(10 - seq) }),
      ),
      { last_seq: 5, unread_count: 3 },
    );
    core({ conversations: [conversation], messages });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const marker = await screen.findByTestId("unread-marker");
    const next = marker.nextElementSibling as HTMLElement;
    expect(next).toHaveAttribute("data-testid", "message");
    expect(next).toHaveTextContent("m3");
  });

  it("loads older history when scrolled to the top", async () => {
    const history = Array.from({ length: 80 }, (_, i) =>
      message({ seq: i + 1, body: `n${i + 1}`, created_at: ago(100 - i) }),
    );
    const { conversation, messages } = adaChat(history, { last_seq: 80 });
    const c = core({ conversations: [conversation], messages });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const thread = await screen.findByTestId("thread");
    await waitFor(() => expect(within(thread).getAllByTestId("message")).toHaveLength(50));

    await fireEvent.scroll(thread, { target: { scrollTop: 0 } });
    await waitFor(() => expect(within(thread).getAllByTestId("message")).toHaveLength(80));
    expect(c.argsOf("messages").at(-1)).toEqual({ conversationId: conversation.id, beforeSeq: 31, limit: 50 });
    expect(within(thread).getAllByTestId("message")[0]).toHaveTextContent("n1");
  });

  it("lets rows out of view skip rendering, except the newest", async () => {
    const history = Array.from({ length: 80 }, (_, i) =>
      message({ seq: i + 1, body: `n${i + 1}`, created_at: ago(100 - i) }),
    );
    const { conversation, messages } = adaChat(history, { last_seq: 80 });
    core({ conversations: [conversation], messages });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const thread = await screen.findByTestId("thread");
    await waitFor(() => expect(within(thread).getAllByTestId("message")).toHaveLength(50));
    const shown = within(thread).getAllByTestId("message");
    expect(shown[0]).toHaveClass("skip-offscreen");
    expect(shown.slice(-40).filter((el) => el.classList.contains("skip-offscreen"))).toEqual([]);
    // What the class does (jsdom has no layout to show it).
    expect(bubbleSource).toMatch(/\.message\.skip-offscreen\s*\{[^}]*content-visibility:\s*auto;[^}]*contain-intrinsic-height:\s*auto/);
  });

  it("forgets a long scroll-back once the reader is back at the end", async () => {
    const history = Array.from({ length: 600 }, (_, i) =>
      message({ seq: i + 1, body: `n${i + 1}`, created_at: ago(700 - i) }),
    );
    const { conversation, messages } = adaChat(history, { last_seq: 600 });
    core({ conversations: [conversation], messages });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const thread = await screen.findByTestId("thread");
    const count = () => within(thread).getAllByTestId("message").length;
    await waitFor(() => expect(count()).toBe(50));
    // Scrolled back through 11 more pages (jsdom has no layout: the top is also the end,
    // and nothing is forgotten below 500 held).
    for (let held = 100; held <= 550; held += 50) {
      await fireEvent.scroll(thread, { target: { scrollTop: 0 } });
      await waitFor(() => expect(count()).toBe(held));
    }
    // Back at the end (and away from the top): only the latest pages stay.
    await fireEvent.scroll(thread, { target: { scrollTop: 5000 } });
    await waitFor(() => expect(count()).toBe(200));
    expect(within(thread).getAllByTestId("message").at(-1)).toHaveTextContent("n600");
  }, 20_000);

  it("replies, reacts, edits and deletes from a message's actions, and jumps to what a reply quotes", async () => {
    const hers = message({ seq: 1, body: "lunch?", mine: false, sender_id: ada.id, created_at: ago(3) });
    const mine = message({ seq: 2, body: "yes, at noon", created_at: ago(2) });
    const answer = message({
      seq: 3,
      body: "great",
      mine: false,
      sender_id: ada.id,
      created_at: ago(1),
      reply_to: mine.id,
      quote: { id: mine.id, sender_id: ME.id, body: mine.body, seq: 2, deleted: false, unreadable: false },
    });
    const { conversation, messages } = adaChat([hers, mine, answer]);
    const held = messages[conversation.id]!;
    const c = core({
      conversations: [conversation],
      messages,
      handlers: {
        send_message: (args) =>
          message({ conversation_id: conversation.id, seq: null, status: "pending", body: args.body as string }),
        react: (args) => ({ ...held[0]!, reactions: [{ emoji: args.emoji as string, user_ids: [ME.id], mine: true }] }),
        edit_message: (args) => ({ ...held[1]!, body: args.body as string, edited: true }),
        delete_message: () => ({ ...held[1]!, body: "", deleted: true }),
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(3));
    const row = (id: string) => screen.getAllByTestId("message").find((el) => el.dataset.id === id)!;
    const composer = screen.getByTestId("composer");

    // Up arrow in the empty composer edits the last own message; Enter saves, and the
    // cursor is back in the composer.
    await userEvent.type(composer, "{ArrowUp}");
    const box = await within(row(mine.id)).findByTestId("edit-input");
    await userEvent.type(box, " sharp{Enter}");
    expect(c.argsOf("edit_message")).toEqual([{ messageId: mine.id, body: "yes, at noon sharp" }]);
    await waitFor(() => expect(row(mine.id)).toHaveAttribute("data-edited", "true"));
    expect(within(row(mine.id)).getByTestId("edited")).toBeInTheDocument();
    expect(screen.getByTestId("composer")).toHaveFocus();

    // Reply: the bar shows what is answered; sending takes the target along and drops it.
    await userEvent.click(within(row(hers.id)).getByTestId("action-reply"));
    expect(await screen.findByTestId("reply-bar")).toHaveTextContent("Replying to Ada Lovelace");
    await userEvent.type(screen.getByTestId("composer"), "sure{Enter}");
    expect(c.argsOf("send_message")).toEqual([{ conversationId: conversation.id, body: "sure", replyTo: hers.id }]);
    await waitFor(() => expect(screen.queryByTestId("reply-bar")).toBeNull());

    // React through the picker: search, Enter; the chip shows.
    await userEvent.click(within(row(hers.id)).getByTestId("action-react"));
    await userEvent.type(within(await screen.findByTestId("reaction-picker")).getByTestId("emoji-search"), "party{Enter}");
    expect(c.argsOf("react")).toEqual([{ messageId: hers.id, emoji: "🎉" }]);
    expect(screen.queryByTestId("reaction-picker")).toBeNull();
    const chip = await within(row(hers.id)).findByTestId("reaction");
    expect(chip).toHaveAttribute("data-emoji", "🎉");
    expect(chip).toHaveAttribute("aria-pressed", "true");

    // The quote in Ada's answer brings my message into view, highlighted.
    await userEvent.click(within(row(answer.id)).getByTestId("quote"));
    await waitFor(() => expect(row(mine.id)).toHaveClass("highlighted"));

    // Delete asks first; Cancel keeps it, Delete deletes it for everyone.
    await userEvent.click(within(row(mine.id)).getByTestId("action-delete"));
    const dialog = await screen.findByTestId("delete-dialog");
    await userEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(c.count("delete_message")).toBe(0);
    await userEvent.click(within(row(mine.id)).getByTestId("action-delete"));
    await userEvent.click(await screen.findByTestId("confirm-delete"));
    expect(c.argsOf("delete_message")).toEqual([{ messageId: mine.id }]);
    await waitFor(() => expect(within(row(mine.id)).getByTestId("deleted")).toHaveTextContent("This message was deleted"));
  });

  it("shows a change heard from the core in place, without saying there is anything new", async () => {
    const hers = message({ seq: 1, body: "see you at 12", mine: false, sender_id: ada.id });
    const { conversation, messages } = adaChat([hers]);
    core({ conversations: [conversation], messages });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const first = await screen.findByTestId("message");
    const held = messages[conversation.id]![0]!;
    const fixed = { ...held, body: "see you at 1", edited: true };
    await coreEmits({ type: "changed", message: fixed });
    await waitFor(() => expect(screen.getByTestId("message")).toHaveAttribute("data-edited", "true"));
    expect(screen.getByTestId("message")).toBe(first);
    expect(first).toHaveTextContent("see you at 1");
    expect(screen.queryByTestId("jump-to-latest")).toBeNull();
    expect(screen.queryByTestId("unread-marker")).toBeNull();

    await coreEmits({ type: "change_refused", message: held, reason: "edits are closed" });
    expect(await screen.findByTestId("notice")).toHaveTextContent("edits are closed");
    expect(screen.getByTestId("message")).toHaveAttribute("data-edited", "false");
  });

  it("keeps each conversation's draft with that conversation", async () => {
    const withAda = direct(ada);
    const withGrace = direct(grace, { draft: "grace's draft" });
    const c = core({ conversations: [withAda, withGrace], messages: {} });
    render(App);
    await screen.findAllByTestId("conversation-item");
    await userEvent.click(item("Ada Lovelace"));
    await userEvent.type(await screen.findByTestId("composer"), "for ada");
    await userEvent.click(item("Grace Hopper"));
    await waitFor(() => expect(screen.getByTestId("composer")).toHaveValue("grace's draft"));
    // A slow runner may save a partial draft mid-typing; every save must still be Ada's,
    // the last one whole, and nothing may land on Grace's draft.
    const saves = c.argsOf("set_draft") as { conversationId: string; body: string }[];
    expect(saves.length).toBeGreaterThan(0);
    expect(saves.every((s) => s.conversationId === withAda.id)).toBe(true);
    expect(saves.at(-1)).toEqual({ conversationId: withAda.id, body: "for ada" });
  });

  it("chooses what the conversation notifies of", async () => {
    const { conversation, messages } = adaChat([]);
    const c = core({ conversations: [conversation], messages });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const bell = await screen.findByTestId("notify-level");
    expect(bell).toHaveAttribute("data-level", "all");
    await userEvent.click(bell);
    await userEvent.click(screen.getByRole("menuitemradio", { name: "Nothing" }));
    expect(c.argsOf("set_notifications")).toEqual([{ conversationId: conversation.id, level: "none" }]);
    await waitFor(() => expect(bell).toHaveAttribute("data-level", "none"));
  });
});

describe("files in a thread", () => {
  const position = { x: 100, y: 100 };

  function adaChat(messages: LocalMessage[]) {
    const conversation = direct(ada);
    const placed = messages.map((m) => ({ ...m, conversation_id: conversation.id }));
    return { conversation, messages: { [conversation.id]: placed } };
  }

  it("shows where dragged files go, and sends them on drop, leaving the composer's text", async () => {
    const { conversation, messages } = adaChat([]);
    const c = core({
      conversations: [conversation],
      messages,
      handlers: {
        send_files: (args) =>
          message({
            conversation_id: conversation.id,
            seq: null,
            status: "pending",
            body: "",
            attachments: [attachment({ name: "plan.pdf", id: null, uploaded: 0, downloaded: true })],
            created_at: ago(0),
            ...(args.caption ? { body: args.caption as string } : {}),
          }),
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const box = (await screen.findByTestId("composer")) as HTMLTextAreaElement;
    await userEvent.type(box, "half a sentence");

    expect(screen.queryByTestId("drop-overlay")).toBeNull();
    await emit("tauri://drag-enter", { paths: ["/home/me/plan.pdf"], position });
    expect(await screen.findByTestId("drop-overlay")).toHaveTextContent("Drop files to send them to Ada Lovelace");
    await emit("tauri://drag-leave", null);
    await waitFor(() => expect(screen.queryByTestId("drop-overlay")).toBeNull());

    await emit("tauri://drag-enter", { paths: ["/home/me/plan.pdf"], position });
    await emit("tauri://drag-drop", { paths: ["/home/me/plan.pdf"], position });
    await waitFor(() => expect(screen.queryByTestId("drop-overlay")).toBeNull());
    const sent = await screen.findByTestId("message");
    expect(within(sent).getByTestId("attachment")).toHaveAttribute("data-name", "plan.pdf");
    expect(within(sent).getByTestId("upload-progress")).toHaveAttribute("aria-valuenow", "0");
    expect(c.argsOf("send_files")).toEqual([
      { conversationId: conversation.id, paths: ["/home/me/plan.pdf"], caption: "", replyTo: null },
    ]);
    expect(box.value).toBe("half a sentence");
  });

  it("opens an image in a viewer: the whole image, Save as… and Open; Esc closes it and focus comes back", async () => {
    const photo = image({ downloaded: false });
    const theirs = message({ seq: 1, body: "the harbour", mine: false, sender_id: ada.id, attachments: [photo] });
    const { conversation, messages } = adaChat([theirs]);
    const c = core({
      conversations: [conversation],
      messages,
      handlers: {
        attachment_preview: () => "data:image/jpeg;base64,small",
        open_image: () => "data:image/jpeg;base64,whole",
        download_attachment: () => "/cache/harbour.jpg",
        "plugin:dialog|save": () => "/home/me/Pictures/harbour.jpg",
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const preview = await screen.findByTestId("attachment-preview");
    const opener = preview.closest("button")!;
    await userEvent.click(opener);

    const viewer = await screen.findByTestId("image-viewer");
    expect(viewer).toHaveAttribute("role", "dialog");
    expect(within(viewer).getByRole("heading")).toHaveTextContent("harbour.jpg");
    expect(await within(viewer).findByTestId("viewer-image")).toHaveAttribute("src", "data:image/jpeg;base64,whole");
    expect(c.argsOf("open_image")).toEqual([{ messageId: theirs.id, index: 0 }]);
    expect(within(viewer).getByTestId("viewer-save")).toHaveFocus();

    await userEvent.click(within(viewer).getByTestId("viewer-save"));
    await waitFor(() =>
      expect(c.argsOf("save_attachment")).toEqual([
        { messageId: theirs.id, index: 0, path: "/home/me/Pictures/harbour.jpg" },
      ]),
    );
    await userEvent.click(within(viewer).getByTestId("viewer-open"));
    await waitFor(() => expect(c.argsOf("open_attachment")).toEqual([{ messageId: theirs.id, index: 0 }]));
    // Opening the image downloaded it: Save as… and Open need no download of their own.
    expect(c.count("download_attachment")).toBe(0);

    await userEvent.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByTestId("image-viewer")).toBeNull());
    expect(opener).toHaveFocus();
  });

  /** Ada's image opened in the viewer, its whole image refused with `error`. */
  async function viewerRefused(error: { kind: string; message: string }): Promise<HTMLElement> {
    const theirs = message({ seq: 1, body: "", mine: false, sender_id: ada.id, attachments: [image()] });
    const { conversation, messages } = adaChat([theirs]);
    core({
      conversations: [conversation],
      messages,
      handlers: {
        attachment_preview: () => "data:image/jpeg;base64,small",
        open_image: () => {
          throw error;
        },
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await userEvent.click((await screen.findByTestId("attachment-preview")).closest("button")!);
    return screen.findByTestId("image-viewer");
  }

  it("says in the viewer why the image cannot be shown", async () => {
    const viewer = await viewerRefused({ kind: "offline", message: "the server cannot be reached" });
    expect(await within(viewer).findByRole("alert")).toHaveTextContent("the server cannot be reached");
  });

  it("keeps the preview in the viewer when the image is too large to show whole, and says to Open or Save it", async () => {
    const too = "This image is 30000 × 30000 pixels, too large to show here; Open or Save it";
    const viewer = await viewerRefused({ kind: "image_too_large", message: too });
    expect(await within(viewer).findByRole("alert")).toHaveTextContent(too);
    expect(within(viewer).getByTestId("viewer-preview")).toHaveAttribute("src", "data:image/jpeg;base64,small");
    expect(within(viewer).queryByTestId("viewer-image")).toBeNull();
    expect(within(viewer).getByTestId("viewer-open")).toBeEnabled();
    expect(within(viewer).getByTestId("viewer-save")).toBeEnabled();
  });
});

describe("a file the core does not open", () => {
  function adaChat(messages: LocalMessage[]) {
    const conversation = direct(ada);
    const placed = messages.map((m) => ({ ...m, conversation_id: conversation.id }));
    return { conversation, messages: { [conversation.id]: placed } };
  }

  it("says that no application opens it, and offers Save as… in the notice", async () => {
    const file = attachment({ name: "model.stl", downloaded: true });
    const theirs = message({ seq: 1, body: "", mine: false, sender_id: ada.id, attachments: [file] });
    const { conversation, messages } = adaChat([theirs]);
    const none = "No application on this computer opens .stl files; save it instead";
    const c = core({
      conversations: [conversation],
      messages,
      handlers: {
        open_attachment: () => {
          throw { kind: "no_application", message: none };
        },
        "plugin:dialog|save": () => "/home/me/model.stl",
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await userEvent.click(await screen.findByTestId("attachment-downloaded"));
    const notice = await screen.findByTestId("notice");
    expect(notice).toHaveTextContent(none);
    await userEvent.click(within(notice).getByTestId("notice-action"));
    await waitFor(() =>
      expect(c.argsOf("save_attachment")).toEqual([{ messageId: theirs.id, index: 0, path: "/home/me/model.stl" }]),
    );
    expect(JSON.stringify(c.argsOf("plugin:dialog|save")[0])).toContain("model.stl");
    expect(screen.queryByTestId("notice")).toBeNull();
  });
});

describe("a clicked notification", () => {
  it("opens its conversation, even one the list did not hold yet", async () => {
    const withAda = direct(ada);
    const withGrace = direct(grace, { last_seq: 1, unread_count: 1 });
    const c = core({
      conversations: [withAda],
      messages: { [withGrace.id]: [message({ conversation_id: withGrace.id, seq: 1, body: "ping" })] },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    expect(await screen.findByTestId("thread-title")).toHaveTextContent("Ada Lovelace");

    c.store.conversations = [withGrace, withAda];
    await emit("ferry://open", withGrace.id);
    await waitFor(() => expect(screen.getByTestId("thread-title")).toHaveTextContent("Grace Hopper"));
    expect(await screen.findByText("ping")).toBeInTheDocument();
    // The core hears what is open (and marks it read while the window has focus).
    await waitFor(() =>
      expect(c.argsOf("set_attention").at(-1)).toMatchObject({ openConversation: withGrace.id }),
    );
  });

  it("is ignored for a conversation that does not exist", async () => {
    const withAda = direct(ada);
    core({ conversations: [withAda] });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await emit("ferry://open", "0190a0b0-0000-7000-8000-00000000dead");
    expect(screen.getByTestId("thread-title")).toHaveTextContent("Ada Lovelace");
  });
});

describe("the connection banner", () => {
  it("follows the core's connection events, and Retry now reconnects", async () => {
    const c = core({ conversations: [direct(ada)] });
    render(App);
    await screen.findByTestId("conversation-item");
    expect(screen.queryByTestId("offline-banner")).toBeNull();

    const retryAt = new Date(Date.now() + 30_000).toISOString();
    await connectionEvent({ state: "offline", retry_at: retryAt, reason: null });
    const banner = await screen.findByTestId("offline-banner");
    expect(banner).toHaveTextContent(/^Offline — retrying at/);
    await userEvent.click(within(banner).getByTestId("retry-now"));
    expect(c.count("reconnect_now")).toBe(1);

    await connectionEvent({ state: "connecting" });
    await waitFor(() => expect(screen.getByTestId("offline-banner")).toHaveAttribute("data-retrying", "true"));
    expect(within(screen.getByTestId("offline-banner")).getByTestId("retry-now")).toBeDisabled();
    await connectionEvent({ state: "online" });
    await waitFor(() => expect(screen.getByTestId("offline-banner")).toHaveTextContent("Back online"));
  });
});

describe("presence", () => {
  it("reads as unknown while the app is offline, not as the last-heard Online", async () => {
    const withAda = direct(ada, { members: [member(ME), member(ada, { online: true })] });
    core({ conversations: [withAda], connection: { state: "offline", retry_at: null, reason: null } });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const subtitle = await screen.findByTestId("thread-subtitle");
    expect(subtitle).toHaveTextContent("Online status unknown without a live connection");
    expect(subtitle).not.toHaveTextContent(/^Online$/);
    expect(screen.queryByTestId("presence-dot")).toBeNull();

    await connectionEvent({ state: "online" });
    await waitFor(() => expect(screen.getByTestId("thread-subtitle")).toHaveTextContent(/^Online$/));
    expect(screen.getAllByTestId("presence-dot").length).toBeGreaterThan(0);

    await connectionEvent({ state: "connecting" });
    await waitFor(() => expect(screen.getByTestId("thread-subtitle")).not.toHaveTextContent(/^Online$/));
    expect(screen.queryByTestId("presence-dot")).toBeNull();

    // Polling: connected, but presence does not come without a socket.
    await connectionEvent({ state: "polling", retry_at: null, reason: null });
    await waitFor(() =>
      expect(screen.getByTestId("thread-subtitle")).toHaveTextContent("Online status unknown without a live connection"),
    );
  });

  it("guesses nothing about a stranger's status while a request is pending, either way", async () => {
    const theirs = direct(ada, { request: true, members: [member(ME, { state: "request" }), member(ada)] });
    core({ conversations: [theirs] });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    expect(await screen.findByTestId("thread-subtitle")).toHaveTextContent(/^Message request$/);
    expect(screen.queryByTestId("presence-dot")).toBeNull();
  });

  it("says the other has not accepted yet, rather than offline", async () => {
    const mine = direct(ada, { members: [member(ME), member(ada, { state: "request" })] });
    core({ conversations: [mine] });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    expect(await screen.findByTestId("thread-subtitle")).toHaveTextContent("Hasn't accepted the chat yet");
    expect(screen.queryByTestId("presence-dot")).toBeNull();
  });
});

describe("message requests and blocks", () => {
  /** The core's answer once something changed `id`: its stored summary as `change` says. */
  function changes(c: ReturnType<typeof core>, id: string, change: Partial<ConversationSummary>) {
    c.store.conversations = c.store.conversations.map((x) => (x.id === id ? { ...x, ...change } : x));
    const summary = c.store.conversations.find((x) => x.id === id)!;
    void coreEmits({ type: "conversation", summary });
  }

  it("shows a request's panel in place of the composer, and the composer once accepted", async () => {
    const request = direct(ada, { request: true });
    const c = core({
      conversations: [request],
      messages: { [request.id]: [message({ seq: 1, conversation_id: request.id, body: "hi, a question", mine: false, sender_id: ada.id })] },
      handlers: { accept_request: (args) => changes(c, args.conversationId as string, { request: false }) },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const panel = await screen.findByTestId("request-panel");
    expect(panel).toHaveTextContent("Ada Lovelace wants to message you.");
    // Opened, the stranger's words show; writing waits for Accept.
    expect(await screen.findByText("hi, a question")).toBeInTheDocument();
    expect(screen.queryByTestId("composer")).toBeNull();
    expect(within(panel).getByTestId("block-user")).toBeInTheDocument();
    expect(within(panel).getByTestId("delete-request")).toBeInTheDocument();
    expect(within(panel).getByTestId("report-user")).toBeInTheDocument();

    await userEvent.click(within(panel).getByTestId("accept-request"));
    expect(c.argsOf("accept_request")).toEqual([{ conversationId: request.id }]);
    expect(await screen.findByTestId("composer")).toBeInTheDocument();
    expect(screen.queryByTestId("request-panel")).toBeNull();
    expect(within(item("Ada Lovelace")).queryByTestId("request-badge")).toBeNull();
  });

  it("blocks the stranger of a request after saying what blocking does", async () => {
    const request = direct(ada, { request: true });
    const c = core({
      conversations: [request],
      handlers: { set_blocked: () => changes(c, request.id, { request: false, blocked: true }) },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await userEvent.click(within(await screen.findByTestId("request-panel")).getByTestId("block-user"));
    const dialog = await screen.findByRole("dialog", { name: "Block Ada Lovelace?" });
    expect(dialog).toHaveTextContent(/not be able to start a new conversation with you/);
    expect(c.count("set_blocked")).toBe(0);
    await userEvent.click(within(dialog).getByTestId("confirm-block"));
    expect(c.argsOf("set_blocked")).toEqual([{ userId: ada.id, blocked: true }]);
    expect(await screen.findByTestId("unblock-user")).toBeInTheDocument();
    expect(screen.queryByTestId("request-panel")).toBeNull();
    expect(within(item("Ada Lovelace")).getByTestId("blocked-badge")).toBeInTheDocument();
  });

  it("keeps a blocked stranger's words out of the list, and deletes the blocked chat from it", async () => {
    const last = message({ seq: 1, body: "buy my crypto", mine: false, sender_id: ada.id });
    const blocked = direct(ada, { blocked: true, last_message: { ...last, conversation_id: "" } });
    blocked.last_message!.conversation_id = blocked.id;
    const c = core({
      conversations: [blocked, direct(grace, { updated_at: ago(90) })],
      messages: { [blocked.id]: [blocked.last_message!] },
      handlers: { dismiss_request: (args) => changes(c, args.conversationId as string, { dismissed: true }) },
    });
    render(App);
    const row = await waitFor(() => item("Ada Lovelace"));
    expect(row).not.toHaveTextContent("crypto");
    expect(row).toHaveTextContent("You blocked them");
    await userEvent.click(row);
    await userEvent.click(await screen.findByTestId("delete-blocked"));
    const dialog = await screen.findByTestId("delete-request-dialog");
    expect(dialog).toHaveTextContent(/They stay blocked/);
    await userEvent.click(within(dialog).getByTestId("confirm-delete-request"));
    expect(c.argsOf("dismiss_request")).toEqual([{ conversationId: blocked.id }]);
    await waitFor(() => expect(screen.getAllByTestId("conversation-item").map((el) => el.dataset.name)).toEqual(["Grace Hopper"]));
  });

  it("lists the people this user blocked, from the account menu, and unblocks them there", async () => {
    let blockedNow = [ada, grace];
    const c = core({
      conversations: [direct(grace)],
      handlers: {
        blocked_users: () => blockedNow,
        set_blocked: (args) => {
          blockedNow = blockedNow.filter((u) => u.id !== args.userId);
        },
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("account-menu"));
    await userEvent.click(screen.getByRole("menuitem", { name: /Blocked people/ }));
    const dialog = await screen.findByTestId("blocked-dialog");
    await waitFor(() =>
      expect(within(dialog).getAllByTestId("blocked-person").map((el) => el.dataset.username)).toEqual(["ada", "grace"]),
    );
    const adaRow = within(dialog).getAllByTestId("blocked-person")[0]!;
    await userEvent.click(within(adaRow).getByTestId("unblock-person"));
    expect(c.argsOf("set_blocked")).toEqual([{ userId: ada.id, blocked: false }]);
    await waitFor(() =>
      expect(within(dialog).getAllByTestId("blocked-person").map((el) => el.dataset.username)).toEqual(["grace"]),
    );
    await userEvent.click(within(within(dialog).getAllByTestId("blocked-person")[0]!).getByTestId("unblock-person"));
    expect(await within(dialog).findByTestId("blocked-empty")).toHaveTextContent("You have not blocked anyone.");
  });

  it("reports the stranger of a request, blocking them too unless unticked", async () => {
    const request = direct(ada, { request: true });
    const c = core({ conversations: [request] });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await userEvent.click(within(await screen.findByTestId("request-panel")).getByTestId("report-user"));
    const dialog = await screen.findByRole("dialog", { name: "Report Ada Lovelace" });
    expect(within(dialog).getByTestId("report-block")).toBeChecked();
    await userEvent.type(within(dialog).getByTestId("report-reason"), "spam");
    await userEvent.click(within(dialog).getByTestId("report-submit"));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(c.argsOf("report_user")).toEqual([
      { userId: ada.id, conversationId: request.id, messageId: null, reason: "spam", block: true },
    ]);
  });

  it("offers Accept, Leave and Report (of its owner) for a group request", async () => {
    const team = group("Sailing", [ada, grace], {
      request: true,
      members: [member(ME), member(ada, { role: "owner" }), member(grace)],
    });
    const c = core({ conversations: [team], handlers: { leave_conversation: () => changes(c, team.id, { left: true }) } });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const panel = await screen.findByTestId("request-panel");
    expect(panel).toHaveTextContent("You were added to this group by someone you don't talk to yet.");
    expect(within(panel).queryByTestId("block-user")).toBeNull();
    expect(within(panel).getByTestId("delete-request")).toBeInTheDocument();
    expect(screen.queryByTestId("composer")).toBeNull();

    await userEvent.click(within(panel).getByTestId("report-user"));
    expect(await screen.findByRole("dialog", { name: "Report Ada Lovelace" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));

    await userEvent.click(within(panel).getByTestId("leave-request"));
    await userEvent.click(await screen.findByTestId("confirm-leave"));
    expect(c.argsOf("leave_conversation")).toEqual([{ conversationId: team.id }]);
    expect(await screen.findByText("You left this conversation.")).toBeInTheDocument();
    expect(screen.queryByTestId("request-panel")).toBeNull();
  });

  it("deletes a request on this device only, after saying the stranger won't be told; it comes back if they write again", async () => {
    const request = direct(ada, { request: true, unread_count: 1, updated_at: ago(5) });
    const other = direct(grace, { updated_at: ago(30) });
    const c = core({
      conversations: [request, other],
      handlers: { dismiss_request: (args) => changes(c, args.conversationId as string, { dismissed: true }) },
    });
    render(App);
    await screen.findAllByTestId("conversation-item");
    await userEvent.click(item("Ada Lovelace"));
    const panel = await screen.findByTestId("request-panel");

    // Cancel sends nothing and changes nothing.
    await userEvent.click(within(panel).getByTestId("delete-request"));
    let dialog = await screen.findByRole("dialog", { name: "Delete message request?" });
    expect(dialog).toHaveTextContent(/on this device only/);
    expect(dialog).toHaveTextContent(/Nothing is sent: Ada Lovelace won't be told/);
    expect(dialog).toHaveTextContent(/If Ada Lovelace writes to you again, it comes back as a message request/);
    await userEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(c.count("dismiss_request")).toBe(0);
    expect(screen.getByTestId("request-panel")).toBeInTheDocument();

    await userEvent.click(within(panel).getByTestId("delete-request"));
    dialog = await screen.findByRole("dialog", { name: "Delete message request?" });
    await userEvent.click(within(dialog).getByTestId("confirm-delete-request"));
    expect(c.argsOf("dismiss_request")).toEqual([{ conversationId: request.id }]);
    // Gone from the list, and the thread it was is closed.
    await waitFor(() => expect(screen.getAllByTestId("conversation-item").map((el) => el.dataset.name)).toEqual(["Grace Hopper"]));
    expect(screen.queryByTestId("request-panel")).toBeNull();
    expect(screen.getByText("Choose a conversation, or start a new one.")).toBeInTheDocument();

    // Ada writes again: the request is back in the list (not opened).
    changes(c, request.id, { dismissed: false, updated_at: ago(0), unread_count: 2, last_seq: 2 });
    await waitFor(() =>
      expect(screen.getAllByTestId("conversation-item").map((el) => el.dataset.name)).toEqual(["Ada Lovelace", "Grace Hopper"]),
    );
    expect(within(item("Ada Lovelace")).getByTestId("request-badge")).toBeInTheDocument();
    expect(screen.queryByTestId("request-panel")).toBeNull();
  });

  it("deletes a group request on this device only, saying its members won't be told", async () => {
    const team = group("Sailing", [ada, grace], {
      request: true,
      members: [member(ME), member(ada, { role: "owner" }), member(grace)],
    });
    const c = core({
      conversations: [team],
      handlers: { dismiss_request: () => changes(c, team.id, { dismissed: true }) },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await userEvent.click(within(await screen.findByTestId("request-panel")).getByTestId("delete-request"));
    const dialog = await screen.findByRole("dialog", { name: "Delete message request?" });
    expect(dialog).toHaveTextContent(/its members won't be told, and you stay in the group/);
    expect(dialog).toHaveTextContent(/If someone writes in it again, it comes back as a message request/);
    await userEvent.click(within(dialog).getByTestId("confirm-delete-request"));
    expect(c.argsOf("dismiss_request")).toEqual([{ conversationId: team.id }]);
    expect(c.count("leave_conversation")).toBe(0);
    await waitFor(() => expect(screen.queryByTestId("conversation-item")).toBeNull());
    expect(screen.queryByTestId("thread")).toBeNull();
  });

  it("shows Unblock in a blocked chat's composer's place", async () => {
    const blocked = direct(ada, { blocked: true });
    const c = core({
      conversations: [blocked],
      handlers: { set_blocked: () => changes(c, blocked.id, { blocked: false }) },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    expect(await screen.findByTestId("blocked-note")).toHaveTextContent("You blocked Ada Lovelace.");
    expect(screen.queryByTestId("composer")).toBeNull();
    expect(screen.getByTestId("thread-subtitle")).toHaveTextContent("Blocked");
    // Unblock is offered once, in the composer's place; Report stays in the header.
    expect(screen.queryByTestId("block-user")).toBeNull();
    expect(screen.getByTestId("report-user")).toBeInTheDocument();

    await userEvent.click(screen.getByTestId("unblock-user"));
    expect(c.argsOf("set_blocked")).toEqual([{ userId: ada.id, blocked: false }]);
    expect(await screen.findByTestId("composer")).toBeInTheDocument();
  });

  it("blocks and reports from a direct chat's header; a group's header offers neither", async () => {
    const withAda = direct(ada);
    const c = core({ conversations: [withAda, group("Team", [ada, grace])] });
    render(App);
    await screen.findAllByTestId("conversation-item");
    await userEvent.click(item("Ada Lovelace"));
    await userEvent.click(await screen.findByTestId("report-user"));
    const dialog = await screen.findByRole("dialog", { name: "Report Ada Lovelace" });
    expect(within(dialog).getByTestId("report-block")).not.toBeChecked();
    await userEvent.click(within(dialog).getByTestId("report-submit"));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(c.argsOf("report_user")).toEqual([
      { userId: ada.id, conversationId: withAda.id, messageId: null, reason: "", block: false },
    ]);

    await userEvent.click(screen.getByTestId("block-user"));
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(c.count("set_blocked")).toBe(0);
    await userEvent.click(screen.getByTestId("block-user"));
    await userEvent.click(screen.getByTestId("confirm-block"));
    expect(c.argsOf("set_blocked")).toEqual([{ userId: ada.id, blocked: true }]);

    await userEvent.click(item("Team"));
    await waitFor(() => expect(screen.getByTestId("thread-title")).toHaveTextContent("Team"));
    expect(screen.queryByTestId("block-user")).toBeNull();
    expect(screen.queryByTestId("report-user")).toBeNull();
  });
});

describe("the safety number", () => {
  it("opens from the lock of an encrypted direct chat, and Esc gives focus back to the lock", async () => {
    const withAda = direct(ada, { encrypted: true });
    const digits = safetyDigits(ME.id, ada.id);
    const c = core({
      conversations: [withAda, group("Team", [ada, grace], { encrypted: true })],
      handlers: { safety_number: () => digits },
    });
    render(App);
    await screen.findAllByTestId("conversation-item");
    await userEvent.click(item("Ada Lovelace"));
    const lock = await screen.findByRole("button", { name: "End-to-end encrypted: verify the safety number…" });
    await userEvent.click(lock);
    const dialog = await screen.findByRole("dialog", { name: "Verify safety number with Ada Lovelace" });
    expect(await within(dialog).findByTestId("safety-number")).toHaveAttribute("data-digits", digits);
    expect(within(dialog).getAllByTestId("safety-number-group")).toHaveLength(12);
    expect(c.argsOf("safety_number")).toEqual([{ conversationId: withAda.id, with: ada.id }]);

    await userEvent.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(lock).toHaveFocus();

    // A group's lock only says it is encrypted: verifying is per person.
    await userEvent.click(item("Team"));
    await waitFor(() => expect(screen.getByTestId("thread-title")).toHaveTextContent("Team"));
    expect(screen.getByTestId("encrypted-lock")).not.toHaveRole("button");
    expect(screen.queryByRole("button", { name: /safety number/ })).toBeNull();
  });

  it("warns of a changed safety number until it is looked at, from the warning's Verify", async () => {
    const withAda = direct(ada, { encrypted: true, devices_changed: [ada.id] });
    const digits = safetyDigits(ME.id, ada.id);
    const c = core({
      conversations: [withAda],
      handlers: {
        // As the core does: reading the number clears the warning, and the summary follows.
        safety_number: (args) => {
          c.store.conversations = c.store.conversations.map((x) =>
            x.id === args.conversationId
              ? { ...x, devices_changed: x.devices_changed.filter((id) => id !== args.with) }
              : x,
          );
          void coreEmits({ type: "conversation", summary: c.store.conversations[0]! });
          return digits;
        },
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const notice = await screen.findByTestId("devices-changed");
    expect(notice).toHaveTextContent("Your safety number with Ada Lovelace changed");
    expect(c.count("safety_number")).toBe(0);

    await userEvent.click(within(notice).getByRole("button", { name: "Verify safety number with Ada Lovelace" }));
    const dialog = await screen.findByRole("dialog", { name: "Verify safety number with Ada Lovelace" });
    expect(await within(dialog).findByTestId("safety-number")).toHaveAttribute("data-digits", digits);
    expect(c.argsOf("safety_number")).toEqual([{ conversationId: withAda.id, with: ada.id }]);
    await waitFor(() => expect(screen.queryByTestId("devices-changed")).toBeNull());

    // The warning and its button are gone: focus comes back to the lock beside the name.
    await userEvent.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(screen.getByTestId("encrypted-lock")).toHaveFocus();
  });

  it("opens a group member's number from the member list, which comes back as the number closes", async () => {
    const team = group("Team", [ada, grace], { encrypted: true });
    const c = core({
      conversations: [team],
      handlers: { safety_number: (args) => safetyDigits(ME.id, args.with as string) },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const members = await screen.findByRole("button", { name: "Members" });
    await userEvent.click(members);
    const list = await screen.findByRole("dialog", { name: "Members of Team" });
    // Not for this user's own row.
    expect(within(list).getAllByTestId("verify-member").map((b) => b.dataset.userId)).toEqual([ada.id, grace.id]);

    await userEvent.click(within(list).getByRole("button", { name: "Verify safety number with Grace Hopper" }));
    const dialog = await screen.findByRole("dialog", { name: "Verify safety number with Grace Hopper" });
    expect(await within(dialog).findByTestId("safety-number")).toHaveAttribute(
      "data-digits",
      safetyDigits(ME.id, grace.id),
    );
    expect(c.argsOf("safety_number")).toEqual([{ conversationId: team.id, with: grace.id }]);
    // One dialog at a time (each takes Esc): the list gave way to the number.
    expect(screen.getAllByRole("dialog")).toEqual([dialog]);

    await userEvent.keyboard("{Escape}");
    const again = await screen.findByRole("dialog", { name: "Members of Team" });
    await waitFor(() =>
      expect(within(again).getByRole("button", { name: "Verify safety number with Grace Hopper" })).toHaveFocus(),
    );
    await userEvent.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(members).toHaveFocus();
  });

  it("leads from a group's warning to the members whose numbers changed, each cleared once looked at", async () => {
    const team = group("Team", [ada, grace], { encrypted: true, devices_changed: [ada.id, grace.id] });
    const c = core({
      conversations: [team],
      handlers: {
        // As the core does: reading a number clears its warning, and the summary follows.
        safety_number: (args) => {
          c.store.conversations = c.store.conversations.map((x) =>
            x.id === args.conversationId
              ? { ...x, devices_changed: x.devices_changed.filter((id) => id !== args.with) }
              : x,
          );
          void coreEmits({ type: "conversation", summary: c.store.conversations[0]! });
          return safetyDigits(ME.id, args.with as string);
        },
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const notice = await screen.findByTestId("devices-changed");
    expect(notice).toHaveTextContent("Safety numbers changed: Ada Lovelace, Grace Hopper");

    await userEvent.click(within(notice).getByRole("button", { name: "Verify safety numbers…" }));
    const list = await screen.findByRole("dialog", { name: "Members of Team" });
    const marked = () =>
      within(screen.getByTestId("group-members-dialog"))
        .getAllByTestId("group-member")
        .filter((row) => within(row).queryByTestId("member-changed"))
        .map((row) => row.dataset.userId);
    expect(marked()).toEqual([ada.id, grace.id]);
    expect(c.count("safety_number")).toBe(0);

    await userEvent.click(within(list).getByRole("button", { name: "Verify safety number with Ada Lovelace" }));
    const ofAda = await screen.findByRole("dialog", { name: "Verify safety number with Ada Lovelace" });
    expect(await within(ofAda).findByTestId("safety-number")).toHaveAttribute("data-digits", safetyDigits(ME.id, ada.id));
    await waitFor(() =>
      expect(screen.getByTestId("devices-changed")).toHaveTextContent("Your safety number with Grace Hopper changed"),
    );
    await userEvent.keyboard("{Escape}");
    await screen.findByRole("dialog", { name: "Members of Team" });
    expect(marked()).toEqual([grace.id]);
    await userEvent.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());

    // One left: the warning's Verify opens that member's number itself.
    await userEvent.click(
      within(screen.getByTestId("devices-changed")).getByRole("button", { name: "Verify safety number with Grace Hopper" }),
    );
    const ofGrace = await screen.findByRole("dialog", { name: "Verify safety number with Grace Hopper" });
    expect(await within(ofGrace).findByTestId("safety-number")).toHaveAttribute(
      "data-digits",
      safetyDigits(ME.id, grace.id),
    );
    expect(c.argsOf("safety_number")).toEqual([
      { conversationId: team.id, with: ada.id },
      { conversationId: team.id, with: grace.id },
    ]);
    await waitFor(() => expect(screen.queryByTestId("devices-changed")).toBeNull());
    // The warning is gone with its button: focus comes back to Members.
    await userEvent.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(screen.getByTestId("group-members")).toHaveFocus();
  });
});

describe("keyboard and dialogs", () => {
  it("gives a right-click on a message no page menu and ignores F5, keeping the composer's menu", async () => {
    const chat1 = direct(ada, { last_seq: 1 });
    core({ conversations: [chat1], messages: { [chat1.id]: [message({ conversation_id: chat1.id })] } });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const bubble = await screen.findByTestId("message");
    expect(await fireEvent.contextMenu(bubble)).toBe(false);
    expect(await fireEvent.contextMenu(screen.getByTestId("composer"))).toBe(true);
    expect(await fireEvent.keyDown(bubble, { key: "F5" })).toBe(false);
    expect(await fireEvent.keyDown(bubble, { key: "r", ctrlKey: true })).toBe(false);
  });

  it("opens the quick switcher with Ctrl+K and a conversation with Enter", async () => {
    const c = core({ conversations: [direct(ada), direct(grace)], messages: {} });
    render(App);
    await screen.findAllByTestId("conversation-item");
    await userEvent.keyboard("{Control>}k{/Control}");
    const input = await screen.findByTestId("quick-switcher-input");
    await userEvent.type(input, "grace{Enter}");
    await waitFor(() => expect(item("Grace Hopper")).toHaveAttribute("aria-selected", "true"));
    expect(screen.queryByTestId("quick-switcher")).toBeNull();
    expect(c.argsOf("messages")[0]).toMatchObject({ conversationId: c.store.conversations[1]!.id });
  });

  it("closes the quick switcher with Esc", async () => {
    core({ conversations: [direct(ada)] });
    render(App);
    await screen.findByTestId("conversation-item");
    await userEvent.keyboard("{Control>}k{/Control}");
    await screen.findByTestId("quick-switcher");
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByTestId("quick-switcher")).toBeNull();
  });

  it("starts a direct chat from the new chat dialog", async () => {
    const chatWithGrace = direct(grace);
    const c = core({
      conversations: [],
      handlers: {
        find_users: () => [grace],
        open_direct: () => {
          c.store.conversations = [chatWithGrace];
          return chatWithGrace.id;
        },
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("new-chat"));
    const dialog = await screen.findByRole("dialog", { name: "New chat" });
    expect(dialog).toHaveAttribute("aria-modal", "true");
    await userEvent.type(within(dialog).getByTestId("user-search"), "gra");
    await userEvent.click(await within(dialog).findByTestId("user-result"));
    expect(c.argsOf("find_users").at(-1)).toEqual({ prefix: "gra" });
    expect(c.argsOf("open_direct")).toEqual([{ username: "grace" }]);
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(await screen.findByTestId("thread-title")).toHaveTextContent("Grace Hopper");
  });

  it("creates a group with a title and several people", async () => {
    const c = core({
      conversations: [],
      handlers: {
        find_users: (args) => [ada, grace].filter((u) => u.username.startsWith(args.prefix as string)),
        create_group: () => "new-group",
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("new-chat"));
    await userEvent.click(await screen.findByTestId("new-group"));
    await userEvent.type(screen.getByTestId("group-title"), "Pioneers");
    await userEvent.type(screen.getByTestId("user-search"), "ada");
    await userEvent.click(await screen.findByTestId("user-result"));
    await userEvent.clear(screen.getByTestId("user-search"));
    await userEvent.type(screen.getByTestId("user-search"), "grace");
    await waitFor(() => expect(screen.getByTestId("user-result")).toHaveAttribute("data-username", "grace"));
    await userEvent.click(screen.getByTestId("user-result"));
    await userEvent.click(screen.getByTestId("create-group"));
    expect(c.argsOf("create_group")).toEqual([{ title: "Pioneers", memberIds: [ada.id, grace.id] }]);
  });

  it("asks the server only once a search has two characters (it refuses shorter ones)", async () => {
    const c = core({
      handlers: {
        find_users: (args) => [ada, grace].filter((u) => u.username.startsWith(args.prefix as string)),
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("new-chat"));
    await userEvent.type(await screen.findByTestId("user-search"), "a");
    expect(await screen.findByTestId("user-search-hint")).toHaveTextContent("Type at least 2 characters");
    expect(c.argsOf("find_users")).toEqual([]);
    await userEvent.type(screen.getByTestId("user-search"), "d");
    await waitFor(() => expect(screen.getByTestId("user-result")).toHaveAttribute("data-username", "ada"));
    expect(c.argsOf("find_users")).toEqual([{ prefix: "ad" }]);
  });

  it("shows why finding people failed", async () => {
    core({
      handlers: {
        find_users: () => {
          throw { kind: "offline", message: "the server cannot be reached" };
        },
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("new-chat"));
    await userEvent.type(await screen.findByTestId("user-search"), "xy");
    expect(await screen.findByTestId("user-search-error")).toHaveTextContent("the server cannot be reached");
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).toBeNull();
  });
});

describe("search", () => {
  it("finds messages everywhere and opens the conversation at the hit", async () => {
    const conversation = direct(ada, { last_seq: 1 });
    const found = message({ seq: 1, conversation_id: conversation.id, body: "the ferry leaves at noon" });
    const hit: SearchHit = {
      message_id: found.id,
      conversation_id: conversation.id,
      seq: 1,
      sender_id: ME.id,
      snippet: "the \u0002ferry\u0003 leaves at noon",
      created_at: found.created_at,
    };
    const c = core({
      conversations: [conversation],
      messages: { [conversation.id]: [found] },
      handlers: { search: () => [hit] },
    });
    render(App);
    await userEvent.type(await screen.findByTestId("search-input"), "ferry");
    const result = await screen.findByTestId("search-result");
    expect(c.argsOf("search").at(-1)).toEqual({ query: "ferry", limit: 50 });
    expect(result.querySelector("mark")).toHaveTextContent("ferry");
    expect(screen.queryByTestId("conversation-item")).toBeNull();

    await userEvent.click(result);
    const shown = await screen.findByTestId("message");
    expect(shown).toHaveAttribute("data-id", found.id);
    await waitFor(() => expect(shown).toHaveClass("highlighted"));

    await userEvent.type(screen.getByTestId("search-input"), "{Escape}");
    expect(await screen.findByTestId("conversation-item")).toBeInTheDocument();
  });

  it("names and opens a hit in a conversation below the pages read", async () => {
    const quiet = Array.from({ length: 150 }, (_, i) => direct(grace, { name: `Person ${i}`, updated_at: ago(i) }));
    const old = group("Engine club", [ada], { updated_at: ago(10_000), last_seq: 1 });
    const found = message({ seq: 1, conversation_id: old.id, body: "the engine runs", mine: false, sender_id: ada.id });
    const hit: SearchHit = {
      message_id: found.id,
      conversation_id: old.id,
      seq: 1,
      sender_id: ada.id,
      snippet: "the \u0002engine\u0003 runs",
      created_at: found.created_at,
    };
    core({
      conversations: [...quiet, old],
      messages: { [old.id]: [found] },
      handlers: { search: () => [hit] },
    });
    render(App);
    await userEvent.type(await screen.findByTestId("search-input"), "engine");
    const result = await screen.findByTestId("search-result");
    expect(result).toHaveTextContent("Engine club");
    expect(result).toHaveTextContent("Ada Lovelace:");

    await userEvent.click(result);
    expect(await screen.findByTestId("thread-title")).toHaveTextContent("Engine club");
    expect(await screen.findByTestId("message")).toHaveAttribute("data-id", found.id);
  });
});

describe("profile pictures", () => {
  const picture = (n: number) => `00000000-0000-7000-8000-0000000000${String(n).padStart(2, "0")}`;
  const urlOf = (id: unknown) => `data:image/jpeg;base64,${String(id).slice(-2)}`;
  const pictured = (u: User, n: number): User => ({ ...u, picture: picture(n) });

  function avatarOf(el: HTMLElement): HTMLElement {
    const avatar = el.querySelector<HTMLElement>(".avatar");
    if (!avatar) throw new Error("no avatar");
    return avatar;
  }

  it("show in the list, the thread's header, the account menu and found people, once fetched", async () => {
    const adaPictured = pictured(ada, 1);
    const withAda = direct(adaPictured, { updated_at: ago(1) });
    const team = group("Team", [adaPictured, pictured(grace, 2)], { updated_at: ago(2) });
    const c = core({
      me: pictured(ME, 3),
      conversations: [withAda, team],
      handlers: { user_picture: (args) => urlOf(args.picture), find_users: () => [adaPictured, grace] },
    });
    render(App);
    await screen.findAllByTestId("conversation-item");
    const adaRow = item("Ada Lovelace");
    await waitFor(() => expect(within(adaRow).getByTestId("avatar-picture")).toHaveAttribute("src", urlOf(picture(1))));
    // A group keeps its initials, whoever in it has a picture.
    expect(within(item("Team")).queryByTestId("avatar-picture")).toBeNull();
    expect(avatarOf(item("Team"))).toHaveTextContent("T");
    const menu = screen.getByTestId("account-menu");
    await waitFor(() => expect(within(menu).getByTestId("avatar-picture")).toHaveAttribute("src", urlOf(picture(3))));

    await userEvent.click(adaRow);
    const header = (await screen.findByTestId("thread-title")).closest("header")!;
    expect(within(header).getByTestId("avatar-picture")).toHaveAttribute("src", urlOf(picture(1)));

    await userEvent.click(screen.getByTestId("new-chat"));
    await userEvent.type(await screen.findByTestId("user-search"), "ad");
    const results = await screen.findAllByTestId("user-result");
    await waitFor(() => expect(within(results[0]!).getByTestId("avatar-picture")).toBeInTheDocument());
    expect(within(results[1]!).queryByTestId("avatar-picture")).toBeNull();
    // Each picture asked for once, however many places show it; Grace's never (only in the group).
    expect(c.argsOf("user_picture").map((args) => args.picture).sort()).toEqual([picture(1), picture(3)]);
  });

  it("follow a contact's new picture, and hold back a stranger's while their request waits", async () => {
    const withAda = direct(pictured(ada, 1), { updated_at: ago(1) });
    const request = direct(pictured(grace, 2), { request: true, updated_at: ago(2) });
    const c = core({ conversations: [withAda, request], handlers: { user_picture: (args) => urlOf(args.picture) } });
    render(App);
    await waitFor(() => expect(within(item("Ada Lovelace")).getByTestId("avatar-picture")).toBeInTheDocument());
    expect(within(item("Grace Hopper")).queryByTestId("avatar-picture")).toBeNull();

    const newer = { ...withAda, members: [member(ME), member(pictured(ada, 4))] };
    await coreEmits({ type: "conversation", summary: newer });
    await waitFor(() =>
      expect(within(item("Ada Lovelace")).getByTestId("avatar-picture")).toHaveAttribute("src", urlOf(picture(4))),
    );
    // Removed: the initials again.
    await coreEmits({ type: "conversation", summary: { ...withAda, members: [member(ME), member(ada)] } });
    await waitFor(() => expect(within(item("Ada Lovelace")).queryByTestId("avatar-picture")).toBeNull());
    expect(avatarOf(item("Ada Lovelace"))).toHaveTextContent("AL");
    expect(c.argsOf("user_picture")).toEqual([{ picture: picture(1) }, { picture: picture(4) }]);
  });
});
