// Hostile input, on purpose: message text, names, file names and link targets written to
// reach the webview's commands or the opener (markup, `javascript:` and `file:` links,
// the app's own schemes, the IPC endpoint, bidirectional overrides). The window runs
// against a mocked core that records every command; each case checks what is on screen
// and what reached the core. What was tried and what held: docs/testing.md.
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import App from "./App.svelte";
import type { ConversationSummary } from "./lib/bindings/ConversationSummary";
import type { LocalMessage } from "./lib/bindings/LocalMessage";
import * as backend from "./lib/backend";
import { attachment, direct, listPage, member, message, ME, mockCore, user, type Handlers } from "./test/fixtures";
import "./test/screens";

const mallory = user("Mallory", "mallory");

/** Alice's window with one chat from `who`, holding `messages`, opened. */
async function opened(messages: LocalMessage[], who = mallory, handlers: Handlers = {}) {
  const chat: ConversationSummary = direct(who, { last_seq: messages.length });
  const held = messages.map((m) => ({ ...m, conversation_id: chat.id }));
  const core = mockCore({
    session: () => ({ user: ME, connection: { state: "online" }, last_account: null }),
    conversations: (args) => listPage([chat], args),
    conversation: () => chat,
    messages: () => held,
    ...handlers,
  });
  render(App);
  await userEvent.click(await screen.findByTestId("conversation-item"));
  await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(held.length));
  return { core, chat, held };
}

/** What a page script could have done had any markup run. */
declare global {
  interface Window {
    __pwned?: boolean;
  }
}

const MARKUP = [
  '<img src=x onerror="window.__pwned=true">',
  "<script>window.__pwned=true</script>",
  '<svg onload="window.__pwned=true"></svg>',
  '<a href="javascript:window.__pwned=true">click</a>',
  '<iframe src="tauri://localhost/index.html"></iframe>',
  "{@html '<b>bold</b>'}",
  '"><img src=x onerror=alert(1)>',
];

describe("hostile message text", () => {
  it("shows markup as the text it is: no element is made, nothing runs", async () => {
    await opened(MARKUP.map((body, i) => message({ seq: i + 1, body, mine: false, sender_id: mallory.id })));
    const thread = screen.getByTestId("thread");
    const shown = Array.from(thread.querySelectorAll("p.body"));
    expect(shown.map((p) => p.textContent)).toEqual(MARKUP);
    // Text nodes only: not one element inside a message's text (no link either: the one
    // http-looking thing in there has the javascript scheme).
    expect(shown.map((p) => p.children.length)).toEqual(MARKUP.map(() => 0));
    expect(document.querySelector("img[src=x], script:not([src]), iframe, b")).toBeNull();
    expect(window.__pwned).toBeUndefined();
  });

  it("links only http(s) with a host: other schemes, the app's own, stay text", async () => {
    const text = [
      "javascript:window.__pwned=true",
      "JaVaScRiPt:alert(1)",
      "file:///etc/passwd",
      "data:text/html,<script>alert(1)</script>",
      "ferry://open/00000000-0000-0000-0000-000000000000",
      "tauri://localhost/index.html",
      "ipc://localhost/plugin:opener|open_url",
      "vbscript:msgbox(1)",
      "mailto:someone@example.com",
      "http://",
    ].join(" ");
    await opened([message({ seq: 1, body: text, mine: false, sender_id: mallory.id })]);
    expect(screen.queryAllByTestId("message-link")).toEqual([]);
    expect(screen.getByTestId("thread")).toHaveTextContent(text, { normalizeWhitespace: false });
  });

  it("opens a link in the system browser through the opener, never in the window, for any button", async () => {
    const ipc = "http://ipc.localhost/plugin%3Aopener%7Copen_url";
    const { core } = await opened([
      message({ seq: 1, body: `see ${ipc} and https://example.com/a`, mine: false, sender_id: mallory.id }),
    ]);
    const [toIpc, web] = screen.getAllByTestId("message-link");
    expect(toIpc).toHaveAttribute("href", ipc);
    // A click is the opener's, and the webview does not follow it (default prevented).
    expect(await fireEvent.click(toIpc!)).toBe(false);
    expect(await fireEvent(web!, new MouseEvent("auxclick", { button: 1, bubbles: true, cancelable: true }))).toBe(
      false,
    );
    await waitFor(() =>
      expect(core.argsOf("plugin:opener|open_url").map((a) => a.url)).toEqual([ipc, "https://example.com/a"]),
    );
  });

  it("ends a link at a bidirectional override, and shows where it really goes", async () => {
    // Read with the override applied, this ends in "bank.com".
    const body = "pay here: https://evil.example/\u202Emoc.knab//:sptth";
    await opened([message({ seq: 1, body, mine: false, sender_id: mallory.id })]);
    const link = screen.getByTestId("message-link");
    expect(link).toHaveTextContent("https://evil.example/");
    expect(link).toHaveAttribute("title", "https://evil.example/");
  });

  it("refuses every scheme but http(s) at the one door to the opener", async () => {
    const core = mockCore({});
    for (const url of [
      "javascript:alert(1)",
      "file:///etc/passwd",
      "data:text/html,x",
      "ferry://open/x",
      "tauri://localhost/",
      "mailto:a@b.c",
    ]) {
      await expect(backend.openUrl(url)).rejects.toMatchObject({ kind: "invalid_request" });
    }
    expect(core.count("plugin:opener|open_url")).toBe(0);
  });
});

describe("hostile names", () => {
  it("isolates a display name with markup and an override: text only, in its own bidi run", async () => {
    const sneaky = user('<b onmouseover="window.__pwned=true">Admin</b>\u202E', "sneaky");
    await opened([message({ seq: 1, body: "hello", mine: false, sender_id: sneaky.id })], sneaky);
    const title = screen.getByTestId("thread-title");
    expect(title.querySelector("b")).toBeNull();
    expect(title.querySelector("bdi")).toHaveTextContent(sneaky.display_name, { normalizeWhitespace: false });
    const row = screen.getByTestId("conversation-item");
    expect(row.querySelector("bdi.name")).toHaveTextContent(sneaky.display_name, { normalizeWhitespace: false });
    expect(document.querySelector("b")).toBeNull();
    expect(window.__pwned).toBeUndefined();
  });

  it("shows a file name without its disguise, as text, and proposes it so when saving", async () => {
    const names = ["invoice\u202Egnp.exe", '<img src=x onerror="window.__pwned=true">.pdf'];
    const files = names.map((name, index) => attachment({ index, name, downloaded: true }));
    const { core } = await opened(
      [message({ seq: 1, body: "", mine: false, sender_id: mallory.id, attachments: files })],
      mallory,
      { "plugin:dialog|save": () => null },
    );
    const cards = screen.getAllByTestId("attachment");
    expect(cards[0]).toHaveTextContent("invoicegnp.exe");
    expect(cards[0]).not.toHaveTextContent("\u202E");
    expect(cards[1]).toHaveTextContent(names[1]!);
    expect(document.querySelector("img[src=x]")).toBeNull();
    await userEvent.click(within(cards[0]!).getByTestId("attachment-save"));
    await waitFor(() => expect(core.argsOf("plugin:dialog|save")).toHaveLength(1));
    expect(JSON.stringify(core.argsOf("plugin:dialog|save")[0])).toContain("invoicegnp.exe");
    expect(window.__pwned).toBeUndefined();
  });

  it("proposes only a file name's last part to Save as…: the sender does not choose the folder", async () => {
    const names = [".config/autostart/evil.desktop", "..\\..\\Start Menu\\Programs\\Startup\\x.lnk"];
    const files = names.map((name, index) => attachment({ index, name, downloaded: true }));
    const { core } = await opened(
      [message({ seq: 1, body: "", mine: false, sender_id: mallory.id, attachments: files })],
      mallory,
      { "plugin:dialog|save": () => null },
    );
    for (const card of screen.getAllByTestId("attachment")) {
      await userEvent.click(within(card).getByTestId("attachment-save"));
    }
    await waitFor(() => expect(core.argsOf("plugin:dialog|save")).toHaveLength(2));
    const proposed = core.argsOf("plugin:dialog|save").map((a) => (a.options as { defaultPath: string }).defaultPath);
    expect(proposed).toEqual(["evil.desktop", "x.lnk"]);
    // Cancelled: nothing was saved anywhere.
    expect(core.count("save_attachment")).toBe(0);
  });

  it("Open of a file the core refuses says why, plainly, and offers Save as…; nothing else opens it", async () => {
    const name = "invoice\u202Egnp.exe";
    const { core } = await opened(
      [
        message({
          seq: 1,
          body: "",
          mine: false,
          sender_id: mallory.id,
          attachments: [attachment({ name, downloaded: true })],
        }),
      ],
      mallory,
      {
        open_attachment: () => {
          throw {
            kind: "forbidden",
            message:
              "invoicegnp.exe could run a program on this computer, so Ferry does not open it; save it, and open it yourself if you trust it",
          };
        },
        "plugin:dialog|save": () => null,
      },
    );
    await userEvent.click(screen.getByTestId("attachment-downloaded"));
    const notice = await screen.findByTestId("notice");
    expect(notice).toHaveTextContent("invoicegnp.exe could run a program on this computer");
    await userEvent.click(within(notice).getByTestId("notice-action"));
    await waitFor(() => expect(core.argsOf("plugin:dialog|save")).toHaveLength(1));
    expect(JSON.stringify(core.argsOf("plugin:dialog|save")[0])).toContain('"invoicegnp.exe"');
    // The only door to the system's applications is the core's open_attachment, which
    // refused: the window never reaches for the opener's paths or URLs with a file.
    expect(core.count("open_attachment")).toBe(1);
    for (const door of ["plugin:opener|open_path", "plugin:opener|open_url", "plugin:opener|reveal_item_in_dir"]) {
      expect(core.count(door)).toBe(0);
    }
  });

  it("says a group member's name in the composer's reply bar in isolation", async () => {
    const rtl = user("\u202Eevil", "evil");
    const chat = direct(rtl, { members: [member(ME), member(rtl)] });
    expect(chat.name).toBe("\u202Eevil");
    const { held } = await opened([message({ seq: 1, body: "hi", mine: false, sender_id: rtl.id })], rtl);
    await userEvent.click(screen.getByTestId("message"));
    await userEvent.click(await screen.findByTestId("action-reply"));
    const bar = await screen.findByTestId("reply-bar");
    expect(bar).toHaveAttribute("data-reply-to", held[0]!.id);
    expect(bar.querySelector("bdi")).toHaveTextContent("\u202Eevil", { normalizeWhitespace: false });
  });
});
