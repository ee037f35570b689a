import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { direct, ME, message, mockCore, user } from "../../test/fixtures";
import { Chat } from "../chat.svelte";
import Composer from "./Composer.svelte";

function setup(props: Record<string, unknown> = {}) {
  const core = mockCore();
  const onsend = vi.fn(async () => true);
  const chat = (props.chat as Chat | undefined) ?? new Chat();
  const result = render(Composer, { chat, conversationId: "conv-1", onsend, ...props });
  const box = screen.getByTestId("composer") as HTMLTextAreaElement;
  return { core, chat, onsend, box, ...result };
}

describe("Composer keys", () => {
  it("sends on Enter and clears the box", async () => {
    const { onsend, box } = setup();
    await userEvent.type(box, "hello there{Enter}");
    expect(onsend).toHaveBeenCalledExactlyOnceWith("hello there");
    expect(box.value).toBe("");
  });

  it("starts a new line on Shift+Enter without sending", async () => {
    const { onsend, box } = setup();
    await userEvent.type(box, "line one{Shift>}{Enter}{/Shift}line two");
    expect(onsend).not.toHaveBeenCalled();
    expect(box.value).toBe("line one\nline two");
    await userEvent.type(box, "{Enter}");
    expect(onsend).toHaveBeenCalledWith("line one\nline two");
  });

  it("never sends an empty or blank message", async () => {
    const { onsend, box } = setup();
    await userEvent.type(box, "{Enter}");
    await userEvent.type(box, "   {Enter}");
    expect(onsend).not.toHaveBeenCalled();
    expect(screen.getByTestId("send")).toBeDisabled();
  });

  it("sends with the button too", async () => {
    const { onsend, box } = setup();
    await userEvent.type(box, "by click");
    expect(screen.getByTestId("send")).toBeEnabled();
    await userEvent.click(screen.getByTestId("send"));
    expect(onsend).toHaveBeenCalledWith("by click");
  });

  it("gives the text back when it could not be stored", async () => {
    const { box } = setup({ onsend: vi.fn(async () => false) });
    await userEvent.type(box, "keep me{Enter}");
    await waitFor(() => expect(box.value).toBe("keep me"));
  });
});

describe("Composer typing and drafts", () => {
  it("says typing while there is text, and stops on send", async () => {
    const { core, box } = setup();
    await userEvent.type(box, "hi");
    expect(core.argsOf("set_typing").at(-1)).toEqual({ conversationId: "conv-1", composing: true });
    await userEvent.type(box, "{Enter}");
    expect(core.argsOf("set_typing").at(-1)).toEqual({ conversationId: "conv-1", composing: false });
  });

  it("stops typing when the text is cleared or the box loses focus", async () => {
    const { core, box } = setup();
    await userEvent.type(box, "a{Backspace}");
    expect(core.argsOf("set_typing").at(-1)).toMatchObject({ composing: false });
    await userEvent.type(box, "b");
    await userEvent.tab();
    expect(core.argsOf("set_typing").at(-1)).toMatchObject({ composing: false });
  });

  // The draft is saved after a pause in typing. Fake timers make "a pause" exact: with
  // real ones a stalled test runner can pause longer than the delay between two keys.
  function typist() {
    vi.useFakeTimers();
    return userEvent.setup({ advanceTimers: vi.advanceTimersByTime.bind(vi) });
  }

  it("restores the saved draft and saves changes after a pause", async () => {
    const user = typist();
    const { core, box } = setup({ draft: "half a thought" });
    expect(box.value).toBe("half a thought");
    await user.type(box, ", finished");
    await vi.advanceTimersByTimeAsync(300);
    expect(core.count("set_draft")).toBe(0);
    await vi.advanceTimersByTimeAsync(100);
    expect(core.argsOf("set_draft")).toEqual([
      { conversationId: "conv-1", body: "half a thought, finished" },
    ]);
  });

  it("clears the draft once the message is sent", async () => {
    const user = typist();
    const { core, box } = setup({ draft: "almost" });
    await user.type(box, "{Enter}");
    await vi.advanceTimersByTimeAsync(0);
    expect(core.argsOf("set_draft")).toEqual([{ conversationId: "conv-1", body: "" }]);
  });

  it("saves an unsaved draft when the conversation closes", async () => {
    const user = typist();
    const { core, box, unmount } = setup();
    await user.type(box, "later");
    unmount();
    expect(core.argsOf("set_draft")).toEqual([{ conversationId: "conv-1", body: "later" }]);
  });
});

describe("Composer replies and edits", () => {
  const ada = user("Ada Lovelace");
  const nameOf = (id: string) => (id === ada.id ? ada.display_name : "Someone");
  const hers = message({ conversation_id: "conv-1", mine: false, sender_id: ada.id, body: "lunch\nat noon?" });

  /** The reply target as the store holds it (startReply checks the open conversation). */
  function replying(chat: Chat, to: typeof hers) {
    chat.replyingTo = to;
  }

  it("shows whom and what a reply answers, and puts the cursor in the box", async () => {
    const chat = new Chat();
    const { box } = setup({ chat, nameOf });
    expect(screen.queryByTestId("reply-bar")).toBeNull();
    replying(chat, hers);
    const bar = await screen.findByTestId("reply-bar");
    expect(bar).toHaveTextContent("Replying to Ada Lovelace");
    expect(bar.querySelector(".reply-text")?.textContent).toBe("lunch at noon?");
    expect(box).toHaveFocus();
  });

  it("drops the reply with its close button or Escape", async () => {
    const chat = new Chat();
    const { box } = setup({ chat, nameOf });
    replying(chat, hers);
    await userEvent.click(await screen.findByTestId("cancel-reply"));
    expect(chat.replyingTo).toBeNull();
    expect(screen.queryByTestId("reply-bar")).toBeNull();

    replying(chat, { ...hers, mine: true, sender_id: ME.id });
    expect(await screen.findByTestId("reply-bar")).toHaveTextContent("Replying to yourself");
    await userEvent.type(box, "half an answer{Escape}");
    expect(chat.replyingTo).toBeNull();
    expect(box.value).toBe("half an answer");
  });

  it("edits the last own message on Up arrow in an empty box, not when there is text", async () => {
    const chat = new Chat();
    const editLast = vi.spyOn(chat, "editLast").mockReturnValue(true);
    const { box } = setup({ chat });
    await userEvent.type(box, "draft{ArrowUp}");
    expect(editLast).not.toHaveBeenCalled();
    await userEvent.clear(box);
    await userEvent.type(box, "{Shift>}{ArrowUp}{/Shift}");
    expect(editLast).not.toHaveBeenCalled();
    await userEvent.type(box, "{ArrowUp}");
    expect(editLast).toHaveBeenCalledOnce();
  });

  it("starts editing the newest own message of the open conversation", async () => {
    const conversation = direct(ada);
    const older = message({ conversation_id: conversation.id, seq: 1 });
    const newest = message({ conversation_id: conversation.id, seq: 2 });
    const theirs = message({ conversation_id: conversation.id, seq: 3, mine: false, sender_id: ada.id });
    mockCore({
      session: () => ({ user: ME, connection: { state: "online" } }),
      conversations: () => [conversation],
      messages: () => [older, newest, theirs],
    });
    const chat = new Chat();
    await chat.start();
    await chat.openConversation(conversation.id);
    const { box } = setup({ chat, conversationId: conversation.id });
    await userEvent.type(box, "{ArrowUp}");
    expect(chat.editing).toBe(newest.id);
  });
});
