// The window without a mouse, against a mocked core: signing in, opening a conversation
// from the list, sending, and on a message reached with the keyboard replying (R),
// reacting (E, the picker's arrows and Enter), editing one's own (F2) and going back to
// the composer (Esc); the thread is one tab stop, and Ctrl+/ opens the shortcuts from
// anywhere. The data-testids used here are the ones the WebDriver walk uses.
import { render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import App from "./App.svelte";
import { EMOJI } from "./lib/emoji";
import { ago, direct, ME, message, user } from "./test/fixtures";
import { windowCore } from "./test/window";
import "./test/screens";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");

/** Presses Tab (or Shift+Tab) until the element with `testid` has focus; fails past `most` presses. */
async function tabTo(testid: string, options: { shift?: boolean; most?: number } = {}): Promise<HTMLElement> {
  for (let i = 0; i < (options.most ?? 12); i++) {
    await userEvent.tab({ shift: options.shift ?? false });
    const active = document.activeElement as HTMLElement | null;
    if (active?.dataset.testid === testid) return active;
  }
  throw new Error(`Tab never reached ${testid}; focus is on ${document.activeElement?.outerHTML.slice(0, 120)}`);
}

function rows(): HTMLElement[] {
  return screen.getAllByTestId("message");
}

/** Ada's chat (two messages of hers around one of mine) and Grace's, newest first. */
function twoChats() {
  const adaChat = direct(ada, { updated_at: ago(1) });
  const graceChat = direct(grace, { updated_at: ago(30) });
  const held = [
    message({ conversation_id: adaChat.id, seq: 1, body: "lunch?", mine: false, sender_id: ada.id, created_at: ago(4) }),
    message({ conversation_id: adaChat.id, seq: 2, body: "yes, at noon", created_at: ago(3) }),
    message({ conversation_id: adaChat.id, seq: 3, body: "great", mine: false, sender_id: ada.id, created_at: ago(2) }),
  ];
  return { adaChat, graceChat, held };
}

describe("the keyboard alone", () => {
  it("signs in, opens a conversation from the list, sends, replies, reacts and edits", async () => {
    const { adaChat, graceChat, held } = twoChats();
    const core = windowCore({
      me: null,
      conversations: [adaChat, graceChat],
      messages: { [adaChat.id]: held },
      handlers: {
        sign_in: () => {
          core.store.me = ME;
          return ME;
        },
        send_message: (args) =>
          message({
            conversation_id: adaChat.id,
            seq: null,
            status: "pending",
            body: args.body as string,
            reply_to: (args.replyTo as string | null) ?? null,
          }),
        react: (args) => ({
          ...held.find((m) => m.id === args.messageId)!,
          reactions: [{ emoji: args.emoji as string, user_ids: [ME.id], mine: true }],
        }),
        edit_message: (args) => ({ ...held[1]!, body: args.body as string, edited: true }),
      },
    });
    render(App);

    // Sign in: the fields in order, Enter submits.
    await screen.findByTestId("server-url");
    await tabTo("username");
    await userEvent.keyboard("me");
    await tabTo("password");
    await userEvent.keyboard("pw{Enter}");
    await screen.findByTestId("conversation-list");
    expect(core.argsOf("sign_in")).toEqual([
      { serverUrl: "http://127.0.0.1:8080", username: "me", password: "pw", allowPlainHttp: false },
    ]);

    // The list is one stop: Down opens Grace's and stays in the list, Up comes back to
    // Ada's, Enter puts the cursor in its composer.
    const first = await tabTo("conversation-item");
    expect(first).toHaveAttribute("data-name", "Ada Lovelace");
    await userEvent.keyboard("{ArrowDown}");
    await waitFor(() => expect(screen.getByTestId("thread-title")).toHaveTextContent("Grace Hopper"));
    expect(document.activeElement).toHaveAttribute("data-name", "Grace Hopper");
    await userEvent.keyboard("{ArrowUp}");
    await waitFor(() => expect(screen.getByTestId("thread-title")).toHaveTextContent("Ada Lovelace"));
    await userEvent.keyboard("{Enter}");
    await waitFor(() => expect(screen.getByTestId("composer")).toHaveFocus());
    await waitFor(() => expect(rows()).toHaveLength(3));

    // Send.
    await userEvent.keyboard("on my way{Enter}");
    expect(core.argsOf("send_message")).toEqual([{ conversationId: adaChat.id, body: "on my way", replyTo: null }]);
    await waitFor(() => expect(rows()).toHaveLength(4));

    // Back to the messages: the newest is the one stop; Up goes to the one before.
    const newest = await tabTo("message", { shift: true, most: 3 });
    expect(newest).toHaveTextContent("on my way");
    await userEvent.keyboard("{ArrowUp}");
    expect(rows()[2]).toHaveFocus();
    expect(rows()[2]).toHaveAccessibleName(/^Ada Lovelace, .+: great$/);

    // R: a reply to it, with the cursor in the composer.
    await userEvent.keyboard("r");
    expect(await screen.findByTestId("reply-bar")).toHaveAttribute("data-reply-to", held[2]!.id);
    expect(screen.getByTestId("composer")).toHaveFocus();
    await userEvent.keyboard("see you{Enter}");
    expect(core.argsOf("send_message").at(-1)).toEqual({ conversationId: adaChat.id, body: "see you", replyTo: held[2]!.id });

    // E on Ada's first message: the picker, Right to the second emoji, Enter picks it;
    // the focus comes back to the message.
    await tabTo("message", { shift: true, most: 3 });
    await userEvent.keyboard("{Home}");
    expect(rows()[0]).toHaveFocus();
    await userEvent.keyboard("e");
    const picker = await screen.findByTestId("reaction-picker");
    expect(within(picker).getByTestId("emoji-search")).toHaveFocus();
    await userEvent.keyboard("{ArrowRight}{Enter}");
    expect(core.argsOf("react")).toEqual([{ messageId: held[0]!.id, emoji: EMOJI[1]!.emoji }]);
    expect(screen.queryByTestId("reaction-picker")).toBeNull();
    expect(rows()[0]).toHaveFocus();

    // F2 on my own message edits it in place; Enter saves.
    await userEvent.keyboard("{ArrowDown}");
    expect(rows()[1]).toHaveFocus();
    await userEvent.keyboard("{F2}");
    const box = await within(rows()[1]!).findByTestId("edit-input");
    expect(box).toHaveFocus();
    await userEvent.keyboard(" sharp{Enter}");
    expect(core.argsOf("edit_message")).toEqual([{ messageId: held[1]!.id, body: "yes, at noon sharp" }]);

    // Esc on a message: back to writing.
    rows()[1]!.focus();
    await userEvent.keyboard("{Escape}");
    expect(screen.getByTestId("composer")).toHaveFocus();
  });

  it("keeps the thread one tab stop: the other messages' buttons are out of the tab order", async () => {
    const { adaChat, held } = twoChats();
    windowCore({ conversations: [adaChat], messages: { [adaChat.id]: held } });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    await waitFor(() => expect(rows()).toHaveLength(3));
    const composer = screen.getByTestId("composer");
    await waitFor(() => expect(composer).toHaveFocus());

    expect(rows().map((row) => row.tabIndex)).toEqual([-1, -1, 0]);
    const tabbableIn = (row: HTMLElement) =>
      within(row)
        .queryAllByRole("button")
        .filter((b) => b.tabIndex >= 0);
    await waitFor(() => expect(rows().flatMap(tabbableIn)).toEqual([]));

    // In a message, Tab goes through its own actions, then on past the thread.
    await tabTo("message", { shift: true, most: 3 });
    await waitFor(() => expect(tabbableIn(rows()[2]!).length).toBeGreaterThan(0));
    expect(rows().slice(0, 2).flatMap(tabbableIn)).toEqual([]);
    await tabTo("action-reply");
    await tabTo("composer");
    await waitFor(() => expect(rows().flatMap(tabbableIn)).toEqual([]));

    // The stop stays where the keyboard last rested.
    await tabTo("message", { shift: true, most: 3 });
    await userEvent.keyboard("{ArrowUp}");
    await tabTo("composer");
    expect(rows().map((row) => row.tabIndex)).toEqual([-1, 0, -1]);
  });

  it("starts a chat from the new chat dialog: Tab to a person found, Enter", async () => {
    const { adaChat } = twoChats();
    const core = windowCore({
      conversations: [],
      handlers: {
        find_users: () => [ada, grace],
        open_direct: () => {
          core.store.conversations = [adaChat];
          return adaChat.id;
        },
      },
    });
    render(App);
    await screen.findByText(/No conversations yet/);
    await tabTo("new-chat");
    await userEvent.keyboard("{Enter}");
    const dialog = await screen.findByTestId("new-chat-dialog");
    expect(within(dialog).getByTestId("user-search")).toHaveFocus();
    await userEvent.keyboard("ad");
    await within(dialog).findAllByTestId("user-result");
    const person = await tabTo("user-result");
    expect(person).toHaveAttribute("data-username", "ada");
    await userEvent.keyboard("{Enter}");
    await waitFor(() => expect(screen.queryByTestId("new-chat-dialog")).toBeNull());
    expect(core.argsOf("open_direct")).toEqual([{ username: "ada" }]);
    await waitFor(() => expect(screen.getByTestId("composer")).toHaveFocus());
  });

  it("moves through the account menu with the arrows, round, and opens Settings with Enter", async () => {
    windowCore({ conversations: [direct(ada)] });
    render(App);
    const trigger = await screen.findByTestId("account-menu");
    trigger.focus();
    await userEvent.keyboard("{Enter}");
    expect(screen.getByTestId("account-settings")).toHaveFocus();
    await userEvent.keyboard("{ArrowDown}");
    expect(screen.getByTestId("blocked-people")).toHaveFocus();
    await userEvent.keyboard("{End}");
    expect(screen.getByTestId("sign-out")).toHaveFocus();
    await userEvent.keyboard("{ArrowDown}");
    expect(screen.getByTestId("account-settings")).toHaveFocus();
    await userEvent.keyboard("{ArrowUp}");
    expect(screen.getByTestId("sign-out")).toHaveFocus();
    await userEvent.keyboard("{Home}{Enter}");
    const dialog = await screen.findByTestId("settings-dialog");
    expect(within(dialog).getByTestId("settings-panel")).toHaveAttribute("data-section", "account");
  });

  it("opens the keyboard shortcuts with Ctrl+/ from anywhere, signed out too, and Esc gives focus back", async () => {
    windowCore({ me: null });
    render(App);
    const username = await screen.findByTestId("username");
    username.focus();
    await userEvent.keyboard("{Control>}/{/Control}");
    const dialog = await screen.findByRole("dialog", { name: "Settings" });
    expect(within(dialog).getByRole("tab", { name: "Keyboard shortcuts" })).toHaveAttribute("aria-selected", "true");
    expect(within(dialog).getByRole("tab", { name: "Keyboard shortcuts" })).toHaveFocus();
    // Signed out there is no account to show.
    expect(within(dialog).queryByRole("tab", { name: "Account" })).toBeNull();
    const list = within(dialog).getByTestId("shortcut-list");
    expect(within(list).getByText("Show the keyboard shortcuts")).toBeInTheDocument();
    expect(within(list).getByText("React with an emoji")).toBeInTheDocument();

    await userEvent.keyboard("{Escape}");
    expect(screen.queryByTestId("settings-dialog")).toBeNull();
    expect(username).toHaveFocus();
  });

  it("opens them over the chat with Cmd+/ as well, and the same keys close them", async () => {
    const { adaChat, held } = twoChats();
    windowCore({ conversations: [adaChat], messages: { [adaChat.id]: held } });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    const composer = screen.getByTestId("composer");
    await waitFor(() => expect(composer).toHaveFocus());

    await userEvent.keyboard("{Meta>}/{/Meta}");
    const dialog = await screen.findByTestId("settings-dialog");
    expect(within(dialog).getByTestId("settings-panel")).toHaveAttribute("data-section", "shortcuts");
    await userEvent.keyboard("{Control>}/{/Control}");
    await waitFor(() => expect(screen.queryByTestId("settings-dialog")).toBeNull());
    expect(composer).toHaveFocus();
  });
});
