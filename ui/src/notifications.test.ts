// What this user is told of new messages, in the whole window against a mocked core: a
// conversation's level (the bell in its header, shown in the list), unread mentions
// apart from the unread count, and do not disturb (Settings → Notifications, the
// sidebar's "Paused" mark), which follows a change made on another device.
import { render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { beforeAll, describe, expect, it, vi } from "vitest";
import App from "./App.svelte";
import type { ConversationSummary } from "./lib/bindings/ConversationSummary";
import { clockTime } from "./lib/time";
import { seriousViolations } from "./test/a11y";
import { account, ago, coreEmits, direct, ME, message, user, type Handlers } from "./test/fixtures";
import { windowCore } from "./test/window";
import "./test/screens";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");

// index.html gives the window its title; jsdom's document has none (axe asks for one).
beforeAll(() => {
  document.title = "Ferry";
});

function item(name: string): HTMLElement {
  const found = screen.getAllByTestId("conversation-item").find((el) => el.dataset.name === name);
  if (!found) throw new Error(`no conversation ${name}`);
  return found;
}

describe("a conversation's notification level", () => {
  async function openAda(extra: Partial<ConversationSummary> = {}, handlers: Handlers = {}) {
    const conversation = direct(ada, { updated_at: ago(1), ...extra });
    const core = windowCore({ conversations: [conversation], handlers });
    render(App);
    await userEvent.click(await screen.findByTestId("conversation-item"));
    return { core, conversation, bell: await screen.findByTestId("notify-level") };
  }

  it("is chosen from the header's menu with the keyboard, and shows as chosen", async () => {
    const { core, conversation, bell } = await openAda();
    expect(bell).toHaveAccessibleName("Notifications: All messages");
    expect(bell).toHaveAttribute("aria-expanded", "false");

    bell.focus();
    await userEvent.keyboard("{Enter}");
    const menu = screen.getByRole("menu", { name: "Notifications" });
    expect(bell).toHaveAttribute("aria-expanded", "true");
    const items = within(menu).getAllByRole("menuitemradio");
    expect(items.map((i) => i.textContent?.trim())).toEqual(["All messages", "Mentions only", "Nothing"]);
    expect(items[0]).toHaveAttribute("aria-checked", "true");
    expect(items[0]).toHaveFocus();
    expect(await seriousViolations()).toEqual([]);

    await userEvent.keyboard("{ArrowDown}");
    expect(items[1]).toHaveFocus();
    await userEvent.keyboard("{End}");
    expect(items[2]).toHaveFocus();
    await userEvent.keyboard("{ArrowDown}");
    expect(items[0]).toHaveFocus();
    await userEvent.keyboard("{ArrowUp}{ArrowUp}{Enter}");
    expect(core.argsOf("set_notifications")).toEqual([{ conversationId: conversation.id, level: "mentions" }]);
    expect(screen.queryByRole("menu")).toBeNull();
    expect(bell).toHaveFocus();
    await waitFor(() => expect(bell).toHaveAccessibleName("Notifications: Mentions only"));
    expect(within(item("Ada Lovelace")).getByRole("img", { name: "Mentions only" })).toBeInTheDocument();
  });

  it("closes with Esc, choosing nothing", async () => {
    const { core, bell } = await openAda();
    await userEvent.click(bell);
    expect(screen.getByRole("menu")).toBeInTheDocument();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("menu")).toBeNull();
    expect(bell).toHaveFocus();
    expect(core.count("set_notifications")).toBe(0);
  });

  it("follows the summary the core sends (a choice on another device)", async () => {
    const { conversation, bell } = await openAda({ notify: "mentions" });
    expect(bell).toHaveAttribute("data-level", "mentions");
    await coreEmits({ type: "conversation", summary: { ...conversation, notify: "none" } });
    await waitFor(() => expect(bell).toHaveAttribute("data-level", "none"));
    expect(bell).toHaveAccessibleName("Notifications: Nothing");
    expect(within(item("Ada Lovelace")).getByRole("img", { name: "Muted" })).toBeInTheDocument();
  });

  it("shows a failure and keeps the level when the core refuses", async () => {
    const { core, bell } = await openAda(
      {},
      {
        set_notifications: () => {
          throw { kind: "not_found", message: "no such conversation" };
        },
      },
    );
    await userEvent.click(bell);
    await userEvent.click(screen.getByRole("menuitemradio", { name: "Nothing" }));
    expect(await screen.findByTestId("notice")).toHaveTextContent("no such conversation");
    expect(core.count("set_notifications")).toBe(1);
    expect(bell).toHaveAttribute("data-level", "all");
  });
});

describe("the list", () => {
  it("counts unread mentions apart, and quietens what does not notify", async () => {
    const last = (from: string) => message({ mine: false, sender_id: from, body: "news" });
    windowCore({
      conversations: [
        direct(ada, { unread_count: 5, unread_mentions: 2, last_message: last(ada.id), updated_at: ago(1) }),
        direct(grace, { unread_count: 3, unread_mentions: 1, notify: "mentions", last_message: last(grace.id), updated_at: ago(2) }),
        direct(user("Linus Torvalds"), { unread_count: 4, unread_mentions: 0, notify: "none", updated_at: ago(3) }),
      ],
    });
    render(App);
    await screen.findAllByTestId("conversation-item");

    const mentions = within(item("Ada Lovelace")).getByTestId("mention-badge");
    expect(mentions).toHaveTextContent("@2");
    expect(mentions).toHaveAccessibleName("2 mentions");
    expect(mentions).not.toHaveClass("quiet");
    expect(within(item("Ada Lovelace")).getByTestId("unread-badge")).toHaveAccessibleName("5 unread");
    expect(within(item("Ada Lovelace")).getByTestId("unread-badge")).not.toHaveClass("quiet");
    expect(within(item("Ada Lovelace")).queryByTestId("notify-icon")).toBeNull();

    // Mentions only: the mention stands out, the rest is counted quietly.
    expect(within(item("Grace Hopper")).getByTestId("mention-badge")).toHaveAccessibleName("1 mention");
    expect(within(item("Grace Hopper")).getByTestId("mention-badge")).toHaveTextContent(/^@$/);
    expect(within(item("Grace Hopper")).getByTestId("mention-badge")).not.toHaveClass("quiet");
    expect(within(item("Grace Hopper")).getByTestId("unread-badge")).toHaveClass("quiet");
    expect(within(item("Grace Hopper")).getByTestId("unread-badge")).toHaveTextContent("3");

    // Nothing: still counted, quietly, and no mention badge without mentions.
    expect(within(item("Linus Torvalds")).getByTestId("unread-badge")).toHaveClass("quiet");
    expect(within(item("Linus Torvalds")).getByTestId("unread-badge")).toHaveTextContent("4");
    expect(within(item("Linus Torvalds")).queryByTestId("mention-badge")).toBeNull();
  });
});

describe("do not disturb", () => {
  /** 14:00 local time on a Thursday, so that "in 1 hour" and "tomorrow at 08:00" are exact. */
  const NOW = new Date(2026, 10, 26, 14, 0);

  async function settings(until: string | null) {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(NOW);
    let stored = until;
    const core = windowCore({
      conversations: [direct(ada)],
      handlers: {
        do_not_disturb: () => stored,
        set_do_not_disturb: (args) => {
          stored = (args.until as string | null) ?? null;
          return null;
        },
        account_details: () => account(),
        account_sessions: () => [],
      },
    });
    render(App);
    await screen.findByTestId("conversation-item");
    return core;
  }

  async function openSection() {
    await userEvent.click(screen.getByTestId("account-menu"));
    await userEvent.click(screen.getByTestId("account-settings"));
    const dialog = await screen.findByTestId("settings-dialog");
    await userEvent.click(within(dialog).getByRole("tab", { name: "Notifications" }));
    return within(dialog).getByTestId("notification-settings");
  }

  it("is read at start, and shown in Settings and the sidebar until turned off", async () => {
    const until = new Date(2026, 10, 26, 18, 0).toISOString();
    const core = await settings(until);
    expect(core.count("do_not_disturb")).toBe(1);
    const indicator = await screen.findByTestId("dnd-indicator");
    expect(indicator).toHaveAccessibleName(`Notifications paused until ${clockTime(until)}. Turn them back on`);

    const section = await openSection();
    expect(within(section).getByTestId("dnd-state")).toHaveTextContent(`Notifications paused until ${clockTime(until)}`);
    expect(await seriousViolations()).toEqual([]);
    await userEvent.click(within(section).getByTestId("dnd-off"));
    expect(core.argsOf("set_do_not_disturb")).toEqual([{ until: null }]);
    expect(within(section).getByTestId("dnd-state")).toHaveTextContent("Notifications are on");
    expect(screen.queryByTestId("dnd-indicator")).toBeNull();
  });

  it("pauses for an hour, eight hours or until tomorrow at 08:00", async () => {
    const core = await settings(null);
    expect(screen.queryByTestId("dnd-indicator")).toBeNull();
    const section = await openSection();
    expect(within(section).getByTestId("dnd-state")).toHaveTextContent("Notifications are on");
    expect(within(section).queryByTestId("dnd-off")).toBeNull();

    await userEvent.click(within(section).getByTestId("dnd-hour"));
    const hour = new Date(2026, 10, 26, 15, 0).toISOString();
    expect(core.argsOf("set_do_not_disturb").at(-1)).toEqual({ until: hour });
    expect(within(section).getByTestId("dnd-state")).toHaveTextContent(`Notifications paused until ${clockTime(hour)}`);
    expect(screen.getByTestId("dnd-indicator")).toBeInTheDocument();

    await userEvent.click(within(section).getByTestId("dnd-eight-hours"));
    expect(core.argsOf("set_do_not_disturb").at(-1)).toEqual({ until: new Date(2026, 10, 26, 22, 0).toISOString() });

    const tomorrow = new Date(2026, 10, 27, 8, 0).toISOString();
    const button = within(section).getByTestId("dnd-tomorrow");
    expect(button).toHaveTextContent(`Until tomorrow, ${clockTime(tomorrow)}`);
    await userEvent.click(button);
    expect(core.argsOf("set_do_not_disturb").at(-1)).toEqual({ until: tomorrow });
    expect(within(section).getByTestId("dnd-state")).toHaveTextContent(
      `Notifications paused until tomorrow, ${clockTime(tomorrow)}`,
    );
  });

  it("follows a change made on another device", async () => {
    await settings(null);
    const section = await openSection();
    const until = new Date(2026, 10, 26, 16, 30).toISOString();
    await coreEmits({ type: "do_not_disturb", until });
    await waitFor(() =>
      expect(within(section).getByTestId("dnd-state")).toHaveTextContent(`Notifications paused until ${clockTime(until)}`),
    );
    expect(screen.getByTestId("dnd-indicator")).toBeInTheDocument();
    await coreEmits({ type: "do_not_disturb", until: null });
    await waitFor(() => expect(within(section).getByTestId("dnd-state")).toHaveTextContent("Notifications are on"));
    expect(screen.queryByTestId("dnd-indicator")).toBeNull();
  });

  it("is turned off from the sidebar's mark", async () => {
    const core = await settings(new Date(2026, 10, 27, 8, 0).toISOString());
    await userEvent.click(await screen.findByTestId("dnd-indicator"));
    expect(core.argsOf("set_do_not_disturb")).toEqual([{ until: null }]);
    expect(screen.queryByTestId("dnd-indicator")).toBeNull();
  });

  it("shows the core's refusal in the section, and what held before", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(NOW);
    windowCore({
      conversations: [direct(ada)],
      handlers: {
        set_do_not_disturb: () => {
          throw { kind: "local_storage", message: "database is locked" };
        },
        account_details: () => account(),
        account_sessions: () => [],
      },
    });
    render(App);
    await screen.findByTestId("conversation-item");
    const section = await openSection();
    await userEvent.click(within(section).getByTestId("dnd-hour"));
    expect(await within(section).findByTestId("dnd-error")).toHaveTextContent("database is locked");
    expect(within(section).getByTestId("dnd-state")).toHaveTextContent("Notifications are on");
    expect(screen.queryByTestId("dnd-indicator")).toBeNull();
  });
});

describe("do not disturb's own end", () => {
  it("comes by itself when its time is up, and leaves no timer behind", async () => {
    vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] });
    vi.setSystemTime(new Date(2026, 10, 26, 14, 0));
    windowCore({
      conversations: [direct(ada)],
      handlers: { do_not_disturb: () => new Date(2026, 10, 26, 15, 0).toISOString() },
    });
    render(App);
    await vi.advanceTimersByTimeAsync(50);
    expect(screen.getByTestId("dnd-indicator")).toBeInTheDocument();
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(screen.queryByTestId("dnd-indicator")).toBeNull();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("is not shown for a time already past", async () => {
    windowCore({ conversations: [direct(ME)], handlers: { do_not_disturb: () => ago(1) } });
    render(App);
    await screen.findByTestId("conversation-item");
    expect(screen.queryByTestId("dnd-indicator")).toBeNull();
  });
});
