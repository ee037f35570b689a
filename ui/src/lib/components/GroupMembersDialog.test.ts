// A group's member list: who is in it and their role, and in an encrypted group the way
// to each other member's safety number, with those whose number changed marked.
import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { ConversationSummary } from "../bindings/ConversationSummary";
import { group, ME, member, user } from "../../test/fixtures";
import GroupMembersDialog from "./GroupMembersDialog.svelte";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");
const linus = user("Linus Torvalds");

/** Ada owns it; this user and the others are members. */
function team(extra: Partial<ConversationSummary> = {}): ConversationSummary {
  return group("Team", [ada, grace, linus], {
    members: [member(ada, { role: "owner" }), member(ME), member(grace), member(linus)],
    ...extra,
  });
}

function setup(conversation: ConversationSummary, focusUserId: string | null = null) {
  const onverify = vi.fn();
  const onclose = vi.fn();
  const view = render(GroupMembersDialog, { conversation, meId: ME.id, focusUserId, onverify, onclose });
  const dialog = screen.getByRole("dialog", { name: "Members of Team" });
  expect(dialog).toBe(screen.getByTestId("group-members-dialog"));
  return { ...view, dialog, onverify, onclose };
}

/** What a screen reader finds in `el`: its text without what is hidden from it (initials). */
function spoken(el: HTMLElement): string {
  const copy = el.cloneNode(true) as HTMLElement;
  for (const hidden of copy.querySelectorAll('[aria-hidden="true"]')) hidden.remove();
  return copy.textContent!.replace(/\s+/g, " ").trim();
}

/** Each row as the list shows it: id, role, and what it says. */
function rows(dialog: HTMLElement) {
  return within(dialog)
    .getAllByTestId("group-member")
    .map((row) => [row.dataset.userId, row.dataset.role, spoken(row)]);
}

describe("GroupMembersDialog", () => {
  it("lists every member in the group's order with their role, this user as You", () => {
    const { dialog } = setup(team());
    expect(within(dialog).getByRole("list")).toBeInTheDocument();
    expect(rows(dialog)).toEqual([
      [ada.id, "owner", "Ada Lovelace Owner"],
      [ME.id, "member", "You Member"],
      [grace.id, "member", "Grace Hopper Member"],
      [linus.id, "member", "Linus Torvalds Member"],
    ]);
  });

  it("offers no safety numbers in a group that is not encrypted", () => {
    const { dialog } = setup(team({ devices_changed: [grace.id] }));
    expect(within(dialog).getAllByTestId("group-member")).toHaveLength(4);
    expect(within(dialog).queryByTestId("verify-member")).toBeNull();
    expect(within(dialog).queryByTestId("member-changed")).toBeNull();
    expect(dialog).not.toHaveTextContent(/safety number/i);
  });

  it("offers none once this user left, nobody being there to compare with", () => {
    const { dialog } = setup(team({ encrypted: true, left: true, devices_changed: [grace.id] }));
    expect(within(dialog).queryByTestId("verify-member")).toBeNull();
    expect(within(dialog).queryByTestId("member-changed")).toBeNull();
  });

  it("offers each other member's safety number in an encrypted group, and opens the one chosen", async () => {
    const { dialog, onverify, onclose } = setup(team({ encrypted: true }));
    const buttons = within(dialog).getAllByTestId("verify-member");
    // Everyone but this user, in the list's order, each named for whom it verifies.
    expect(buttons.map((b) => b.dataset.userId)).toEqual([ada.id, grace.id, linus.id]);
    expect(buttons.map((b) => b.getAttribute("aria-label"))).toEqual([
      "Verify safety number with Ada Lovelace",
      "Verify safety number with Grace Hopper",
      "Verify safety number with Linus Torvalds",
    ]);
    expect(buttons.every((b) => b.textContent?.trim() === "Verify")).toBe(true);
    const mine = within(dialog).getAllByTestId("group-member").find((row) => row.dataset.userId === ME.id)!;
    expect(within(mine).queryByRole("button")).toBeNull();

    await userEvent.click(within(dialog).getByRole("button", { name: "Verify safety number with Grace Hopper" }));
    expect(onverify).toHaveBeenCalledExactlyOnceWith(grace);
    expect(onclose).not.toHaveBeenCalled();
  });

  it("marks the members whose safety number changed, until the summary says it was seen", async () => {
    const { dialog, rerender } = setup(team({ encrypted: true, devices_changed: [linus.id, ME.id, ada.id] }));
    const marked = () =>
      within(dialog)
        .getAllByTestId("group-member")
        .filter((row) => within(row).queryByTestId("member-changed"))
        .map((row) => row.dataset.userId);
    // Not this user: their own devices are not theirs to verify.
    expect(marked()).toEqual([ada.id, linus.id]);
    expect(rows(dialog)[0]![2]).toBe("Ada Lovelace Owner Safety number changed Verify");

    await rerender({ conversation: team({ encrypted: true, devices_changed: [linus.id] }) });
    expect(marked()).toEqual([linus.id]);
  });

  it("starts on Close, and closes with it or with Esc", async () => {
    const { onclose } = setup(team({ encrypted: true }));
    const close = screen.getByTestId("close-group-members");
    expect(close).toHaveFocus();
    await userEvent.click(close);
    expect(onclose).toHaveBeenCalledOnce();
    await userEvent.keyboard("{Escape}");
    expect(onclose).toHaveBeenCalledTimes(2);
  });

  it("starts on the Verify of the member whose number was just looked at", () => {
    const { dialog } = setup(team({ encrypted: true }), linus.id);
    const verify = within(dialog).getAllByTestId("verify-member").find((b) => b.dataset.userId === linus.id);
    expect(verify).toHaveFocus();
  });
});
