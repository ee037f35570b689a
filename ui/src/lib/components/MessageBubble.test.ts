import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { LocalMessage } from "../bindings/LocalMessage";
import type { MessageStatus } from "../bindings/MessageStatus";
import { READ_ONLY, type Standing } from "../changes";
import { Chat } from "../chat.svelte";
import { attachment, connectionEvent, coreEmits, image, ME, message, mockCore, user, type Handlers } from "../../test/fixtures";
import MessageBubble from "./MessageBubble.svelte";

/** The stores a bubble reads: its files, and the session (whether uploads can go now). */
function stores(chat: Chat) {
  return { files: chat.files, session: chat.session };
}

function show(extra: Parameters<typeof message>[0], props: Record<string, unknown> = {}) {
  const onretry = vi.fn();
  const ondiscard = vi.fn();
  const m = message(extra);
  render(MessageBubble, { ...stores(new Chat()), message: m, senderName: "Ada", onretry, ondiscard, ...props });
  return { m, onretry, ondiscard, el: screen.getByTestId("message") };
}

describe("MessageBubble status", () => {
  it.each<[MessageStatus, string, string]>([
    ["pending", "clock", "Waiting to send"],
    ["sent", "tick", "Sent"],
    ["delivered", "double-tick", "Delivered"],
    ["read", "double-tick", "Read"],
    ["failed", "alert", "Not sent"],
  ])("shows %s on an own message as %s", (status, icon, label) => {
    const { el } = show({ status, mine: true });
    expect(el).toHaveAttribute("data-status", status);
    expect(el).toHaveAttribute("data-mine", "true");
    const ticks = within(el).getByTestId("status");
    expect(ticks).toHaveAttribute("data-icon", icon);
    expect(within(ticks).getByRole("img", { name: label })).toBeInTheDocument();
  });

  it("colours read ticks apart from delivered ones", () => {
    show({ status: "read" });
    expect(screen.getByTestId("status")).toHaveClass("read");
  });

  it("shows no status on other people's messages", () => {
    const { el } = show({ mine: false, sender_id: "ada" });
    expect(el).toHaveAttribute("data-mine", "false");
    expect(within(el).queryByTestId("status")).toBeNull();
  });

  it("offers Retry and Delete on a failed message, with the reason", async () => {
    const { m, onretry, ondiscard } = show({ status: "failed", error: "the message is too long" });
    expect(screen.getByText(/Not sent: the message is too long/)).toBeInTheDocument();
    await fireEvent.click(screen.getByTestId("retry"));
    expect(onretry).toHaveBeenCalledWith(m.id);
    await fireEvent.click(screen.getByTestId("discard"));
    expect(ondiscard).toHaveBeenCalledWith(m.id);
  });

  it("has no Retry or Delete otherwise", () => {
    show({ status: "pending" });
    expect(screen.queryByTestId("retry")).toBeNull();
    expect(screen.queryByTestId("discard")).toBeNull();
  });
});

describe("MessageBubble text", () => {
  it("shows markup as text, never as HTML", () => {
    const body = '<img src=x onerror=alert(1)> <b>bold</b> <script>alert(2)</script>';
    const { el } = show({ body });
    expect(el.querySelector("img, b, script")).toBeNull();
    expect(el.querySelector(".body")?.textContent).toBe(body);
  });

  it("keeps line breaks of multi-line messages", () => {
    const { el } = show({ body: "line one\nline two" });
    expect(el.querySelector(".body")?.textContent).toBe("line one\nline two");
  });

  it("makes web links clickable and opens them in the system browser", async () => {
    const core = mockCore();
    show({ body: "docs at https://example.com/guide. thanks" });
    const link = screen.getByRole("link", { name: "https://example.com/guide" });
    expect(link).toHaveAttribute("href", "https://example.com/guide");
    const notPrevented = await fireEvent.click(link);
    expect(notPrevented).toBe(false);
    expect(core.argsOf("plugin:opener|open_url")).toEqual([{ url: "https://example.com/guide", with: undefined }]);
  });

  it("does not let a link smuggle markup", () => {
    const { el } = show({ body: 'https://a.test/"><img src=x onerror=alert(1)>' });
    expect(el.querySelector("img")).toBeNull();
    expect(within(el).getByRole("link")).toHaveAttribute("href", "https://a.test/");
  });

  it("names the sender where a run starts in a group", () => {
    show({ mine: false, sender_id: "ada" }, { showSender: true, senderName: "Ada Lovelace" });
    expect(screen.getByText("Ada Lovelace")).toBeInTheDocument();
  });
});

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");
const names: Record<string, string> = { [ada.id]: ada.display_name, [grace.id]: grace.display_name };
const MEMBER: Standing = { member: true, moderator: false };
const OWNER: Standing = { member: true, moderator: true };

/** A bubble with every callback recorded, as the thread shows it to this user (ME). */
function shown(extra: Partial<LocalMessage>, props: Record<string, unknown> = {}) {
  const calls = {
    onretry: vi.fn(),
    ondiscard: vi.fn(),
    onreply: vi.fn(),
    onreact: vi.fn(),
    onpicker: vi.fn(),
    onedit: vi.fn(),
    ondelete: vi.fn(),
    onjump: vi.fn(),
    onsaveedit: vi.fn(async () => true),
    oncanceledit: vi.fn(),
  };
  const m = message(extra);
  render(MessageBubble, {
    ...stores(new Chat()),
    message: m,
    senderName: m.mine ? "You" : (names[m.sender_id] ?? "Someone"),
    meId: ME.id,
    nameOf: (id: string) => names[id] ?? "Someone",
    standing: MEMBER,
    ...calls,
    ...props,
  });
  return { m, el: screen.getByTestId("message"), ...calls };
}

const theirs = { mine: false, sender_id: ada.id };

describe("MessageBubble replies", () => {
  const quoted = { id: "quoted-1", sender_id: ada.id, body: "are we\nstill on for noon?", seq: 7, deleted: false, unreadable: false };

  it("quotes the answered message on one line, and goes there on click or Enter", async () => {
    const { el, onjump } = shown({ reply_to: quoted.id, quote: quoted, body: "yes!" });
    const quote = within(el).getByTestId("quote");
    expect(quote).toHaveTextContent("Ada Lovelace");
    expect(quote.querySelector(".quote-text")?.textContent).toBe("are we still on for noon?");
    expect(el.querySelector(".body")).toHaveTextContent("yes!");
    await userEvent.click(quote);
    expect(onjump).toHaveBeenCalledWith("quoted-1", 7);
    quote.focus();
    await userEvent.keyboard("{Enter}");
    expect(onjump).toHaveBeenCalledTimes(2);
  });

  it("says the answered message was deleted, in italics, and names this user as You", () => {
    shown({ reply_to: quoted.id, quote: { ...quoted, sender_id: ME.id, body: "", deleted: true } });
    const quote = screen.getByTestId("quote");
    expect(quote).toHaveTextContent("You");
    const text = quote.querySelector(".quote-text")!;
    expect(text).toHaveTextContent("Message deleted");
    expect(text).toHaveClass("deleted");
  });

  it("says when this device does not have the answered message (nothing to go to)", () => {
    shown({ reply_to: "unknown", quote: null });
    const quote = screen.getByTestId("quote");
    expect(quote).toHaveTextContent("Original message not available");
    expect(quote.tagName).not.toBe("BUTTON");
  });

  it("shows no quote on a message that is not a reply", () => {
    shown({});
    expect(screen.queryByTestId("quote")).toBeNull();
  });
});

describe("MessageBubble edits and deletions", () => {
  it("marks an edited message by its time", () => {
    const { el } = shown({ edited: true, body: "fixed" });
    expect(el).toHaveAttribute("data-edited", "true");
    expect(within(el).getByTestId("edited")).toHaveTextContent("(edited)");
    expect(el.querySelector(".meta")).toContainElement(screen.getByTestId("edited"));
  });

  it("has no mark otherwise", () => {
    const { el } = shown({});
    expect(el).toHaveAttribute("data-edited", "false");
    expect(el).toHaveAttribute("data-deleted", "false");
    expect(screen.queryByTestId("edited")).toBeNull();
  });

  it("shows a deleted message as a placeholder, without reactions, quote or actions", () => {
    const { el } = shown(
      {
        body: "",
        deleted: true,
        edited: true,
        reply_to: "q",
        quote: null,
        reactions: [{ emoji: "👍", user_ids: [ada.id], mine: false }],
      },
      { standing: OWNER },
    );
    expect(el).toHaveAttribute("data-deleted", "true");
    const placeholder = within(el).getByTestId("deleted");
    expect(placeholder).toHaveTextContent("This message was deleted");
    expect(placeholder).toHaveClass("deleted");
    for (const id of ["quote", "edited", "reaction", "add-reaction", "action-reply", "action-react", "action-edit", "action-delete"]) {
      expect(within(el).queryByTestId(id)).toBeNull();
    }
    // What still shows: whose it was and when.
    expect(el.querySelector("time")).not.toBeNull();
  });

  it("says when an administrator of the server removed it, rather than its sender", () => {
    const { el } = shown({ ...theirs, body: "", deleted: true, removed_by_operator: true });
    const placeholder = within(el).getByTestId("deleted");
    expect(placeholder).toHaveTextContent("This message was removed by an administrator");
    expect(within(el).queryByTestId("action-delete")).toBeNull();
  });

  it("shows one sealed before this device joined as a placeholder instead of its (empty) text", () => {
    const { el } = shown({ ...theirs, body: "", unreadable: true });
    const placeholder = within(el).getByTestId("unreadable");
    expect(placeholder).toHaveTextContent("Encrypted before this device joined: it can't be read here.");
    expect(placeholder).toHaveClass("deleted");
    expect(el.querySelectorAll(".body")).toHaveLength(1);
    expect(within(el).queryByTestId("deleted")).toBeNull();
    expect(el).toHaveAccessibleName(/^Ada Lovelace, .+: Encrypted before this device joined: it can't be read here$/);
  });

  it("offers no edit of one's own message this device cannot read (there is no text to start from)", () => {
    const { el } = shown({ body: "", unreadable: true });
    expect(within(el).getByTestId("unreadable")).toBeInTheDocument();
    expect(within(el).queryByTestId("action-edit")).toBeNull();
    expect(within(el).getByTestId("action-delete")).toBeInTheDocument();
  });

  it("shows an ordinary message's text, with no unreadable placeholder", () => {
    const { el } = shown({ ...theirs, body: "plain words" });
    expect(within(el).queryByTestId("unreadable")).toBeNull();
    expect(el.querySelector(".body")).toHaveTextContent("plain words");
  });

  it("edits in place: the text in a box, Enter saves, Shift+Enter breaks the line", async () => {
    const { el, onsaveedit } = shown({ body: "first try" }, { editing: true });
    const box = within(el).getByTestId("edit-input") as HTMLTextAreaElement;
    expect(box.value).toBe("first try");
    expect(box).toHaveFocus();
    expect(el.querySelector(".bubble")).toBeNull();
    await userEvent.type(box, ",{Shift>}{Enter}{/Shift}second");
    expect(onsaveedit).not.toHaveBeenCalled();
    await userEvent.type(box, "{Enter}");
    expect(onsaveedit).toHaveBeenCalledExactlyOnceWith("first try,\nsecond");
  });

  it("cancels on Escape, and refuses a blank text with a hint", async () => {
    const { el, onsaveedit, oncanceledit } = shown({ body: "keep" }, { editing: true });
    const box = within(el).getByTestId("edit-input");
    await userEvent.clear(box);
    await userEvent.type(box, "   {Enter}");
    expect(onsaveedit).not.toHaveBeenCalled();
    expect(screen.getByTestId("edit-blank")).toHaveTextContent("can't be empty");
    expect(box).toHaveAttribute("aria-invalid", "true");
    await userEvent.type(box, "{Escape}");
    expect(oncanceledit).toHaveBeenCalledOnce();
  });
});

describe("MessageBubble reactions", () => {
  const reactions = [
    { emoji: "👍", user_ids: [ada.id, ME.id], mine: true },
    { emoji: "🎉", user_ids: [grace.id], mine: false },
  ];

  it("shows a chip per emoji with its count, pressed where this user reacted", () => {
    shown({ reactions });
    const chips = screen.getAllByTestId("reaction");
    expect(chips.map((c) => [c.dataset.emoji, c.dataset.count, c.getAttribute("aria-pressed")])).toEqual([
      ["👍", "2", "true"],
      ["🎉", "1", "false"],
    ]);
    expect(chips[0]).toHaveTextContent("👍 2");
    expect(chips[0]).toHaveAttribute("title", "Ada Lovelace and you reacted with 👍 (thumbs up)");
    expect(chips[1]).toHaveAttribute("title", "Grace Hopper reacted with 🎉 (party popper)");
  });

  it("toggles this user's reaction on click, and opens the picker from the + chip", async () => {
    const { m, onreact, onpicker } = shown({ reactions });
    await userEvent.click(screen.getAllByTestId("reaction")[1]!);
    expect(onreact).toHaveBeenCalledWith(m, "🎉");
    const add = screen.getByTestId("add-reaction");
    await userEvent.click(add);
    expect(onpicker).toHaveBeenCalledWith(m, add);
  });

  it("only shows them to one who left", () => {
    shown({ reactions }, { standing: READ_ONLY });
    for (const chip of screen.getAllByTestId("reaction")) expect(chip).toBeDisabled();
    expect(screen.queryByTestId("add-reaction")).toBeNull();
  });

  it("has no chips without reactions", () => {
    shown({});
    expect(screen.queryByTestId("reaction")).toBeNull();
    expect(screen.queryByTestId("add-reaction")).toBeNull();
  });
});

describe("MessageBubble actions", () => {
  const offered = (el: HTMLElement) =>
    within(el)
      .queryAllByTestId(/^action-/)
      .map((b) => b.dataset.testid);

  it("offers reply, react, edit and delete on this user's own message", async () => {
    const { m, el, onreply, onpicker, onedit, ondelete } = shown({});
    expect(offered(el)).toEqual(["action-reply", "action-react", "action-edit", "action-delete"]);
    expect(within(el).getByRole("toolbar", { name: "Message actions" })).toBeInTheDocument();
    await userEvent.click(screen.getByTestId("action-reply"));
    expect(onreply).toHaveBeenCalledWith(m);
    await userEvent.click(screen.getByTestId("action-react"));
    expect(onpicker).toHaveBeenCalledWith(m, el.querySelector(".bubble"));
    await userEvent.click(screen.getByTestId("action-edit"));
    expect(onedit).toHaveBeenCalledWith(m);
    await userEvent.click(screen.getByTestId("action-delete"));
    expect(ondelete).toHaveBeenCalledWith(m);
  });

  it("never offers to edit someone else's message, and to delete it only to a group's owner", () => {
    const member = shown(theirs);
    expect(offered(member.el)).toEqual(["action-reply", "action-react"]);
    cleanup();
    const owner = shown(theirs, { standing: OWNER });
    expect(offered(owner.el)).toEqual(["action-reply", "action-react", "action-delete"]);
  });

  it("offers nothing to one who left, nor on a failed message (it has Retry and Delete)", () => {
    const left = shown({}, { standing: READ_ONLY });
    expect(offered(left.el)).toEqual([]);
    cleanup();
    const failed = shown({ status: "failed", seq: null }, { standing: OWNER });
    expect(offered(failed.el)).toEqual([]);
    expect(screen.getByTestId("retry")).toBeInTheDocument();
  });

  it("takes R, E or +, F2 and Delete when focused, as far as they are offered", async () => {
    const { m, el, onreply, onedit, onpicker, ondelete } = shown({});
    expect(el).toHaveAttribute("tabindex", "0");
    expect(el).toHaveAttribute("aria-keyshortcuts", "R E Plus F2 Delete");
    el.focus();
    await userEvent.keyboard("r");
    expect(onreply).toHaveBeenCalledWith(m);
    await userEvent.keyboard("e");
    expect(onpicker).toHaveBeenCalledWith(m, el.querySelector(".bubble"));
    await userEvent.keyboard("+");
    expect(onpicker).toHaveBeenCalledTimes(2);
    expect(onedit).not.toHaveBeenCalled();
    await userEvent.keyboard("{F2}");
    expect(onedit).toHaveBeenCalledWith(m);
    await userEvent.keyboard("{Delete}");
    await userEvent.keyboard("{Backspace}");
    expect(ondelete).toHaveBeenCalledTimes(2);
  });

  it("ignores keys it does not offer, and keys meant for what is inside it", async () => {
    const { el, onedit, ondelete, onreply } = shown({ ...theirs, reply_to: "q", quote: null });
    el.focus();
    await userEvent.keyboard("{F2}{Delete}");
    expect(onedit).not.toHaveBeenCalled();
    expect(ondelete).not.toHaveBeenCalled();
    screen.getByTestId("action-reply").focus();
    await userEvent.keyboard("r");
    expect(onreply).not.toHaveBeenCalled();
  });
});

describe("MessageBubble files", () => {
  const PREVIEW = "data:image/jpeg;base64,/9j/AA==";

  /** A started store (it hears the core's events) and a bubble of `extra` shown through it. */
  async function withFiles(extra: Partial<LocalMessage>, handlers: Handlers = {}, props: Record<string, unknown> = {}) {
    const core = mockCore({
      session: () => ({ user: ME, connection: { state: "online" } }),
      conversations: () => [],
      attachment_preview: () => PREVIEW,
      download_attachment: () => "/cache/file",
      ...handlers,
    });
    const chat = new Chat();
    await chat.start();
    const onview = vi.fn();
    const m = message(extra);
    const view = render(MessageBubble, {
      ...stores(chat),
      message: m,
      senderName: "Ada",
      meId: ME.id,
      standing: MEMBER,
      onretry: vi.fn(),
      ondiscard: vi.fn(),
      onview,
      ...props,
    });
    return { core, chat, m, onview, el: screen.getByTestId("message"), ...view };
  }

  it("shows an image inline once its preview is here, at its proportions within 320px", async () => {
    const photo = image({ width: 1600, height: 1200 });
    const { el, core, m } = await withFiles({ body: "", mine: false, sender_id: ada.id, attachments: [photo] });
    const item = within(el).getByTestId("attachment");
    expect(item).toHaveAttribute("data-name", "harbour.jpg");
    const img = await within(item).findByTestId("attachment-preview");
    expect(img).toHaveAttribute("src", PREVIEW);
    expect(img).toHaveAttribute("alt", "harbour.jpg");
    expect(img).toHaveAttribute("width", "320");
    expect(img).toHaveAttribute("height", "240");
    expect(core.argsOf("attachment_preview")).toEqual([{ messageId: m.id, index: 0 }]);
    // No caption: no text under it.
    expect(el.querySelector(".body")).toBeNull();
  });

  it("shows the name in a box of the same size until the preview is here, with no src before", async () => {
    let answer!: (url: string) => void;
    const { el } = await withFiles(
      { attachments: [image({ width: 400, height: 800 })] },
      { attachment_preview: () => new Promise((resolve) => (answer = resolve)) },
    );
    const placeholder = within(el).getByTestId("attachment-placeholder");
    expect(placeholder).toHaveTextContent("harbour.jpg");
    expect(el.querySelector("img")).toBeNull();
    const box = placeholder.closest("button")!;
    expect(box.style.width).toBe("160px");
    expect(box.style.aspectRatio).toBe("160 / 320");
    await waitFor(() => expect(answer).toBeTypeOf("function"));
    answer(PREVIEW);
    expect(await within(el).findByTestId("attachment-preview")).toHaveAttribute("src", PREVIEW);
    expect(within(el).queryByTestId("attachment-placeholder")).toBeNull();
  });

  it("opens the viewer when the image is clicked", async () => {
    const photo = image();
    const { el, m, onview } = await withFiles({ attachments: [photo] });
    await userEvent.click(await within(el).findByRole("button", { name: "harbour.jpg" }));
    expect(onview).toHaveBeenCalledExactlyOnceWith(m, photo);
  });

  it("keeps the name when the preview cannot be had, and asks again on a click or once back online", async () => {
    let offline = true;
    const { el, core } = await withFiles(
      { attachments: [image()] },
      {
        attachment_preview: () => {
          if (offline) throw { kind: "offline", message: "the server cannot be reached" };
          return PREVIEW;
        },
      },
    );
    await waitFor(() => expect(within(el).getByTestId("attachment-placeholder")).toHaveTextContent("Preview not available"));
    await userEvent.click(within(el).getByRole("button", { name: /harbour\.jpg/ }));
    await waitFor(() => expect(core.count("attachment_preview")).toBe(2));
    expect(el.querySelector("img")).toBeNull();

    await connectionEvent({ state: "offline", retry_at: null, reason: null });
    expect(core.count("attachment_preview")).toBe(2);
    offline = false;
    await connectionEvent({ state: "online" });
    expect(await within(el).findByTestId("attachment-preview")).toHaveAttribute("src", PREVIEW);
    expect(core.count("attachment_preview")).toBe(3);
  });

  it("shows a preview held in memory at once, without asking again", async () => {
    const photo = image();
    const { chat, m, core, unmount } = await withFiles({ attachments: [photo] });
    expect(await screen.findByTestId("attachment-preview")).toBeInTheDocument();
    unmount();
    render(MessageBubble, { ...stores(chat), message: m, senderName: "Ada", onretry: vi.fn(), ondiscard: vi.fn() });
    expect(screen.getByTestId("attachment-preview")).toHaveAttribute("src", PREVIEW);
    expect(core.count("attachment_preview")).toBe(1);
  });

  it("shows other files as cards with their size; Download, then Open and Save as…", async () => {
    const pdf = attachment({ name: "minutes.pdf", size: 48_213 });
    const { el, m, core, rerender } = await withFiles({ body: "from today", mine: false, sender_id: ada.id, attachments: [pdf] });
    const item = within(el).getByTestId("attachment");
    expect(item).toHaveAttribute("data-name", "minutes.pdf");
    expect(item).toHaveAttribute("data-downloaded", "false");
    expect(item).toHaveTextContent("PDF");
    expect(item).toHaveTextContent("minutes.pdf");
    expect(item).toHaveTextContent("47 KB");
    expect(within(item).queryByTestId("attachment-downloaded")).toBeNull();
    // The caption comes after the files.
    const body = el.querySelector(".body")!;
    expect(body).toHaveTextContent("from today");
    expect(item.compareDocumentPosition(body) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();

    await userEvent.click(within(item).getByRole("button", { name: "Download minutes.pdf" }));
    expect(core.argsOf("download_attachment")).toEqual([{ messageId: m.id, index: 0 }]);

    // The core's message event says it is here.
    await rerender({ message: { ...m, attachments: [{ ...pdf, downloaded: true }] } });
    const open = within(el).getByTestId("attachment-downloaded");
    expect(open).toHaveAccessibleName("Open minutes.pdf");
    expect(within(el).queryByTestId("attachment-download")).toBeNull();
    await userEvent.click(open);
    expect(core.argsOf("open_attachment")).toEqual([{ messageId: m.id, index: 0 }]);
    expect(within(el).getByRole("button", { name: "Save minutes.pdf as…" })).toBeInTheDocument();
  });

  it("says a download is under way, and cards an image without a preview", async () => {
    let done!: (path: string) => void;
    const raw = image({ name: "scan.tiff", content_type: "image/tiff", has_preview: false });
    const { el } = await withFiles(
      { attachments: [raw] },
      { download_attachment: () => new Promise((resolve) => (done = resolve)) },
    );
    expect(el.querySelector("img")).toBeNull();
    const button = within(el).getByTestId("attachment-download");
    await userEvent.click(button);
    await waitFor(() => expect(button).toBeDisabled());
    expect(button).toHaveTextContent("Downloading…");
    done("/cache/scan.tiff");
    await waitFor(() => expect(button).toBeEnabled());
  });

  it("shows each file's upload progress while pending, follows the core's events, and cancels", async () => {
    const going = [
      image({ id: null, size: 1000, uploaded: 250, downloaded: true }),
      attachment({ index: 1, id: null, size: 4000, uploaded: 0, downloaded: true }),
    ];
    const { el, m, core } = await withFiles({ status: "pending", seq: null, body: "", attachments: going });
    const bars = within(el).getAllByTestId("upload-progress");
    expect(bars.map((b) => [b.getAttribute("role"), b.getAttribute("aria-valuenow")])).toEqual([
      ["progressbar", "25"],
      ["progressbar", "0"],
    ]);
    expect(bars[0]).toHaveAccessibleName("Uploading harbour.jpg");
    expect(bars[0]).toHaveAttribute("aria-valuemin", "0");
    expect(bars[0]).toHaveAttribute("aria-valuemax", "100");
    expect(bars[0]).toHaveAttribute("aria-valuetext", "250 B of 1000 B");
    expect(el).toHaveTextContent("Uploading 250 B of 4.9 KB");

    await coreEmits({ type: "upload_progress", message_id: m.id, index: 1, sent: 3000, total: 4000 });
    await waitFor(() => expect(bars[1]).toHaveAttribute("aria-valuenow", "75"));
    expect(bars[0]).toHaveAttribute("aria-valuenow", "25");

    await userEvent.click(within(el).getByTestId("cancel-upload"));
    expect(core.argsOf("cancel_upload")).toEqual([{ messageId: m.id }]);
  });

  it("says offline that an upload waits for the connection, not that 0 B are uploading", async () => {
    const going = [attachment({ id: null, size: 5000, uploaded: 0, downloaded: true })];
    const { el, chat } = await withFiles({ status: "pending", seq: null, body: "", attachments: going });
    await connectionEvent({ state: "offline", retry_at: null, reason: "cannot connect" });
    await waitFor(() => expect(chat.session.connection.state).toBe("offline"));
    expect(within(el).getByTestId("upload-line")).toHaveTextContent("Waiting to upload 4.9 KB until you are back online");
    expect(el).not.toHaveTextContent("Uploading");
    await connectionEvent({ state: "online" });
    await waitFor(() => expect(within(el).getByTestId("upload-line")).toHaveTextContent("Uploading 0 B of 4.9 KB"));
  });

  it("shows no progress once sent, nor on a failed message, which says why with Retry and Delete", async () => {
    const sent = attachment({ downloaded: true });
    const { el, rerender } = await withFiles({ status: "sent", attachments: [sent] });
    expect(within(el).queryByTestId("upload-progress")).toBeNull();
    expect(within(el).queryByTestId("cancel-upload")).toBeNull();

    await rerender({
      message: message({
        status: "failed",
        seq: null,
        error: "the file is larger than 100 MB",
        attachments: [{ ...sent, id: null, uploaded: 512 }],
      }),
    });
    expect(within(el).queryByTestId("upload-progress")).toBeNull();
    expect(within(el).queryByTestId("cancel-upload")).toBeNull();
    expect(el).toHaveTextContent("Not sent: the file is larger than 100 MB");
    expect(within(el).getByTestId("retry")).toBeInTheDocument();
    expect(within(el).getByTestId("discard")).toBeInTheDocument();
  });

  it("shows no files of a message deleted for everyone", async () => {
    const { el } = await withFiles({ body: "", deleted: true, attachments: [image(), attachment({ index: 1 })] });
    expect(within(el).queryByTestId("attachment")).toBeNull();
    expect(within(el).getByTestId("deleted")).toBeInTheDocument();
  });
});
