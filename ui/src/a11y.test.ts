// axe-core over each main screen of the window as rendered in jsdom: sign-in, the chat
// (list and an open thread with replies, reactions, files and a failed message), the
// asks of the person's other devices for this one's history (one failed), a thread with
// messages sealed before this device joined (and the offer to ask for them), Settings in
// every section (Updates with an update on offer, and the sidebar's news of one), and
// the dialogs and popovers (new chat, quick switcher, safety number, a group's members,
// reaction picker, delete confirmation, blocked people, sign out). None may have a
// serious or critical violation. Colour contrast needs a real engine: the end-to-end run
// measures it with `test/axe-webdriver.js`, which the last tests here run as it is.
// A run of axe takes a moment in jsdom, so the walks through many screens get longer.
import { render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import axe from "axe-core";
import { beforeAll, describe, expect, it } from "vitest";
import App from "./App.svelte";
import { seriousViolations } from "./test/a11y";
import webdriverScript from "./test/axe-webdriver.js?raw";
import {
  account,
  ago,
  attachment,
  availableUpdate,
  coreEmits,
  direct,
  group,
  historyRequest,
  image,
  ME,
  member,
  message,
  user,
} from "./test/fixtures";
import { windowCore } from "./test/window";
import "./test/screens";

/** For a test that runs axe on many screens. */
const MANY_SCREENS_MS = 30_000;

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");

// index.html gives the window its title; jsdom's document has none.
beforeAll(() => {
  document.title = "Ferry";
});

/**
 * The window signed in, with Ada's encrypted chat (open, warning that her safety number
 * changed) full of what a thread shows, and an encrypted group where Grace's changed.
 */
async function chatOpen() {
  const chat = direct(ada, { updated_at: ago(1), unread_count: 0, encrypted: true, devices_changed: [ada.id] });
  const team = group("Team", [ada, grace], {
    updated_at: ago(20),
    unread_count: 3,
    encrypted: true,
    devices_changed: [grace.id],
  });
  const mine = message({ conversation_id: chat.id, seq: 2, body: "yes, at noon", status: "read", created_at: ago(5) });
  const held = [
    message({
      conversation_id: chat.id,
      seq: 1,
      body: "lunch? https://example.com/menu",
      mine: false,
      sender_id: ada.id,
      created_at: ago(6),
      reactions: [{ emoji: "👍", user_ids: [ME.id], mine: true }],
    }),
    mine,
    message({
      conversation_id: chat.id,
      seq: 3,
      body: "great",
      mine: false,
      sender_id: ada.id,
      created_at: ago(4),
      reply_to: mine.id,
      quote: { id: mine.id, sender_id: ME.id, body: mine.body, seq: 2, deleted: false, unreadable: false },
      edited: true,
    }),
    message({
      conversation_id: chat.id,
      seq: 4,
      body: "",
      mine: false,
      sender_id: ada.id,
      created_at: ago(3),
      attachments: [attachment(), image({ index: 1 })],
    }),
    message({ conversation_id: chat.id, seq: 5, body: "", deleted: true, mine: false, sender_id: ada.id, created_at: ago(2) }),
    message({ conversation_id: chat.id, seq: null, body: "did it go?", status: "failed", error: "too long", created_at: ago(1) }),
  ];
  const core = windowCore({
    conversations: [chat, team],
    messages: { [chat.id]: held },
    handlers: {
      account_details: () => account(),
      account_sessions: () => [],
      blocked_users: () => [grace],
      find_users: () => [ada, grace],
      attachment_preview: () => "data:image/png;base64,iVBORw0KGgo=",
      check_for_update: () => availableUpdate(),
      // Downloads until the test ends, as a large update does.
      install_update: () => new Promise(() => undefined),
    },
  });
  render(App);
  await userEvent.click((await screen.findAllByTestId("conversation-item"))[0]!);
  await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(held.length));
  return { core, held };
}

describe("axe finds nothing serious", () => {
  it("on the sign-in screen, and its password reset", async () => {
    windowCore({ me: null });
    render(App);
    await screen.findByTestId("server-url");
    expect(await seriousViolations()).toEqual([]);
    await userEvent.click(screen.getByTestId("forgot-password"));
    await screen.findByTestId("forgot-login");
    expect(await seriousViolations()).toEqual([]);
  });

  it("in the chat: the list, and a thread with replies, reactions, files and a failed message", async () => {
    await chatOpen();
    expect(screen.getByTestId("devices-changed")).toBeInTheDocument();
    expect(await seriousViolations()).toEqual([]);
    await coreEmits({ type: "update_available", update: availableUpdate() });
    await screen.findByTestId("update-notice");
    expect(await seriousViolations(), "with news of an update").toEqual([]);
  });

  it("with the asks of the person's other devices for this one's history, one of them failed", async () => {
    const { core } = await chatOpen();
    const asks = [historyRequest({ asked_at: ago(20) }), historyRequest()];
    await coreEmits({ type: "history_requests", requests: asks });
    await waitFor(() => expect(screen.getAllByTestId("history-request")).toHaveLength(2));
    await waitFor(() => expect(core.count("account_sessions")).toBe(1));
    expect(await seriousViolations()).toEqual([]);
    // The core's fake holds no such ask (they came by the event alone), so it refuses.
    await userEvent.click(screen.getAllByRole("button", { name: "Send history" })[0]!);
    await screen.findByTestId("history-request-error");
    expect(await seriousViolations(), "with a failure beside an ask").toEqual([]);
  });

  it("in a thread holding messages sealed before this device joined, with the offer to ask for them", async () => {
    const chat = direct(ada, { encrypted: true });
    const theirs = { conversation_id: chat.id, mine: false, sender_id: ada.id };
    windowCore({
      conversations: [chat],
      messages: {
        [chat.id]: [
          message({ ...theirs, seq: 1, body: "", unreadable: true, created_at: ago(6) }),
          message({ ...theirs, seq: 2, body: "", unreadable: true, created_at: ago(5) }),
          message({ ...theirs, seq: 3, body: "still on for noon?", created_at: ago(4) }),
        ],
      },
    });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await screen.findByTestId("history-ask");
    expect(await seriousViolations()).toEqual([]);
    await userEvent.click(screen.getByRole("button", { name: "Ask my other devices" }));
    await screen.findByTestId("notice");
    expect(await seriousViolations(), "with what came of the ask in the notice").toEqual([]);
  });

  it("in a group's thread and with nothing open", async () => {
    const team = group("Team", [ada, grace], { members: [member(ME, { role: "owner" }), member(ada), member(grace)] });
    windowCore({
      conversations: [team],
      messages: {
        [team.id]: [message({ conversation_id: team.id, seq: 1, mine: false, sender_id: grace.id, body: "hi all" })],
      },
    });
    render(App);
    await screen.findByTestId("conversation-item");
    expect(await seriousViolations()).toEqual([]);
    await userEvent.click(screen.getByTestId("conversation-item"));
    await screen.findByTestId("message");
    expect(await seriousViolations()).toEqual([]);
  });

  it("in Settings, every section", async () => {
    await chatOpen();
    await userEvent.keyboard("{Control>},{/Control}");
    const dialog = await screen.findByTestId("settings-dialog");
    await within(dialog).findByTestId("account-profile");
    expect(await seriousViolations()).toEqual([]);
    for (const name of ["Notifications", "App", "Appearance", "Language", "Updates", "Keyboard shortcuts"]) {
      await userEvent.click(within(dialog).getByRole("tab", { name }));
      expect(await seriousViolations(), name).toEqual([]);
    }
    await userEvent.click(within(dialog).getByRole("tab", { name: "Updates" }));
    await userEvent.click(within(dialog).getByTestId("check-for-updates"));
    await within(dialog).findByTestId("update-offer");
    expect(await seriousViolations(), "an update on offer").toEqual([]);
    await userEvent.click(within(dialog).getByTestId("install-update"));
    await coreEmits({ type: "update_progress", received: 1_000_000, total: 4_000_000 });
    await within(dialog).findByTestId("update-count");
    expect(await seriousViolations(), "an update downloading").toEqual([]);
  }, MANY_SCREENS_MS);

  it("in the dialogs: new chat, the quick switcher, the safety number, members, blocked people, sign out", async () => {
    await chatOpen();
    await userEvent.click(screen.getByTestId("new-chat"));
    const newChat = await screen.findByTestId("new-chat-dialog");
    await userEvent.type(within(newChat).getByTestId("user-search"), "ad");
    await within(newChat).findAllByTestId("user-result");
    expect(await seriousViolations()).toEqual([]);
    await userEvent.keyboard("{Escape}");

    await userEvent.keyboard("{Control>}k{/Control}");
    await screen.findByTestId("quick-switcher");
    expect(await seriousViolations()).toEqual([]);
    await userEvent.keyboard("{Escape}");

    await userEvent.click(screen.getByTestId("encrypted-lock"));
    await screen.findByTestId("safety-number");
    expect(await seriousViolations()).toEqual([]);
    await userEvent.keyboard("{Escape}");

    await userEvent.click(screen.getAllByTestId("conversation-item")[1]!);
    await userEvent.click(await screen.findByTestId("group-members"));
    const members = await screen.findByTestId("group-members-dialog");
    expect(within(members).getAllByTestId("verify-member")).toHaveLength(2);
    expect(within(members).getByTestId("member-changed")).toBeInTheDocument();
    expect(await seriousViolations()).toEqual([]);
    await userEvent.keyboard("{Escape}");

    await userEvent.click(screen.getByTestId("account-menu"));
    expect(await seriousViolations()).toEqual([]);
    await userEvent.click(screen.getByTestId("blocked-people"));
    await screen.findByRole("dialog", { name: "Blocked people" });
    expect(await seriousViolations()).toEqual([]);
    await userEvent.keyboard("{Escape}");

    await userEvent.click(screen.getByTestId("account-menu"));
    await userEvent.click(screen.getByTestId("sign-out"));
    await screen.findByRole("dialog");
    expect(await seriousViolations()).toEqual([]);
  }, MANY_SCREENS_MS);

  it("with a message's reaction picker and its delete confirmation open", async () => {
    const { held } = await chatOpen();
    const rows = screen.getAllByTestId("message");
    await userEvent.click(within(rows[0]!).getByTestId("action-react"));
    await screen.findByTestId("reaction-picker");
    expect(await seriousViolations()).toEqual([]);
    await userEvent.keyboard("{Escape}");

    const mine = rows.find((row) => row.dataset.id === held[1]!.id)!;
    await userEvent.click(within(mine).getByTestId("action-delete"));
    await screen.findByTestId("delete-dialog");
    expect(await seriousViolations()).toEqual([]);
  }, MANY_SCREENS_MS);
});

describe("the WebDriver script", () => {
  /** Runs test/axe-webdriver.js as WebDriver's execute-async does: the body of a function whose last argument is the callback. */
  function runScript(options?: object): Promise<unknown> {
    (window as unknown as { axe: typeof axe }).axe = axe;
    return new Promise((resolve) => {
      const body = new Function(webdriverScript) as (...args: unknown[]) => void;
      if (options) body(options, resolve);
      else body(resolve);
    });
  }

  it("reports serious and critical violations only, with where they are", async () => {
    document.body.innerHTML = `<main><h1>Ferry</h1><button id="nameless"></button><img src="x.png"></main>`;
    document.documentElement.lang = "en";
    const found = (await runScript({ rules: { "color-contrast": { enabled: false } } })) as {
      id: string;
      impact: string;
      nodes: { target: string[] }[];
    }[];
    expect(found.map((v) => v.id).sort()).toEqual(["button-name", "image-alt"]);
    expect(found.every((v) => v.impact === "serious" || v.impact === "critical")).toBe(true);
    expect(found.find((v) => v.id === "button-name")!.nodes[0]!.target).toEqual(["#nameless"]);
  });

  it("passes a clean page, and says when axe-core was not loaded first", async () => {
    document.body.innerHTML = `<main><h1>Ferry</h1><button>Send</button></main>`;
    expect(await runScript({ rules: { "color-contrast": { enabled: false } } })).toEqual([]);
    delete (window as unknown as { axe?: unknown }).axe;
    const body = new Function(webdriverScript) as (done: (value: unknown) => void) => void;
    const answer = await new Promise((resolve) => body(resolve));
    expect(answer).toEqual({ error: expect.stringContaining("axe.min.js") });
  });
});
