import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { direct, ME, message, mockCore, user, type Handlers } from "../../test/fixtures";
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
    chat.compose.replyingTo = to;
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
    expect(chat.compose.replyingTo).toBeNull();
    expect(screen.queryByTestId("reply-bar")).toBeNull();

    replying(chat, { ...hers, mine: true, sender_id: ME.id });
    expect(await screen.findByTestId("reply-bar")).toHaveTextContent("Replying to yourself");
    await userEvent.type(box, "half an answer{Escape}");
    expect(chat.compose.replyingTo).toBeNull();
    expect(box.value).toBe("half an answer");
  });

  it("edits the last own message on Up arrow in an empty box, not when there is text", async () => {
    const chat = new Chat();
    const editLast = vi.spyOn(chat.compose, "editLast").mockReturnValue(true);
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
    await chat.thread.open(conversation.id);
    const { box } = setup({ chat, conversationId: conversation.id });
    await userEvent.type(box, "{ArrowUp}");
    expect(chat.compose.editing).toBe(newest.id);
  });
});

describe("Composer files", () => {
  const ada = user("Ada Lovelace");
  const png = () => new File([new Uint8Array([137, 80, 78, 71])], "image.png", { type: "image/png" });

  /** A composer in the open conversation of a started store, whose core answers `handlers`. */
  async function opened(handlers: Handlers = {}) {
    const conversation = direct(ada);
    const core = mockCore({
      session: () => ({ user: ME, connection: { state: "online" } }),
      conversations: () => [conversation],
      messages: () => [],
      send_files: (args) => message({ conversation_id: conversation.id, seq: null, status: "pending", body: args.caption as string }),
      send_file_data: () => message({ conversation_id: conversation.id, seq: null, status: "pending", body: "" }),
      ...handlers,
    });
    const chat = new Chat();
    await chat.start();
    await chat.thread.open(conversation.id);
    const onsend = vi.fn(async () => true);
    render(Composer, { chat, conversationId: conversation.id, onsend });
    const box = screen.getByTestId("composer") as HTMLTextAreaElement;
    return { core, chat, box, onsend, conversation };
  }

  it("attaches picked files with the text as their caption, then clears the text and the draft", async () => {
    const { core, box, conversation, onsend } = await opened({ "plugin:dialog|open": () => ["/home/me/plan.pdf"] });
    const attach = screen.getByRole("button", { name: "Attach files" });
    expect(attach).toHaveAttribute("data-testid", "attach-button");
    await userEvent.type(box, "the plan");
    await userEvent.click(attach);
    await waitFor(() => expect(core.count("send_files")).toBe(1));
    expect(core.argsOf("send_files")).toEqual([
      { conversationId: conversation.id, paths: ["/home/me/plan.pdf"], caption: "the plan", replyTo: null },
    ]);
    expect(onsend).not.toHaveBeenCalled();
    await waitFor(() => expect(core.argsOf("set_draft").at(-1)).toEqual({ conversationId: conversation.id, body: "" }));
    expect(box.value).toBe("");
  });

  it("attaches as the reply being written", async () => {
    const { core, chat, box, conversation } = await opened({ "plugin:dialog|open": () => ["/home/me/a.png"] });
    const hers = message({ conversation_id: conversation.id, mine: false, sender_id: ada.id });
    chat.compose.replyingTo = hers;
    await userEvent.click(screen.getByTestId("attach-button"));
    await waitFor(() => expect(core.argsOf("send_files")).toEqual([
      { conversationId: conversation.id, paths: ["/home/me/a.png"], caption: "", replyTo: hers.id },
    ]));
    expect(box.value).toBe("");
    await waitFor(() => expect(chat.compose.replyingTo).toBeNull());
  });

  it("keeps the text when the dialog is cancelled or the files cannot be sent", async () => {
    let picked: string[] | null = null;
    const { core, box } = await opened({
      "plugin:dialog|open": () => picked,
      send_files: () => {
        throw { kind: "local_storage", message: "disk full" };
      },
    });
    await userEvent.type(box, "caption");
    await userEvent.click(screen.getByTestId("attach-button"));
    await waitFor(() => expect(core.count("plugin:dialog|open")).toBe(1));
    expect(core.count("send_files")).toBe(0);
    expect(box.value).toBe("caption");

    picked = ["/home/me/a.png"];
    await userEvent.click(screen.getByTestId("attach-button"));
    await waitFor(() => expect(core.count("send_files")).toBe(1));
    await waitFor(() => expect(box.value).toBe("caption"));
  });

  it("sends a pasted image as bytes and keeps the text being written", async () => {
    const { chat, core, box, conversation } = await opened();
    const sendFileData = vi.spyOn(chat.files, "sendFileData");
    await userEvent.type(box, "look at this");
    const notPrevented = await fireEvent.paste(box, { clipboardData: { files: [png()], types: ["Files"] } });
    expect(notPrevented).toBe(false);
    await waitFor(() => expect(sendFileData).toHaveBeenCalledExactlyOnceWith("image.png", "iVBORw=="));
    expect(core.argsOf("send_file_data")).toEqual([
      { conversationId: conversation.id, name: "image.png", dataBase64: "iVBORw==", caption: "" },
    ]);
    expect(box.value).toBe("look at this");
  });

  it("sends each pasted file, naming an unnamed picture", async () => {
    const { core, box } = await opened();
    const unnamed = new File([new Uint8Array([1, 2, 3])], "", { type: "image/jpeg" });
    await fireEvent.paste(box, { clipboardData: { files: [png(), unnamed], types: ["Files"] } });
    await waitFor(() => expect(core.count("send_file_data")).toBe(2));
    expect(core.argsOf("send_file_data").map((a) => [a.name, a.dataBase64])).toEqual([
      ["image.png", "iVBORw=="],
      ["Pasted image.jpg", "AQID"],
    ]);
  });

  it("pastes text as before, sending nothing", async () => {
    const { chat, core, box } = await opened();
    const sendFileData = vi.spyOn(chat.files, "sendFileData");
    await userEvent.type(box, "say ");
    await userEvent.paste("hello from the clipboard");
    expect(box.value).toBe("say hello from the clipboard");
    // Text with a picture of it (an office program's copy) is text too.
    const notPrevented = await fireEvent.paste(box, { clipboardData: { files: [png()], types: ["text/plain", "Files"] } });
    expect(notPrevented).toBe(true);
    expect(sendFileData).not.toHaveBeenCalled();
    expect(core.count("send_file_data")).toBe(0);
    expect(core.count("send_clipboard_image")).toBe(0);
  });

  it("sends the system clipboard's picture when a paste brings neither files nor text", async () => {
    const { core, box, conversation } = await opened({
      send_clipboard_image: () =>
        message({ conversation_id: conversation.id, seq: null, status: "pending", body: "" }),
    });
    await userEvent.type(box, "look");
    // WebKitGTK's paste of a screenshot on the X11 clipboard: a picture type, no file.
    await fireEvent.paste(box, { clipboardData: { files: [], types: ["image/png"] } });
    await waitFor(() => expect(core.argsOf("send_clipboard_image")).toEqual([{ conversationId: conversation.id }]));
    expect(core.count("send_file_data")).toBe(0);
    expect(box.value).toBe("look");
  });
});
