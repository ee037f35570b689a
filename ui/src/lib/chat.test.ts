// The store against a mocked core: each event puts what it carries in place (no re-read
// of the list or the thread), `resync` re-reads everything, and failures are told apart
// by their typed kind.
import { waitFor } from "@testing-library/svelte";
import { emit } from "@tauri-apps/api/event";
import { describe, expect, it, vi } from "vitest";
import type { ConnectionState } from "./bindings/ConnectionState";
import type { ConversationSummary } from "./bindings/ConversationSummary";
import type { ListPosition } from "./bindings/ListPosition";
import type { LocalMessage } from "./bindings/LocalMessage";
import type { User } from "./bindings/User";
import { Chat } from "./chat.svelte";
import { LIST_PAGE } from "./chat/list.svelte";
import { errorMessage } from "./chat/notice.svelte";
import { Pictures } from "./chat/pictures.svelte";
import { Session } from "./chat/session.svelte";
import { HELD_AT_END, JUMP_HIGHLIGHT_MS, KEPT_AT_END } from "./chat/thread.svelte";
import {
  account,
  ago,
  attachment,
  coreEmits,
  direct,
  group,
  image,
  listPage,
  ME,
  member,
  message,
  mockCore,
  sessionInfo,
  user,
  type Handlers,
} from "../test/fixtures";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");

/** A started store with `list` and the first conversation's `thread` open. */
async function opened(list: ConversationSummary[], thread: LocalMessage[] = [], handlers: Handlers = {}) {
  const store = {
    me: ME as User | null,
    list,
    thread,
    connection: { state: "online" } as ConnectionState,
  };
  const core = mockCore({
    session: () => ({ user: store.me, connection: store.connection }),
    conversations: (args) => listPage(store.list, args),
    messages: () => store.thread,
    conversation: (args) => store.list.find((c) => c.id === args.conversationId) ?? null,
    ...handlers,
  });
  const chat = new Chat();
  await chat.start();
  await chat.thread.open(list[0]!.id);
  return { chat, core, store };
}

function reads(core: ReturnType<typeof mockCore>) {
  return { list: core.count("conversations"), thread: core.count("messages") };
}

describe("events carry what changed", () => {
  it("a conversation event replaces that one summary and re-sorts, without re-reading", async () => {
    const withAda = direct(ada, { updated_at: ago(10) });
    const withGrace = direct(grace, { updated_at: ago(5) });
    const { chat, core } = await opened([withAda, withGrace]);
    expect(chat.list.conversations.map((c) => c.id)).toEqual([withGrace.id, withAda.id]);
    const before = reads(core);

    const newer = { ...withAda, updated_at: ago(0), unread_count: 2, last_seq: 2 };
    await coreEmits({ type: "conversation", summary: newer });
    expect(chat.list.conversations.map((c) => c.id)).toEqual([withAda.id, withGrace.id]);
    expect(chat.list.conversations[0]).toEqual(newer);
    // A summary of a conversation the list did not hold yet is added.
    const withBoth = direct(user("Alan Turing"), { updated_at: ago(1) });
    await coreEmits({ type: "conversation", summary: withBoth });
    expect(chat.list.conversations.map((c) => c.id)).toEqual([withAda.id, withBoth.id, withGrace.id]);
    expect(reads(core)).toEqual(before);
  });

  it("a message event puts one message in the open thread, in seq order, pending ones last", async () => {
    const chat1 = direct(ada, { last_seq: 3 });
    const at = (seq: number | null, extra: Partial<LocalMessage> = {}) =>
      message({ conversation_id: chat1.id, seq, body: `s${seq}`, ...extra });
    const one = at(1);
    const three = at(3);
    const pending = at(null, { status: "pending", body: "on its way" });
    const { chat, core } = await opened([chat1], [one, three, pending]);
    await waitFor(() => expect(chat.thread.messages).toHaveLength(3));
    const before = reads(core);

    // A late one fills the gap; a new one goes after the sent ones, before the pending.
    const two = at(2);
    const four = at(4);
    await coreEmits({ type: "message", message: four });
    await coreEmits({ type: "message", message: two });
    expect(chat.thread.messages.map((m) => m.body)).toEqual(["s1", "s2", "s3", "s4", "on its way"]);

    // The pending one is acked: it moves to its seq; a status change stays in place.
    const acked = { ...pending, seq: 5, status: "sent" as const };
    await coreEmits({ type: "message", message: acked });
    await coreEmits({ type: "message", message: { ...three, status: "read" } });
    expect(chat.thread.messages.map((m) => [m.body, m.status])).toEqual([
      ["s1", "sent"],
      ["s2", "sent"],
      ["s3", "read"],
      ["s4", "sent"],
      ["on its way", "sent"],
    ]);

    // Another conversation's message does not touch the open thread.
    await coreEmits({ type: "message", message: message({ conversation_id: "elsewhere", seq: 9 }) });
    expect(chat.thread.messages).toHaveLength(5);
    expect(reads(core)).toEqual(before);
  });

  it("keeps a sent reply sent when the send's answer (pending) comes after its ack and receipt", async () => {
    const chat1 = direct(ada, { last_seq: 1 });
    const theirs = message({ conversation_id: chat1.id, seq: 1, mine: false, sender_id: ada.id, body: "question" });
    let sentCopy: LocalMessage | null = null;
    const { chat } = await opened([chat1], [theirs], {
      // The core stores the reply, the engine sends it and the ack and Bob's receipt come
      // back, all before the command's answer reaches the window.
      send_message: async (args) => {
        const pending = message({
          conversation_id: chat1.id,
          seq: null,
          status: "pending",
          body: args.body as string,
          reply_to: args.replyTo as string,
        });
        await coreEmits({ type: "message", message: pending });
        sentCopy = { ...pending, seq: 2, status: "delivered" };
        await coreEmits({ type: "message", message: sentCopy });
        return pending;
      },
    });
    await waitFor(() => expect(chat.thread.messages).toHaveLength(1));
    chat.compose.startReply(theirs);
    expect(await chat.compose.send("answer")).toBe(true);
    expect(chat.thread.messages.map((m) => [m.body, m.seq, m.status])).toEqual([
      ["question", 1, "sent"],
      ["answer", 2, "delivered"],
    ]);
  });

  it("typing and presence patch the summaries that show them", async () => {
    const withAda = direct(ada);
    const team = direct(grace, { members: [member(ME), member(grace), member(ada)] });
    const { chat, core } = await opened([withAda, team]);
    const before = reads(core);

    await coreEmits({ type: "typing", conversation_id: team.id, typing: [ada.id, grace.id] });
    expect(chat.list.conversations.find((c) => c.id === team.id)?.typing).toEqual([ada.id, grace.id]);
    expect(chat.list.conversations.find((c) => c.id === withAda.id)?.typing).toEqual([]);

    await coreEmits({
      type: "presence",
      presence: { user_id: ada.id, online: true, last_seen: null },
    });
    for (const c of chat.list.conversations) {
      expect(c.members.find((m) => m.user.id === ada.id)?.online).toBe(true);
      expect(c.members.find((m) => m.user.id === ME.id)?.online).toBe(false);
    }
    expect(reads(core)).toEqual(before);
  });

  it("a profile event shows the signed-in user as they are now, without re-reading", async () => {
    const { chat, core } = await opened([direct(ada)]);
    const before = reads(core);

    const renamed = { ...ME, display_name: "Me, renamed elsewhere" };
    await coreEmits({ type: "profile", user: renamed });
    expect(chat.session.me).toEqual(renamed);
    expect(reads(core)).toEqual(before);
  });

  it("re-reads the open thread only when the others' watermarks move (statuses follow them)", async () => {
    const withAda = direct(ada, { last_seq: 1 });
    const mine = message({ conversation_id: withAda.id, seq: 1, status: "sent" });
    const { chat, core, store } = await opened([withAda], [mine]);
    await waitFor(() => expect(chat.thread.messages).toHaveLength(1));
    const before = reads(core);

    // Only my own watermark moved (sending does that): no status can change.
    const selfRead = {
      ...withAda,
      members: [member(ME, { read_seq: 1, delivered_seq: 1 }), member(ada)],
    };
    await coreEmits({ type: "conversation", summary: selfRead });
    expect(reads(core)).toEqual(before);

    // Ada read it: the receipt, then the summary with her new watermarks.
    store.thread = [{ ...mine, status: "read" }];
    await coreEmits({ type: "receipt", conversation_id: withAda.id, user_id: ada.id, read_seq: 1, delivered_seq: 1 });
    await coreEmits({
      type: "conversation",
      summary: { ...selfRead, members: [selfRead.members[0]!, member(ada, { read_seq: 1, delivered_seq: 1 })] },
    });
    await waitFor(() => expect(chat.thread.messages[0]?.status).toBe("read"));
    expect(reads(core)).toEqual({ list: before.list, thread: before.thread + 1 });
  });

  it("marks the open conversation read when its summary says something new arrived", async () => {
    const withAda = direct(ada);
    const { chat, core } = await opened([withAda]);
    chat.thread.setFocused(true);
    await coreEmits({ type: "conversation", summary: { ...withAda, last_seq: 1, unread_count: 1 } });
    expect(core.argsOf("mark_read")).toEqual([{ conversationId: withAda.id }]);
  });

  it("saves drafts and discards messages in place", async () => {
    const withAda = direct(ada);
    const failed = message({ conversation_id: withAda.id, seq: null, status: "failed" });
    const { chat, core } = await opened([withAda], [failed]);
    await waitFor(() => expect(chat.thread.messages).toHaveLength(1));
    const before = reads(core);

    await chat.list.saveDraft(withAda.id, "later");
    expect(chat.list.conversations[0]?.draft).toBe("later");
    await chat.list.saveDraft(withAda.id, "");
    expect(chat.list.conversations[0]?.draft).toBeNull();
    await chat.compose.discard(failed.id);
    expect(chat.thread.messages).toEqual([]);
    expect(core.argsOf("set_draft")).toEqual([
      { conversationId: withAda.id, body: "later" },
      { conversationId: withAda.id, body: "" },
    ]);
    expect(reads(core)).toEqual(before);
  });
});

describe("the list, a page at a time", () => {
  /**
   * A core holding 1,250 conversations (twelve full pages and a short one). Three share
   * each minute, so ties in activity (ordered by id) fall across page edges.
   */
  async function large() {
    const all = Array.from({ length: 1_250 }, (_, i) =>
      direct(ada, { name: `Person ${i}`, updated_at: ago(10 + Math.floor(i / 3)) }),
    );
    const store = { me: ME as User | null, list: all };
    const core = mockCore({
      session: () => ({ user: store.me, connection: { state: "online" } }),
      conversations: (args) => listPage(store.list, args),
      conversation: (args) => store.list.find((c) => c.id === args.conversationId) ?? null,
      messages: () => [],
      sign_in: () => {
        store.me = ME;
        return ME;
      },
    });
    const chat = new Chat();
    await chat.start();
    /** The whole list in the core's order. */
    const sorted = () => {
      const whole: ConversationSummary[] = [];
      for (let page = listPage(store.list, {}); page.length > 0; page = listPage(store.list, { after: at(page.at(-1)!) })) {
        whole.push(...page);
      }
      return whole;
    };
    return { chat, core, store, sorted };
  }
  const at = (c: ConversationSummary): ListPosition => ({ updated_at: c.updated_at, id: c.id });
  const ids = (list: readonly ConversationSummary[]) => list.map((c) => c.id);
  async function loadAll(chat: Chat) {
    for (let i = 0; i < 20 && chat.list.hasMore; i++) await chat.list.loadMore();
  }

  it("reads one page first, then the next below the last row, until a short page, and no more", async () => {
    const { chat, core, sorted } = await large();
    expect(core.argsOf("conversations")).toEqual([{ after: null, limit: LIST_PAGE }]);
    expect(ids(chat.list.conversations)).toEqual(ids(sorted().slice(0, LIST_PAGE)));
    expect(chat.list.hasMore).toBe(true);

    await loadAll(chat);
    const asks = core.argsOf("conversations");
    expect(asks).toHaveLength(13);
    for (let page = 1; page < 13; page++) {
      expect(asks[page]).toEqual({ after: at(sorted()[page * LIST_PAGE - 1]!), limit: LIST_PAGE });
    }
    expect(chat.list.hasMore).toBe(false);
    // The store's order and the UI's agree, ties included.
    expect(ids(chat.list.conversations)).toEqual(ids(sorted()));

    await chat.list.loadMore();
    expect(core.count("conversations")).toBe(13);
  });

  it("never reads two pages at once", async () => {
    const { chat, core } = await large();
    await Promise.all([chat.list.loadMore(), chat.list.loadMore()]);
    expect(core.count("conversations")).toBe(2);
    expect(chat.list.conversations).toHaveLength(2 * LIST_PAGE);
  });

  it("holds a conversation once when an event brought it before its page", async () => {
    const { chat, sorted } = await large();
    const deep = sorted()[700]!;
    // As stored (not moved): it sorts below the rows read and waits there for its page.
    await coreEmits({ type: "conversation", summary: { ...deep, notify: "none" } });
    // Newer than this (stale) core's copy: the event's summary must win over the page's.
    const moved = { ...sorted()[900]!, updated_at: ago(0), unread_count: 5 };
    await coreEmits({ type: "conversation", summary: moved });
    expect(chat.list.conversations[0]).toEqual(moved);

    await loadAll(chat);
    expect(new Set(ids(chat.list.conversations)).size).toBe(1_250);
    expect(chat.list.conversations).toHaveLength(1_250);
    expect(chat.list.conversations[0]).toEqual(moved);
    expect(chat.list.conversations.find((c) => c.id === deep.id)?.notify).toBe("all");
    const withoutMoved = sorted().filter((c) => c.id !== moved.id);
    expect(ids(chat.list.conversations.slice(1))).toEqual(ids(withoutMoved));
  });

  it("re-reads on resync as many rows as were paged in, new ones on top counted", async () => {
    const { chat, core, store } = await large();
    await chat.list.loadMore();
    await chat.list.loadMore();
    const fresh = direct(grace, { updated_at: ago(0) });
    store.list = [...store.list, fresh];
    await coreEmits({ type: "conversation", summary: fresh });
    const before = core.count("conversations");

    await coreEmits({ type: "resync" });
    await waitFor(() => expect(core.count("conversations")).toBe(before + 1));
    expect(core.argsOf("conversations").at(-1)).toEqual({ after: null, limit: 3 * LIST_PAGE + 1 });
    await waitFor(() => expect(chat.list.conversations).toHaveLength(3 * LIST_PAGE + 1));
    expect(chat.list.hasMore).toBe(true);
    // Paging goes on below the rows re-read.
    await chat.list.loadMore();
    expect(core.argsOf("conversations").at(-1)).toEqual({
      after: at(listPage(store.list, { limit: 301 })[300]!),
      limit: LIST_PAGE,
    });
  });

  it("re-reads more than one call allows in several, and keeps the open conversation", async () => {
    const { chat, core, sorted } = await large();
    for (let i = 0; i < 5; i++) await chat.list.loadMore();
    const deep = sorted()[1_100]!;
    await chat.thread.open(deep.id);
    expect(chat.thread.conversation?.id).toBe(deep.id);
    const before = core.count("conversations");

    await coreEmits({ type: "resync" });
    await waitFor(() => expect(core.count("conversations")).toBe(before + 2));
    const [first, second] = core.argsOf("conversations").slice(before);
    expect(first).toEqual({ after: null, limit: 500 });
    expect(second).toEqual({ after: at(sorted()[499]!), limit: 100 });
    await waitFor(() => expect(chat.list.conversations).toHaveLength(601));
    expect(chat.thread.conversation?.id).toBe(deep.id);
  });

  it("opens a conversation below the rows read (a search hit, a notification)", async () => {
    const { chat, core, sorted } = await large();
    const deep = sorted()[1_000]!;
    await chat.thread.open(deep.id);
    expect(core.argsOf("conversation")).toEqual([{ conversationId: deep.id }]);
    expect(chat.thread.conversation?.id).toBe(deep.id);
    await loadAll(chat);
    expect(chat.list.conversations.filter((c) => c.id === deep.id)).toHaveLength(1);

    // One this device does not know is not opened.
    await chat.thread.open("0190a0b0-0000-7000-8000-00000000dead");
    expect(chat.thread.openId).toBe(deep.id);
  });

  it("starts again from the top after signing out", async () => {
    const { chat, core } = await large();
    await chat.list.loadMore();
    await chat.session.signOut();
    expect(chat.list.conversations).toEqual([]);
    expect(chat.list.hasMore).toBe(false);
    const before = core.count("conversations");
    await chat.list.loadMore();
    expect(core.count("conversations")).toBe(before);

    await chat.signIn("http://x", "me", "pw");
    expect(core.argsOf("conversations").at(-1)).toEqual({ after: null, limit: LIST_PAGE });
    expect(chat.list.conversations).toHaveLength(LIST_PAGE);
  });
});

describe("a conversation heard while the list is read", () => {
  /** Every list the store's `conversations` is set to from now on, as it is set. */
  function setsOf(list: object): ConversationSummary[][] {
    const set: ConversationSummary[][] = [];
    const field = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(list), "conversations")!;
    Object.defineProperty(list, "conversations", {
      get: () => field.get!.call(list),
      set: (value: ConversationSummary[]) => {
        set.push(value);
        field.set!.call(list, value);
      },
    });
    return set;
  }

  it("never leaves the list, not even for the moment the read lands without it", async () => {
    // The first read finds nothing; the re-read (a resync's) is answered when the test
    // says, with what the core held when it read: still nothing.
    let answer: (rows: ConversationSummary[]) => void = () => {};
    let reads = 0;
    const core = mockCore({
      session: () => ({ user: ME, connection: { state: "online" } }),
      conversations: () => (++reads === 1 ? [] : new Promise<ConversationSummary[]>((r) => (answer = r))),
      messages: () => [],
    });
    const chat = new Chat();
    await chat.start();
    const set = setsOf(chat.list);
    const reread = chat.list.refresh();
    await waitFor(() => expect(core.count("conversations")).toBe(2));

    // Ada's new chat is stored and heard after the core read the list.
    const withAda = direct(ada, { updated_at: ago(0) });
    await coreEmits({ type: "conversation", summary: withAda });
    expect(chat.list.conversations.map((c) => c.id)).toEqual([withAda.id]);
    answer([]);
    await reread;

    expect(chat.list.conversations.map((c) => c.id)).toEqual([withAda.id]);
    expect(
      set.map((list) => list.map((c) => c.id)),
      "each list set from the event on holds it",
    ).toEqual(set.map(() => [withAda.id]));
  });
});

describe("a long scroll-back", () => {
  it("is let go beyond the latest pages once the reader is back at the end", async () => {
    const withAda = direct(ada, { last_seq: 600 });
    const history = Array.from({ length: 600 }, (_, i) =>
      message({ conversation_id: withAda.id, seq: i + 1, body: `n${i + 1}` }),
    );
    const pending = message({ conversation_id: withAda.id, seq: null, status: "pending" });
    // This core answers every read with the whole thread: 601 held.
    const { chat, core } = await opened([withAda], [...history, pending]);
    await waitFor(() => expect(chat.thread.messages).toHaveLength(601));

    chat.thread.forgetOlder();
    expect(chat.thread.messages).toHaveLength(KEPT_AT_END + 1);
    expect(chat.thread.messages[0]!.seq).toBe(600 - KEPT_AT_END + 1);
    expect(chat.thread.messages.at(-1)).toEqual(pending);
    expect(chat.thread.hasOlder).toBe(true);
    // Paging back reads the forgotten history again.
    await chat.thread.loadOlder();
    expect(core.argsOf("messages").at(-1)).toMatchObject({ beforeSeq: 600 - KEPT_AT_END + 1 });
  });

  it("is kept while it is short", async () => {
    const withAda = direct(ada, { last_seq: HELD_AT_END });
    const history = Array.from({ length: HELD_AT_END }, (_, i) =>
      message({ conversation_id: withAda.id, seq: i + 1 }),
    );
    const { chat } = await opened([withAda], history);
    await waitFor(() => expect(chat.thread.messages).toHaveLength(HELD_AT_END));
    chat.thread.forgetOlder();
    expect(chat.thread.messages).toHaveLength(HELD_AT_END);
  });
});

describe("the first paint", () => {
  it("is told to the shell once per start, and its failure is not shown", async () => {
    const { chat, core } = await opened([direct(ada)]);
    mockCore({
      first_paint: () => {
        core.calls.push({ cmd: "first_paint", args: {} });
        throw "command first_paint not found";
      },
    });
    expect(chat.list.loaded).toBe(true);
    chat.list.painted();
    chat.list.painted();
    // The mocked IPC answers through promises only: one macrotask lets them all settle.
    await new Promise((done) => setTimeout(done, 0));
    expect(core.count("first_paint")).toBe(1);
    expect(chat.notice.text).toBeNull();
  });
});

describe("a message request deleted on this device", () => {
  const ids = (list: readonly ConversationSummary[]) => list.map((c) => c.id);

  it("is left out of a page read, and one below the rows read is not opened", async () => {
    const kept = direct(grace, { updated_at: ago(10) });
    const gone = direct(ada, { request: true, dismissed: true, updated_at: ago(1) });
    const { chat } = await opened([kept, gone]);
    expect(ids(chat.list.conversations)).toEqual([kept.id]);
    await chat.thread.open(gone.id);
    expect(chat.thread.openId).toBe(kept.id);
  });

  it("leaves the list when an event says so, the open thread closing, and comes back on a new message", async () => {
    const request = direct(ada, { request: true, updated_at: ago(5) });
    const other = direct(grace, { updated_at: ago(10) });
    const mine = message({ conversation_id: request.id, seq: 1, mine: false, sender_id: ada.id });
    const { chat, core } = await opened([request, other], [mine]);
    expect(chat.thread.openId).toBe(request.id);
    expect(chat.thread.messages).toHaveLength(1);
    const before = reads(core);

    await coreEmits({ type: "conversation", summary: { ...request, dismissed: true } });
    expect(ids(chat.list.conversations)).toEqual([other.id]);
    expect(chat.thread.openId).toBeNull();
    expect(chat.thread.conversation).toBeNull();
    expect(chat.thread.messages).toEqual([]);
    expect(chat.thread.loaded).toBe(false);
    // Heard again while still deleted: still out.
    await coreEmits({ type: "conversation", summary: { ...request, dismissed: true, notify: "none" } });
    expect(ids(chat.list.conversations)).toEqual([other.id]);

    const again = { ...request, dismissed: false, updated_at: ago(0), unread_count: 1, last_seq: 2 };
    await coreEmits({ type: "conversation", summary: again });
    expect(ids(chat.list.conversations)).toEqual([request.id, other.id]);
    expect(chat.list.conversations[0]).toEqual(again);
    // Back in the list, not opened again.
    expect(chat.thread.openId).toBeNull();
    expect(reads(core)).toEqual(before);
  });

  it("leaves the open thread alone when it is another conversation", async () => {
    const open = direct(grace, { updated_at: ago(10) });
    const request = direct(ada, { request: true, updated_at: ago(5) });
    const { chat } = await opened([open, request], [message({ conversation_id: open.id })]);
    await coreEmits({ type: "conversation", summary: { ...request, dismissed: true } });
    expect(ids(chat.list.conversations)).toEqual([open.id]);
    expect(chat.thread.openId).toBe(open.id);
    expect(chat.thread.messages).toHaveLength(1);
  });

  it("is deleted with dismiss_request, even before the core's event, and closes", async () => {
    const request = direct(ada, { request: true });
    const { chat, core, store } = await opened([request], [], {
      dismiss_request: (args) => {
        store.list = store.list.map((c) => (c.id === args.conversationId ? { ...c, dismissed: true } : c));
        return null;
      },
    });
    await chat.safety.dismissRequest(request.id);
    expect(core.argsOf("dismiss_request")).toEqual([{ conversationId: request.id }]);
    expect(chat.list.conversations).toEqual([]);
    expect(chat.thread.openId).toBeNull();
    expect(chat.notice.text).toBeNull();
  });

  it("stays, with the reason said, when dismiss_request fails", async () => {
    const request = direct(ada, { request: true });
    const { chat } = await opened([request], [], {
      dismiss_request: () => {
        throw { kind: "not_found", message: "no such conversation" };
      },
    });
    await chat.safety.dismissRequest(request.id);
    expect(ids(chat.list.conversations)).toEqual([request.id]);
    expect(chat.thread.openId).toBe(request.id);
    expect(chat.notice.text).toBe("no such conversation");
  });

  it("closes when a resync's re-read says the open one was deleted", async () => {
    const request = direct(ada, { request: true, updated_at: ago(5) });
    const other = direct(grace, { updated_at: ago(10) });
    const { chat, store } = await opened([request, other]);
    store.list = [{ ...request, dismissed: true }, other];
    await coreEmits({ type: "resync" });
    await waitFor(() => expect(ids(chat.list.conversations)).toEqual([other.id]));
    expect(chat.thread.openId).toBeNull();
  });
});

describe("resync", () => {
  it("re-reads the connection, the list and the open thread", async () => {
    const withAda = direct(ada);
    const { chat, core, store } = await opened([withAda]);
    const before = reads(core);
    const sessions = core.count("session");

    const missed = message({ conversation_id: withAda.id, seq: 1, body: "missed" });
    store.thread = [missed];
    store.list = [{ ...withAda, last_seq: 1, last_message: missed }, direct(grace)];
    store.connection = { state: "offline", retry_at: null, reason: null };
    await coreEmits({ type: "resync" });

    await waitFor(() => expect(chat.thread.messages.map((m) => m.body)).toEqual(["missed"]));
    await waitFor(() => expect(chat.list.conversations).toHaveLength(2));
    expect(chat.session.connection).toEqual({ state: "offline", retry_at: null, reason: null });
    expect(core.count("session")).toBe(sessions + 1);
    expect(reads(core)).toEqual({ list: before.list + 1, thread: before.thread + 1 });
  });

  it("ends the session on screen when the core says no one is signed in", async () => {
    const { chat, store } = await opened([direct(ada)]);
    store.me = null;
    await coreEmits({ type: "resync" });
    await waitFor(() => expect(chat.session.me).toBeNull());
    expect(chat.list.conversations).toEqual([]);
  });
});

describe("error kinds", () => {
  it("a signed_out failure ends the session on screen; others show their message", async () => {
    const chat = new Chat();
    mockCore({
      session: () => ({ user: ME, connection: { state: "online" } }),
      conversations: () => {
        throw { kind: "local_storage", message: "database is locked" };
      },
    });
    await chat.start();
    expect(chat.session.me).toEqual(ME);
    expect(chat.notice.text).toBe("database is locked");

    mockCore({
      conversations: () => {
        throw { kind: "signed_out", message: "not signed in" };
      },
    });
    await chat.list.refresh();
    expect(chat.session.me).toBeNull();
  });

  it("Tauri's own string rejections read as messages too", () => {
    expect(errorMessage("command foo not found")).toBe("command foo not found");
    expect(errorMessage({ kind: "offline", message: "cannot reach the server" })).toBe(
      "cannot reach the server",
    );
  });
});

describe("changes to messages", () => {
  /** Ada's chat with two of hers, one of mine, and my reply to her first. */
  function adaThread(extra: Partial<ConversationSummary> = {}) {
    const conversation = direct(ada, { last_seq: 4, ...extra });
    const at = (seq: number, fields: Partial<LocalMessage>) =>
      message({ conversation_id: conversation.id, seq, body: `s${seq}`, ...fields });
    const first = at(1, { mine: false, sender_id: ada.id });
    const second = at(2, { mine: false, sender_id: ada.id });
    const mine = at(3, {});
    const reply = at(4, {
      reply_to: first.id,
      quote: { id: first.id, sender_id: ada.id, body: "s1", seq: 1, deleted: false, unreadable: false },
    });
    return { conversation, first, second, mine, reply, thread: [first, second, mine, reply] };
  }

  it("a changed event replaces the message in place (and its quotes), and is no news", async () => {
    const { conversation, first, thread } = adaThread();
    const { chat, core } = await opened([conversation], thread);
    await waitFor(() => expect(chat.thread.messages).toHaveLength(4));
    chat.thread.setFocused(true);
    const before = { ...reads(core), marked: core.count("mark_read") };

    const edited = { ...first, body: "s1, fixed", edited: true };
    await coreEmits({ type: "changed", message: edited });
    expect(chat.thread.messages.map((m) => m.id)).toEqual(thread.map((m) => m.id));
    expect(chat.thread.messages[0]).toEqual(edited);
    expect(chat.thread.messages[3]!.quote).toEqual({ id: first.id, sender_id: ada.id, body: "s1, fixed", seq: 1, deleted: false, unreadable: false });

    const reacted = { ...edited, reactions: [{ emoji: "👍", user_ids: [grace.id], mine: false }] };
    await coreEmits({ type: "changed", message: reacted });
    expect(chat.thread.messages[0]!.reactions).toEqual(reacted.reactions);

    // One the thread does not hold is not added, and nothing is re-read, marked read or said.
    await coreEmits({ type: "changed", message: message({ conversation_id: conversation.id, seq: 9 }) });
    expect(chat.thread.messages).toHaveLength(4);
    expect({ ...reads(core), marked: core.count("mark_read") }).toEqual(before);
    expect(chat.list.conversations[0]!.unread_count).toBe(0);
    expect(chat.notice.text).toBeNull();
  });

  it("a refused change puts the message back as it was and says why", async () => {
    const { conversation, mine, thread } = adaThread();
    const optimistic = { ...mine, body: "s3 (edited offline)", edited: true };
    const { chat } = await opened([conversation], [thread[0]!, thread[1]!, optimistic, thread[3]!]);
    await waitFor(() => expect(chat.thread.messages[2]!.body).toBe("s3 (edited offline)"));

    await coreEmits({ type: "change_refused", message: mine, reason: "messages can be edited for 24 hours" });
    expect(chat.thread.messages[2]).toEqual(mine);
    expect(chat.thread.messages).toHaveLength(4);
    expect(chat.notice.text).toBe("messages can be edited for 24 hours");

    // Refused elsewhere: the reason is told all the same; the open thread is untouched.
    chat.notice.dismiss();
    const other = message({ conversation_id: "elsewhere", seq: 2 });
    await coreEmits({ type: "change_refused", message: other, reason: "not allowed" });
    expect(chat.notice.text).toBe("not allowed");
    expect(chat.thread.messages[2]).toEqual(mine);
  });

  it("deletes one never sent from the thread, and others' ones only as a group's owner", async () => {
    const { conversation, first, thread } = adaThread();
    const pending = message({ conversation_id: conversation.id, seq: null, status: "pending" });
    const { chat, core } = await opened([conversation], [...thread, pending], {
      delete_message: (args) => (args.messageId === pending.id ? null : { ...first, body: "", deleted: true }),
    });
    await waitFor(() => expect(chat.thread.messages).toHaveLength(5));

    await chat.compose.deleteMessage(pending);
    expect(chat.thread.messages.map((m) => m.id)).toEqual(thread.map((m) => m.id));

    // Ada's message: only a group's owner may delete others' ones; this is a direct chat.
    await chat.compose.deleteMessage(first);
    expect(core.argsOf("delete_message")).toEqual([{ messageId: pending.id }]);
    expect(chat.thread.messages[0]!.deleted).toBe(false);
  });

  it("lets a group's owner delete anyone's message", async () => {
    const { first, thread } = adaThread();
    const team = group("Team", [ada]);
    const here = thread.map((m) => ({ ...m, conversation_id: team.id }));
    const gone = { ...here[0]!, body: "", deleted: true };
    const { chat, core } = await opened([team], here, { delete_message: () => gone });
    await waitFor(() => expect(chat.thread.messages).toHaveLength(4));
    chat.compose.startReply(here[0]!);
    expect(chat.compose.replyingTo?.id).toBe(first.id);

    await chat.compose.deleteMessage(here[0]!);
    expect(core.argsOf("delete_message")).toEqual([{ messageId: first.id }]);
    expect(chat.thread.messages[0]).toEqual(gone);
    expect(chat.thread.messages[3]!.quote).toMatchObject({ id: first.id, deleted: true, body: "" });
    // Nobody can answer a deleted message.
    expect(chat.compose.replyingTo).toBeNull();
  });

  it("sends a reply with its target, then forgets the target; keeps it when sending fails", async () => {
    const { conversation, second, thread } = adaThread();
    let fail = false;
    const { chat, core } = await opened([conversation], thread, {
      send_message: (args) => {
        if (fail) throw { kind: "local_storage", message: "disk full" };
        return message({ conversation_id: conversation.id, seq: null, status: "pending", body: args.body as string });
      },
    });
    await waitFor(() => expect(chat.thread.messages).toHaveLength(4));

    chat.compose.startReply(second);
    expect(chat.compose.replyingTo).toEqual(second);
    expect(await chat.compose.send("answer")).toBe(true);
    expect(core.argsOf("send_message")).toEqual([{ conversationId: conversation.id, body: "answer", replyTo: second.id }]);
    expect(chat.compose.replyingTo).toBeNull();

    await chat.compose.send("plain");
    expect(core.argsOf("send_message").at(-1)).toMatchObject({ replyTo: null });

    chat.compose.startReply(second);
    fail = true;
    expect(await chat.compose.send("again")).toBe(false);
    expect(chat.compose.replyingTo).toEqual(second);
    chat.compose.cancelReply();
    expect(chat.compose.replyingTo).toBeNull();
  });

  it("edits this user's own messages only; the same text ends it, a blank one does not", async () => {
    const { conversation, first, mine, thread } = adaThread();
    const { chat, core } = await opened([conversation], thread, {
      edit_message: (args) => ({ ...mine, body: args.body as string, edited: true }),
    });
    await waitFor(() => expect(chat.thread.messages).toHaveLength(4));

    chat.compose.startEdit(first);
    expect(chat.compose.editing).toBeNull();
    // Up arrow: the newest own one (the reply, s4), then any other.
    expect(chat.compose.editLast()).toBe(true);
    expect(chat.compose.editing).toBe(thread[3]!.id);
    chat.compose.cancelEdit();
    chat.compose.startEdit(mine);
    expect(chat.compose.editing).toBe(mine.id);

    expect(await chat.compose.saveEdit("  s3 ")).toBe(true);
    expect(chat.compose.editing).toBeNull();
    expect(core.count("edit_message")).toBe(0);

    chat.compose.startEdit(mine);
    expect(await chat.compose.saveEdit(" \n ")).toBe(false);
    expect(chat.compose.editing).toBe(mine.id);
    expect(core.count("edit_message")).toBe(0);

    expect(await chat.compose.saveEdit(" s3, better\n")).toBe(true);
    expect(core.argsOf("edit_message")).toEqual([{ messageId: mine.id, body: "s3, better" }]);
    expect(chat.compose.editing).toBeNull();
    expect(chat.thread.messages[2]).toMatchObject({ id: mine.id, body: "s3, better", edited: true });
  });

  it("keeps editing, and says why, when the edit cannot be stored", async () => {
    const { conversation, mine, thread } = adaThread();
    const { chat } = await opened([conversation], thread, {
      edit_message: () => {
        throw { kind: "forbidden", message: "too late to edit" };
      },
    });
    await waitFor(() => expect(chat.thread.messages).toHaveLength(4));
    chat.compose.startEdit(mine);
    expect(await chat.compose.saveEdit("changed")).toBe(false);
    expect(chat.compose.editing).toBe(mine.id);
    expect(chat.notice.text).toBe("too late to edit");
  });

  it("toggles a reaction and shows the message as the core returns it", async () => {
    const { conversation, second, thread } = adaThread();
    const reacted = { ...second, reactions: [{ emoji: "🎉", user_ids: [ME.id], mine: true }] };
    const { chat, core } = await opened([conversation], thread, { react: () => reacted });
    await waitFor(() => expect(chat.thread.messages).toHaveLength(4));
    await chat.compose.toggleReaction(second, "🎉");
    expect(core.argsOf("react")).toEqual([{ messageId: second.id, emoji: "🎉" }]);
    expect(chat.thread.messages[1]).toEqual(reacted);
  });

  it("offers nothing to change once the user left", async () => {
    const { conversation, mine, thread } = adaThread({ left: true });
    const { chat, core } = await opened([conversation], thread);
    await waitFor(() => expect(chat.thread.messages).toHaveLength(4));
    chat.compose.startEdit(mine);
    chat.compose.startReply(mine);
    await chat.compose.toggleReaction(mine, "👍");
    await chat.compose.deleteMessage(mine);
    expect(chat.compose.editing).toBeNull();
    expect(chat.compose.replyingTo).toBeNull();
    expect(core.count("react") + core.count("delete_message")).toBe(0);
  });
});

describe("jumping to a quoted message", () => {
  /** A conversation of 200 messages whose core pages them as the real one does. */
  async function history() {
    const conversation = direct(ada, { last_seq: 200 });
    const all = Array.from({ length: 200 }, (_, i) =>
      message({ conversation_id: conversation.id, seq: i + 1, body: `n${i + 1}` }),
    );
    const { chat, core } = await opened([conversation], [], {
      messages: (args) => {
        const before = args.beforeSeq as number | null;
        return all.filter((m) => before === null || m.seq! < before).slice(-(args.limit as number));
      },
    });
    await waitFor(() => expect(chat.thread.messages).toHaveLength(50));
    return { chat, core, all };
  }

  it("highlights a loaded one for a moment", async () => {
    const { chat, core, all } = await history();
    const reads = core.count("messages");
    vi.useFakeTimers();
    const token = chat.thread.focusToken;
    expect(await chat.thread.jumpTo(all[180]!.id, 181)).toBe(true);
    expect(chat.thread.focusMessageId).toBe(all[180]!.id);
    expect(chat.thread.focusToken).toBe(token + 1);
    expect(core.count("messages")).toBe(reads);
    vi.advanceTimersByTime(JUMP_HIGHLIGHT_MS - 1);
    expect(chat.thread.focusMessageId).toBe(all[180]!.id);
    vi.advanceTimersByTime(1);
    expect(chat.thread.focusMessageId).toBeNull();
  });

  it("loads older pages down to its seq, or page by page when its seq is unknown", async () => {
    const { chat, core, all } = await history();
    expect(await chat.thread.jumpTo(all[120]!.id, 121)).toBe(true);
    expect(core.argsOf("messages").at(-1)).toMatchObject({ beforeSeq: 151 });
    expect(chat.thread.messages).toHaveLength(100);
    expect(chat.thread.focusMessageId).toBe(all[120]!.id);

    expect(await chat.thread.jumpTo(all[20]!.id)).toBe(true);
    expect(chat.thread.messages).toHaveLength(200);
    expect(chat.thread.focusMessageId).toBe(all[20]!.id);
  });

  it("says so when history ends without it", async () => {
    const { chat } = await history();
    expect(await chat.thread.jumpTo("0190a0b0-0000-7000-8000-00000000dead")).toBe(false);
    expect(chat.thread.messages).toHaveLength(200);
    expect(chat.thread.hasOlder).toBe(false);
    expect(chat.notice.text).toBe("The original message is not available.");
  });
});

describe("files", () => {
  const position = { x: 40, y: 40 };

  /** Ada's chat with one sent message of hers, and a core that sends files as pending messages. */
  async function withFiles(handlers: Handlers = {}) {
    const conversation = direct(ada, { last_seq: 1 });
    const hers = message({ conversation_id: conversation.id, seq: 1, mine: false, sender_id: ada.id });
    const pending = (args: Record<string, unknown>, files: string[]) =>
      message({
        conversation_id: conversation.id,
        seq: null,
        status: "pending",
        body: args.caption as string,
        reply_to: (args.replyTo as string | null | undefined) ?? null,
        attachments: files.map((name, index) => attachment({ index, name, id: null, uploaded: 0, downloaded: true })),
      });
    const started = await opened([conversation], [hers], {
      send_files: (args) => pending(args, (args.paths as string[]).map((p) => p.split("/").at(-1)!)),
      send_file_data: (args) => pending(args, [args.name as string]),
      ...handlers,
    });
    await waitFor(() => expect(started.chat.thread.messages).toHaveLength(1));
    return { ...started, conversation, hers };
  }

  it("sends picked files with a caption as the reply, shown at once as pending; a failure keeps the reply", async () => {
    let fail = false;
    const { chat, core, conversation, hers } = await withFiles({
      "plugin:dialog|open": () => ["/home/me/a.png", "/home/me/notes.pdf"],
      send_files: (args) => {
        if (fail) throw { kind: "too_large", message: "a file is larger than 100 MB" };
        return message({ conversation_id: conversation.id, seq: null, status: "pending", body: args.caption as string });
      },
    });
    const paths = await chat.files.pickFiles();
    expect(paths).toEqual(["/home/me/a.png", "/home/me/notes.pdf"]);
    chat.compose.startReply(hers);
    expect(await chat.files.sendFiles(paths, "  the plan  ")).toBe(true);
    expect(core.argsOf("send_files")).toEqual([
      { conversationId: conversation.id, paths, caption: "the plan", replyTo: hers.id },
    ]);
    expect(chat.thread.messages.at(-1)).toMatchObject({ status: "pending", body: "the plan" });
    expect(chat.compose.replyingTo).toBeNull();

    chat.compose.startReply(hers);
    fail = true;
    expect(await chat.files.sendFiles(paths)).toBe(false);
    expect(chat.compose.replyingTo).toEqual(hers);
    expect(chat.notice.text).toBe("a file is larger than 100 MB");
    expect(chat.thread.messages).toHaveLength(2);
  });

  it("picks nothing when the dialog is cancelled, and sends nothing without files", async () => {
    const { chat, core } = await withFiles({ "plugin:dialog|open": () => null });
    expect(await chat.files.pickFiles()).toEqual([]);
    expect(await chat.files.sendFiles([])).toBe(false);
    expect(core.count("send_files")).toBe(0);
  });

  it("sends a pasted file's bytes, not as a reply", async () => {
    const { chat, core, conversation, hers } = await withFiles();
    chat.compose.startReply(hers);
    expect(await chat.files.sendFileData("Pasted image.png", "iVBORw==")).toBe(true);
    expect(core.argsOf("send_file_data")).toEqual([
      { conversationId: conversation.id, name: "Pasted image.png", dataBase64: "iVBORw==", caption: "" },
    ]);
    expect(chat.thread.messages.at(-1)?.attachments.map((a) => a.name)).toEqual(["Pasted image.png"]);
    expect(chat.compose.replyingTo).toEqual(hers);
  });

  it("sends the clipboard's picture, says nothing without one, and says why it could not be read", async () => {
    let answer: () => unknown = () => null;
    const { chat, core, conversation } = await withFiles({ send_clipboard_image: () => answer() });
    await chat.files.sendClipboardImage();
    expect(core.argsOf("send_clipboard_image")).toEqual([{ conversationId: conversation.id }]);
    expect(chat.thread.messages).toHaveLength(1);
    expect(chat.notice.text).toBeNull();

    answer = () => {
      throw { kind: "local_storage", message: "the clipboard holds a picture that could not be read" };
    };
    await chat.files.sendClipboardImage();
    expect(chat.notice.text).toBe("the clipboard holds a picture that could not be read");

    const name = "Pasted image 2026-11-25 14.03.png";
    answer = () => message({
      conversation_id: conversation.id,
      seq: null,
      status: "pending",
      attachments: [attachment({ name, id: null, uploaded: 0, downloaded: true })],
    });
    await chat.files.sendClipboardImage();
    expect(chat.thread.messages.at(-1)?.attachments.map((a) => a.name)).toEqual([name]);
  });

  it("holds each file's latest progress until the message is heard again", async () => {
    const { chat } = await withFiles();
    await chat.files.sendFiles(["/home/me/a.png", "/home/me/b.pdf"]);
    const sending = chat.thread.messages.at(-1)!;
    expect(chat.files.uploadProgress(sending.id, 0)).toBeNull();

    await coreEmits({ type: "upload_progress", message_id: sending.id, index: 0, sent: 100, total: 1000 });
    await coreEmits({ type: "upload_progress", message_id: sending.id, index: 0, sent: 400, total: 1000 });
    await coreEmits({ type: "upload_progress", message_id: sending.id, index: 1, sent: 5, total: 50 });
    await coreEmits({ type: "upload_progress", message_id: "another", index: 0, sent: 1, total: 2 });
    expect(chat.files.uploadProgress(sending.id, 0)).toEqual({ sent: 400, total: 1000 });
    expect(chat.files.uploadProgress(sending.id, 1)).toEqual({ sent: 5, total: 50 });

    // Sent: the message as stored now says it all (uploaded is null).
    const sent = {
      ...sending,
      seq: 2,
      status: "sent" as const,
      attachments: sending.attachments.map((a) => ({ ...a, id: `server-${a.index}`, uploaded: null })),
    };
    await coreEmits({ type: "message", message: sent });
    expect(chat.files.uploadProgress(sending.id, 0)).toBeNull();
    expect(chat.files.uploadProgress(sending.id, 1)).toBeNull();
    expect(chat.files.uploadProgress("another", 0)).toEqual({ sent: 1, total: 2 });
    expect(chat.thread.messages.at(-1)).toEqual(sent);
  });

  it("cancels an upload: the message is gone, with its progress", async () => {
    const { chat, core } = await withFiles();
    await chat.files.sendFiles(["/home/me/big.iso"]);
    const sending = chat.thread.messages.at(-1)!;
    await coreEmits({ type: "upload_progress", message_id: sending.id, index: 0, sent: 10, total: 100 });
    await chat.files.cancelUpload(sending.id);
    expect(core.argsOf("cancel_upload")).toEqual([{ messageId: sending.id }]);
    expect(chat.thread.messages.map((m) => m.id)).not.toContain(sending.id);
    expect(chat.files.uploadProgress(sending.id, 0)).toBeNull();
  });

  it("keeps a message whose upload could not be cancelled, and says why", async () => {
    const { chat } = await withFiles({
      cancel_upload: () => {
        throw { kind: "conflict", message: "the message was sent already" };
      },
    });
    await chat.files.sendFiles(["/home/me/a.png"]);
    const sending = chat.thread.messages.at(-1)!;
    await chat.files.cancelUpload(sending.id);
    expect(chat.thread.messages.at(-1)?.id).toBe(sending.id);
    expect(chat.notice.text).toBe("the message was sent already");
  });

  it("shows files dragged over the open conversation, and sends them on drop, leaving the composer's reply", async () => {
    const { chat, core, conversation, hers } = await withFiles();
    chat.compose.startReply(hers);
    // Text dragged from another app is no file drop.
    await emit("tauri://drag-enter", { paths: [], position });
    expect(chat.files.dragging).toBe(false);
    await emit("tauri://drag-enter", { paths: ["/home/me/a.png"], position });
    expect(chat.files.dragging).toBe(true);
    await emit("tauri://drag-over", { position });
    expect(chat.files.dragging).toBe(true);
    await emit("tauri://drag-leave", null);
    expect(chat.files.dragging).toBe(false);
    expect(core.count("send_files")).toBe(0);

    await emit("tauri://drag-enter", { paths: ["/home/me/a.png", "/home/me/b.png"], position });
    await emit("tauri://drag-drop", { paths: ["/home/me/a.png", "/home/me/b.png"], position });
    expect(chat.files.dragging).toBe(false);
    await waitFor(() => expect(chat.thread.messages).toHaveLength(2));
    expect(core.argsOf("send_files")).toEqual([
      { conversationId: conversation.id, paths: ["/home/me/a.png", "/home/me/b.png"], caption: "", replyTo: null },
    ]);
    expect(chat.compose.replyingTo).toEqual(hers);
  });

  it("takes no drop where nothing can be sent: no conversation open, or one left", async () => {
    const left = direct(ada, { left: true });
    const { chat, core } = await opened([left], []);
    await emit("tauri://drag-enter", { paths: ["/home/me/a.png"], position });
    expect(chat.files.dragging).toBe(false);
    await emit("tauri://drag-drop", { paths: ["/home/me/a.png"], position });
    chat.stop();
    const fresh = new Chat();
    await fresh.start();
    await emit("tauri://drag-enter", { paths: ["/home/me/a.png"], position });
    await emit("tauri://drag-drop", { paths: ["/home/me/a.png"], position });
    expect(fresh.files.dragging).toBe(false);
    expect(core.count("send_files")).toBe(0);
    fresh.stop();
  });

  it("takes no drop in a message request not yet accepted, or a chat this user blocked", async () => {
    for (const closed of [direct(ada, { request: true }), direct(ada, { blocked: true })]) {
      const { chat, core } = await opened([closed], []);
      await emit("tauri://drag-enter", { paths: ["/home/me/a.png"], position });
      expect(chat.files.dragging).toBe(false);
      await emit("tauri://drag-drop", { paths: ["/home/me/a.png"], position });
      expect(core.count("send_files")).toBe(0);
      chat.stop();
    }
  });

  it("asks for an image's preview once, keeps it in memory, and forgets it on sign-out", async () => {
    const photo = image();
    const { chat, core, hers } = await withFiles({ attachment_preview: () => "data:image/jpeg;base64,AA==" });
    expect(chat.files.cachedPreview(hers.id, photo.index)).toBeNull();
    const [a, b] = await Promise.all([chat.files.preview(hers.id, 0), chat.files.preview(hers.id, 0)]);
    expect([a, b]).toEqual(["data:image/jpeg;base64,AA==", "data:image/jpeg;base64,AA=="]);
    expect(chat.files.cachedPreview(hers.id, 0)).toBe("data:image/jpeg;base64,AA==");
    await chat.files.preview(hers.id, 0);
    expect(core.argsOf("attachment_preview")).toEqual([{ messageId: hers.id, index: 0 }]);

    await chat.session.signOut();
    expect(chat.files.cachedPreview(hers.id, 0)).toBeNull();
  });

  it("rejects, unshown, when a preview cannot be had yet, and asks again next time", async () => {
    let offline = true;
    const { chat, core, hers } = await withFiles({
      attachment_preview: () => {
        if (offline) throw { kind: "offline", message: "the server cannot be reached" };
        return "data:,ok";
      },
    });
    await expect(chat.files.preview(hers.id, 0)).rejects.toMatchObject({ kind: "offline" });
    expect(chat.notice.text).toBeNull();
    offline = false;
    expect(await chat.files.preview(hers.id, 0)).toBe("data:,ok");
    expect(core.count("attachment_preview")).toBe(2);
  });

  it("downloads a file once at a time and marks it downloaded; a failure is said", async () => {
    let release!: () => void;
    let fail = false;
    const pdf = attachment({ index: 0 });
    const { chat, core, conversation } = await withFiles({
      download_attachment: () => {
        if (fail) throw { kind: "offline", message: "the server cannot be reached" };
        return new Promise((resolve) => (release = () => resolve("/cache/report.pdf")));
      },
    });
    const theirs = message({ conversation_id: conversation.id, seq: 2, mine: false, sender_id: ada.id, body: "", attachments: [pdf] });
    await coreEmits({ type: "message", message: theirs });

    const done = chat.files.download(theirs, pdf);
    await waitFor(() => expect(chat.files.isDownloading(theirs.id, 0)).toBe(true));
    expect(await chat.files.download(theirs, pdf)).toBe(false);
    release();
    expect(await done).toBe(true);
    expect(chat.files.isDownloading(theirs.id, 0)).toBe(false);
    expect(core.argsOf("download_attachment")).toEqual([{ messageId: theirs.id, index: 0 }]);
    expect(chat.thread.messages.at(-1)?.attachments[0]?.downloaded).toBe(true);

    fail = true;
    expect(await chat.files.download(theirs, { ...pdf, index: 0 })).toBe(false);
    expect(chat.notice.text).toBe("the server cannot be reached");
  });

  it("saves as where the save dialog says, downloading first; nothing when it is cancelled", async () => {
    let where: string | null = "/home/me/Documents/report.pdf";
    const pdf = attachment({ index: 0 });
    const { chat, core, conversation } = await withFiles({
      "plugin:dialog|save": () => where,
      download_attachment: () => "/cache/report.pdf",
    });
    const theirs = message({ conversation_id: conversation.id, seq: 2, mine: false, sender_id: ada.id, attachments: [pdf] });

    expect(await chat.files.saveAs(theirs, pdf)).toBe(true);
    expect(core.argsOf("plugin:dialog|save")).toEqual([{ options: { defaultPath: "report.pdf" } }]);
    expect(core.calls.map((c) => c.cmd).filter((c) => c !== "plugin:dialog|save").slice(-2)).toEqual([
      "download_attachment",
      "save_attachment",
    ]);
    expect(core.argsOf("save_attachment")).toEqual([
      { messageId: theirs.id, index: 0, path: "/home/me/Documents/report.pdf" },
    ]);

    // Already here: no download; cancelled: no copy.
    expect(await chat.files.saveAs(theirs, { ...pdf, downloaded: true })).toBe(true);
    expect(core.count("download_attachment")).toBe(1);
    where = null;
    expect(await chat.files.saveAs(theirs, { ...pdf, downloaded: true })).toBe(false);
    expect(core.count("save_attachment")).toBe(2);
  });

  it("opens a file with the system's app, downloading it first if need be", async () => {
    const pdf = attachment({ index: 0 });
    const { chat, core, conversation } = await withFiles({ download_attachment: () => "/cache/report.pdf" });
    const theirs = message({ conversation_id: conversation.id, seq: 2, mine: false, sender_id: ada.id, attachments: [pdf] });
    await chat.files.openFile(theirs, pdf);
    await chat.files.openFile(theirs, { ...pdf, downloaded: true });
    expect(core.calls.map((c) => c.cmd).filter((c) => c.endsWith("_attachment"))).toEqual([
      "download_attachment",
      "open_attachment",
      "open_attachment",
    ]);
    expect(core.argsOf("open_attachment")[0]).toEqual({ messageId: theirs.id, index: 0 });
  });
});

describe("the account", () => {
  const here = sessionInfo({ current: true });
  const other = sessionInfo({ device_name: "Windows · morgan-pc" });

  it("ends the session when deleted, forgetting all that signing out forgets, with no sign-out call", async () => {
    const withAda = direct(ada);
    const { chat, core } = await opened([withAda], [message({ conversation_id: withAda.id })], {
      account_details: () => account(),
      account_sessions: () => [here, other],
    });
    chat.session.lastAccount = { server_url: "https://chat.example.com", username: ME.username };
    await chat.account.load();
    expect(chat.account.sessions).toHaveLength(2);
    const epoch = chat.session.epoch;

    await chat.account.deleteAccount("pw");
    expect(core.argsOf("delete_account")).toEqual([{ password: "pw" }]);
    // The core signed this device out itself; asking again would only fail.
    expect(core.count("sign_out")).toBe(0);
    expect(chat.session.me).toBeNull();
    expect(chat.session.epoch).toBe(epoch + 1);
    expect(chat.list.conversations).toEqual([]);
    expect(chat.thread.openId).toBeNull();
    expect(chat.account.details).toBeNull();
    expect(chat.account.sessions).toBeNull();
    expect(chat.session.lastAccount).toEqual({ server_url: "https://chat.example.com", username: "" });
    expect(chat.notice.text).toMatch(/Your account is deleted/);
  });

  it("stays signed in, and says nothing in the notice, when deleting is refused", async () => {
    const { chat } = await opened([direct(ada)], [], {
      delete_account: () => {
        throw { kind: "invalid_credentials", message: "wrong password" };
      },
    });
    await expect(chat.account.deleteAccount("nope")).rejects.toEqual({
      kind: "invalid_credentials",
      message: "wrong password",
    });
    expect(chat.session.me).toEqual(ME);
    expect(chat.list.conversations).toHaveLength(1);
    expect(chat.notice.text).toBeNull();
  });

  it("follows an export from the core's progress events, and forgets it when the session ends", async () => {
    let finish!: (size: number) => void;
    const { chat, core } = await opened([direct(ada)], [], {
      "plugin:dialog|save": () => "/home/me/export.tar",
      export_account: () => new Promise<number>((resolve) => (finish = resolve)),
    });
    // Progress with no export under way (another window's, a late one) is not news.
    await coreEmits({ type: "export_progress", received: 5, total: 10 });
    expect(chat.account.dataExport).toBeNull();

    const exporting = chat.account.exportData();
    await waitFor(() => expect(finish).toBeDefined());
    expect(chat.account.exporting).toBe(true);
    // A second press while one is under way starts nothing.
    await chat.account.exportData();
    expect(core.count("plugin:dialog|save")).toBe(1);
    await coreEmits({ type: "export_progress", received: 512, total: 2048 });
    expect(chat.account.dataExport).toEqual({ state: "saving", path: "/home/me/export.tar", received: 512, total: 2048 });
    finish(2048);
    await exporting;
    expect(chat.account.dataExport).toEqual({ state: "saved", path: "/home/me/export.tar", size: 2048 });
    expect(chat.account.exporting).toBe(false);
    expect(core.argsOf("export_account")).toEqual([{ path: "/home/me/export.tar" }]);

    await chat.session.signOut();
    expect(chat.account.dataExport).toBeNull();
  });

  it("drops an export answered after the session ended", async () => {
    let finish!: (size: number) => void;
    const { chat } = await opened([direct(ada)], [], {
      "plugin:dialog|save": () => "/home/me/export.tar",
      export_account: () => new Promise<number>((resolve) => (finish = resolve)),
    });
    const exporting = chat.account.exportData();
    await waitFor(() => expect(finish).toBeDefined());
    await chat.session.signOut();
    finish(2048);
    await exporting;
    expect(chat.account.dataExport).toBeNull();
  });

  it("sets a picture chosen in the file dialog, and adopts the profile the server answers", async () => {
    const withPicture: User = { ...ME, picture: "00000000-0000-7000-8000-0000000000f1" };
    let answer!: (user: User) => void;
    const { chat, core } = await opened([direct(ada)], [], {
      account_details: () => account(),
      account_sessions: () => [here],
      "plugin:dialog|open": () => "/home/me/Pictures/me.jpg",
      set_picture: () => new Promise<User>((resolve) => (answer = resolve)),
    });
    await chat.account.load();
    const choosing = chat.account.choosePicture();
    await waitFor(() => expect(answer).toBeDefined());
    expect(chat.account.pictureChange).toEqual({ state: "saving" });
    expect(chat.account.savingPicture).toBe(true);
    // A second press while one is saving asks for nothing.
    await chat.account.choosePicture();
    await chat.account.removePicture();
    expect(core.count("plugin:dialog|open")).toBe(1);
    expect(core.count("remove_picture")).toBe(0);

    answer(withPicture);
    await choosing;
    expect(core.argsOf("set_picture")).toEqual([{ path: "/home/me/Pictures/me.jpg" }]);
    expect(chat.session.me).toEqual(withPicture);
    expect(chat.account.details?.user).toEqual(withPicture);
    expect(chat.account.pictureChange).toEqual({ state: "saved", removed: false });

    // The dialog opened again: the picture speaks for itself.
    await chat.account.load();
    expect(chat.account.pictureChange).toBeNull();
  });

  it("keeps why a picture failed, even when the dialog opens again, until the next try", async () => {
    const { chat } = await opened([direct(ada)], [], {
      account_details: () => account(),
      account_sessions: () => [here],
      remove_picture: () => {
        throw { kind: "offline", message: "the server cannot be reached" };
      },
    });
    await chat.account.removePicture();
    expect(chat.account.pictureChange).toEqual({ state: "failed", error: "the server cannot be reached" });
    await chat.account.load();
    expect(chat.account.pictureChange).toEqual({ state: "failed", error: "the server cannot be reached" });
    await chat.session.signOut();
    expect(chat.account.pictureChange).toBeNull();
  });

  it("drops a picture answered after the session ended", async () => {
    let answer!: (user: User) => void;
    const { chat } = await opened([direct(ada)], [], {
      "plugin:dialog|open": () => "/home/me/Pictures/me.jpg",
      set_picture: () => new Promise<User>((resolve) => (answer = resolve)),
    });
    const choosing = chat.account.choosePicture();
    await waitFor(() => expect(answer).toBeDefined());
    await chat.session.signOut();
    answer({ ...ME, picture: "00000000-0000-7000-8000-0000000000f1" });
    await choosing;
    expect(chat.session.me).toBeNull();
    expect(chat.account.pictureChange).toBeNull();
  });

  it("drops a rename answered after the session ended, rather than signing the window back in", async () => {
    let answer!: (user: User) => void;
    const { chat } = await opened([direct(ada)], [], {
      rename: () => new Promise<User>((resolve) => (answer = resolve)),
    });
    const renaming = chat.account.rename("  Morgan Lee ");
    await waitFor(() => expect(answer).toBeDefined());
    await chat.session.signOut();
    answer({ ...ME, display_name: "Morgan Lee" });
    await renaming;
    expect(chat.session.me).toBeNull();
  });
});

describe("profile pictures", () => {
  const pic = (n: number) => `00000000-0000-7000-8000-0000000000${String(n).padStart(2, "0")}`;
  const urlOf = (picture: unknown) => `data:image/jpeg;base64,${String(picture).slice(-2)}`;
  /** The mocked IPC answers through promises only: one macrotask lets them all settle. */
  const settled = () => new Promise((done) => setTimeout(done, 0));

  it("keeps a bounded number, letting go of the one wanted least recently", async () => {
    const core = mockCore({ user_picture: (args) => urlOf(args.picture) });
    const pictures = new Pictures(new Session(), 2);
    pictures.want(pic(1));
    pictures.want(pic(2));
    await settled();
    expect(pictures.url(pic(1))).toBe(urlOf(pic(1)));
    // Wanted again (an avatar shows it), the first is now the more recent.
    pictures.want(pic(1));
    pictures.want(pic(3));
    await settled();
    expect(pictures.url(pic(2))).toBeNull();
    expect([pictures.url(pic(1)), pictures.url(pic(3))]).toEqual([urlOf(pic(1)), urlOf(pic(3))]);
    expect(core.argsOf("user_picture")).toEqual([{ picture: pic(1) }, { picture: pic(2) }, { picture: pic(3) }]);
    // One let go is asked for again when wanted.
    pictures.want(pic(2));
    await settled();
    expect(pictures.url(pic(2))).toBe(urlOf(pic(2)));
    expect(core.count("user_picture")).toBe(4);
  });

  it("asks again for those that failed once the connection is back, and forgets all at sign-out", async () => {
    let reachable = false;
    let late!: (url: string) => void;
    const { chat, core } = await opened([direct(ada)], [], {
      user_picture: (args) => {
        if (args.picture === pic(9)) return new Promise<string>((resolve) => (late = resolve));
        if (!reachable) throw { kind: "offline", message: "the server cannot be reached" };
        return urlOf(args.picture);
      },
    });
    chat.pictures.want(pic(1));
    await settled();
    chat.pictures.want(pic(1));
    await settled();
    expect(core.count("user_picture")).toBe(1);
    expect(chat.pictures.url(pic(1))).toBeNull();

    // Still offline, or connecting: nothing new to try.
    await coreEmits({ type: "connection", state: { state: "connecting" } });
    chat.pictures.want(pic(1));
    await settled();
    expect(core.count("user_picture")).toBe(1);

    reachable = true;
    await coreEmits({ type: "connection", state: { state: "online" } });
    chat.pictures.want(pic(1));
    await settled();
    expect(chat.pictures.url(pic(1))).toBe(urlOf(pic(1)));
    expect(core.count("user_picture")).toBe(2);

    // Signing out forgets them, and one still coming is not kept.
    chat.pictures.want(pic(9));
    await waitFor(() => expect(late).toBeDefined());
    await chat.session.signOut();
    late(urlOf(pic(9)));
    await settled();
    expect(chat.pictures.url(pic(1))).toBeNull();
    expect(chat.pictures.url(pic(9))).toBeNull();
  });

  it("a profile event brings the person's new picture to the header", async () => {
    const { chat } = await opened([direct(ada)]);
    await coreEmits({ type: "profile", user: { ...ME, picture: pic(5) } });
    expect(chat.session.me?.picture).toBe(pic(5));
    await coreEmits({ type: "profile", user: ME });
    expect(chat.session.me?.picture).toBeUndefined();
  });
});
