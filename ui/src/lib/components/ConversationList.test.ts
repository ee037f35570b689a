import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import { ago, direct, group, ME, member, message, user } from "../../test/fixtures";
import ConversationList from "./ConversationList.svelte";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");

function items() {
  return screen.getAllByTestId("conversation-item");
}

function item(name: string) {
  const found = items().find((el) => el.dataset.name === name);
  if (!found) throw new Error(`no conversation item named ${name}`);
  return found;
}

describe("ConversationList", () => {
  it("shows each conversation with its name, preview and unread badge", () => {
    const conversations = [
      direct(ada, { unread_count: 3, last_message: message({ body: "are you there?", mine: false, sender_id: ada.id }) }),
      group("Team", [ada, grace], { unread_count: 0, last_message: message({ body: "done" }) }),
      direct(grace, { unread_count: 150 }),
    ];
    render(ConversationList, { conversations, meId: ME.id, openId: null, onopen: vi.fn() });

    expect(screen.getByRole("listbox", { name: "Conversations" })).toBeInTheDocument();
    expect(items().map((el) => el.dataset.name)).toEqual(["Ada Lovelace", "Team", "Grace Hopper"]);
    expect(within(item("Ada Lovelace")).getByTestId("unread-badge")).toHaveTextContent("3");
    expect(within(item("Ada Lovelace")).getByTestId("unread-badge")).toHaveAccessibleName("3 unread");
    expect(within(item("Ada Lovelace")).getByText("are you there?")).toBeInTheDocument();
    expect(within(item("Team")).queryByTestId("unread-badge")).toBeNull();
    expect(within(item("Team")).getByText("You: done")).toBeInTheDocument();
    expect(within(item("Grace Hopper")).getByTestId("unread-badge")).toHaveTextContent("99+");
  });

  it("shows typing… in place of the preview", () => {
    const conversations = [direct(ada, { typing: [ada.id], last_message: message({ body: "old news" }) })];
    render(ConversationList, { conversations, meId: ME.id, openId: null, onopen: vi.fn() });
    expect(within(item("Ada Lovelace")).getByText("typing…")).toBeInTheDocument();
    expect(within(item("Ada Lovelace")).queryByText(/old news/)).toBeNull();
  });

  it("marks the user's own last message when it is pending or failed", () => {
    const conversations = [
      direct(ada, { last_message: message({ status: "pending", seq: null }) }),
      direct(grace, { last_message: message({ status: "failed", seq: null }) }),
      group("Team", [ada], { last_message: message({ status: "read" }) }),
      group("Others", [ada], { last_message: message({ mine: false, sender_id: ada.id }) }),
    ];
    render(ConversationList, { conversations, meId: ME.id, openId: null, onopen: vi.fn() });
    const status = (name: string) => within(item(name)).queryByTestId("last-status");
    expect(status("Ada Lovelace")).toHaveAttribute("data-icon", "clock");
    expect(status("Grace Hopper")).toHaveAttribute("data-icon", "alert");
    expect(status("Grace Hopper")).toHaveAccessibleName("Not sent");
    expect(status("Team")).toHaveAttribute("data-status", "read");
    expect(status("Others")).toBeNull();
  });

  it("shows a presence dot for a direct chat whose other member is online", () => {
    const conversations = [
      direct(ada, { members: [member(ME), member(ada, { online: true })] }),
      direct(grace),
      group("Team", [ada], { members: [member(ME), member(ada, { online: true })] }),
    ];
    render(ConversationList, { conversations, meId: ME.id, openId: null, onopen: vi.fn() });
    expect(within(item("Ada Lovelace")).getByTestId("presence-dot")).toBeInTheDocument();
    expect(within(item("Grace Hopper")).queryByTestId("presence-dot")).toBeNull();
    expect(within(item("Team")).queryByTestId("presence-dot")).toBeNull();
  });

  it("marks an end-to-end encrypted conversation with a named lock by its name, and no other", () => {
    const conversations = [direct(ada, { encrypted: true }), direct(grace), group("Team", [ada], { encrypted: true })];
    render(ConversationList, { conversations, meId: ME.id, openId: null, onopen: vi.fn() });
    for (const name of ["Ada Lovelace", "Team"]) {
      const lock = within(item(name)).getByTestId("list-lock");
      expect(within(lock).getByRole("img", { name: "End-to-end encrypted" })).toBeInTheDocument();
    }
    expect(within(item("Grace Hopper")).queryByTestId("list-lock")).toBeNull();
    expect(within(item("Grace Hopper")).queryByRole("img", { name: /encrypt/i })).toBeNull();
  });

  it("marks a message request and hides its text, and marks a chat this user blocked", () => {
    const linus = user("Linus Torvalds");
    const stranger = message({ body: "click this link", mine: false, sender_id: ada.id });
    const conversations = [
      direct(ada, { request: true, unread_count: 2, last_message: stranger }),
      direct(grace, { blocked: true, members: [member(ME), member(grace, { online: true })] }),
      direct(linus, { unread_count: 1 }),
    ];
    render(ConversationList, { conversations, meId: ME.id, openId: null, onopen: vi.fn() });

    const request = item("Ada Lovelace");
    expect(within(request).getByTestId("request-badge")).toHaveTextContent("Request");
    expect(within(request).getByText("Message request")).toBeInTheDocument();
    expect(within(request).queryByText(/click this link/)).toBeNull();
    expect(within(request).queryByTestId("unread-badge")).toBeNull();

    const blocked = item("Grace Hopper");
    expect(within(blocked).getByTestId("blocked-badge")).toHaveTextContent("Blocked");
    expect(within(blocked).queryByTestId("request-badge")).toBeNull();
    // Presence is not shared with someone blocked: a last-heard Online says nothing.
    expect(within(blocked).queryByTestId("presence-dot")).toBeNull();

    expect(within(item("Linus Torvalds")).queryByTestId("request-badge")).toBeNull();
    expect(within(item("Linus Torvalds")).queryByTestId("blocked-badge")).toBeNull();
  });

  it("opens on click, and moves through conversations with Up and Down", async () => {
    const conversations = [direct(ada, { updated_at: ago(1) }), direct(grace), group("Team", [ada])];
    const onopen = vi.fn();
    render(ConversationList, { conversations, meId: ME.id, openId: conversations[0]!.id, onopen });

    expect(item("Ada Lovelace")).toHaveAttribute("aria-selected", "true");
    expect(item("Ada Lovelace")).toHaveAttribute("tabindex", "0");
    expect(item("Grace Hopper")).toHaveAttribute("tabindex", "-1");

    await fireEvent.click(item("Team"));
    expect(onopen).toHaveBeenLastCalledWith(conversations[2]!.id, false);

    item("Ada Lovelace").focus();
    await fireEvent.keyDown(item("Ada Lovelace"), { key: "ArrowDown" });
    expect(onopen).toHaveBeenLastCalledWith(conversations[1]!.id, true);
    expect(item("Grace Hopper")).toHaveFocus();

    await fireEvent.keyDown(item("Grace Hopper"), { key: "ArrowUp" });
    expect(onopen).toHaveBeenLastCalledWith(conversations[0]!.id, true);
    expect(item("Ada Lovelace")).toHaveFocus();

    onopen.mockClear();
    await fireEvent.keyDown(item("Ada Lovelace"), { key: "ArrowUp" });
    expect(onopen).not.toHaveBeenCalled();

    await fireEvent.keyDown(item("Ada Lovelace"), { key: "Enter" });
    expect(onopen).toHaveBeenLastCalledWith(conversations[0]!.id, false);
  });

  describe("with ten thousand conversations", () => {
    const many = Array.from({ length: 10_000 }, (_, i) =>
      direct(ada, { name: `Person ${i}`, updated_at: ago(i) }),
    );
    /** More than a tall window's rows plus overscan, far fewer than the list. */
    const BOUND = 40;

    it("renders only the rows in view, each saying its place in the whole list", async () => {
      render(ConversationList, { conversations: many, meId: ME.id, openId: null, onopen: vi.fn() });
      expect(items().length).toBeGreaterThan(5);
      expect(items().length).toBeLessThanOrEqual(BOUND);
      expect(items()[0]).toHaveAttribute("data-name", "Person 0");
      expect(items()[0]).toHaveAttribute("aria-setsize", "10000");
      expect(items()[0]).toHaveAttribute("aria-posinset", "1");
      // The spacer gives the scrollbar the whole list's height.
      const list = screen.getByTestId("conversation-list");
      expect(parseInt(list.style.height)).toBeGreaterThan(10_000 * 50);

      const viewport = list.parentElement!;
      await fireEvent.scroll(viewport, { target: { scrollTop: parseInt(list.style.height) / 2 } });
      const names = items().map((el) => el.dataset.name);
      expect(names.length).toBeLessThanOrEqual(BOUND + 1);
      expect(names).toContain("Person 5000");
      // The tab stop stays in the DOM (placed where it belongs), so Tab still reaches the list.
      expect(item("Person 0")).toHaveAttribute("tabindex", "0");
      const middle = item("Person 5000");
      expect(middle).toHaveAttribute("aria-posinset", "5001");
      expect(parseInt(middle.style.top)).toBeGreaterThan(parseInt(item("Person 0").style.top));
    });

    it("reaches and focuses the last one with End, and the first with Home", async () => {
      const onopen = vi.fn();
      render(ConversationList, { conversations: many, meId: ME.id, openId: many[0]!.id, onopen });
      const viewport = screen.getByTestId("conversation-list").parentElement!;

      item("Person 0").focus();
      await fireEvent.keyDown(item("Person 0"), { key: "End" });
      expect(onopen).toHaveBeenLastCalledWith(many[9_999]!.id, true);
      await waitFor(() => expect(item("Person 9999")).toHaveFocus());
      expect(item("Person 9999")).toHaveAttribute("aria-posinset", "10000");
      expect(viewport.scrollTop).toBeGreaterThan(10_000 * 50);
      expect(items().length).toBeLessThanOrEqual(BOUND + 1);

      await fireEvent.keyDown(item("Person 9999"), { key: "ArrowUp" });
      expect(onopen).toHaveBeenLastCalledWith(many[9_998]!.id, true);
      await waitFor(() => expect(item("Person 9998")).toHaveFocus());

      await fireEvent.keyDown(item("Person 9998"), { key: "Home" });
      expect(onopen).toHaveBeenLastCalledWith(many[0]!.id, true);
      await waitFor(() => expect(item("Person 0")).toHaveFocus());
      expect(viewport.scrollTop).toBe(0);
      expect(items().map((el) => el.dataset.name)).not.toContain("Person 9999");
    });

    it("fits the window to the view's height", () => {
      const height = vi.spyOn(HTMLElement.prototype, "clientHeight", "get").mockReturnValue(128);
      render(ConversationList, { conversations: many, meId: ME.id, openId: null, onopen: vi.fn() });
      // Two rows in view, a few either side.
      expect(items().length).toBeLessThanOrEqual(12);
      height.mockRestore();
    });
  });

  describe("asking for more", () => {
    const rows = (n: number) =>
      Array.from({ length: n }, (_, i) => direct(ada, { name: `Person ${i}`, updated_at: ago(i) }));

    it("asks once the rows in view come within a few screens of the end, not before", async () => {
      const onnearend = vi.fn();
      const { rerender } = render(ConversationList, {
        conversations: rows(200),
        meId: ME.id,
        openId: null,
        onopen: vi.fn(),
        onnearend,
      });
      expect(onnearend).not.toHaveBeenCalled();
      const list = screen.getByTestId("conversation-list");
      const viewport = list.parentElement!;

      // Halfway down: still many screens to go.
      await fireEvent.scroll(viewport, { target: { scrollTop: 100 * 64 } });
      expect(onnearend).not.toHaveBeenCalled();
      // Two screens from the end of the rows held.
      await fireEvent.scroll(viewport, { target: { scrollTop: 170 * 64 } });
      expect(onnearend).toHaveBeenCalledTimes(1);
      // Scrolling on near the end asks nothing more until more rows arrive.
      await fireEvent.scroll(viewport, { target: { scrollTop: 175 * 64 } });
      expect(onnearend).toHaveBeenCalledTimes(1);

      // A page arrived: the end is far again.
      await rerender({ conversations: rows(300) });
      expect(onnearend).toHaveBeenCalledTimes(1);
      await fireEvent.scroll(viewport, { target: { scrollTop: parseInt(list.style.height) } });
      expect(onnearend).toHaveBeenCalledTimes(2);
    });

    it("asks when End or Down reaches the last row held", async () => {
      const many = rows(200);
      const onnearend = vi.fn();
      render(ConversationList, { conversations: many, meId: ME.id, openId: many[0]!.id, onopen: vi.fn(), onnearend });
      item("Person 0").focus();
      await fireEvent.keyDown(item("Person 0"), { key: "End" });
      await waitFor(() => expect(item("Person 199")).toHaveFocus());
      expect(onnearend).toHaveBeenCalled();

      onnearend.mockClear();
      await fireEvent.keyDown(item("Person 199"), { key: "ArrowDown" });
      expect(onnearend).toHaveBeenCalledTimes(1);
    });
  });

  it("says how to start when there is nothing yet", () => {
    render(ConversationList, { conversations: [], meId: ME.id, openId: null, onopen: vi.fn() });
    expect(screen.getByText(/No conversations yet/)).toBeInTheDocument();
  });
});
