// The open conversation's header: whether what is sent there is end-to-end encrypted,
// the way to a safety number (a direct chat's lock, the warning's Verify), and a
// group's member list.
import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { ConversationSummary } from "../bindings/ConversationSummary";
import { direct, group, ME, member, user } from "../../test/fixtures";
import ThreadHeader from "./ThreadHeader.svelte";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");

function header(conversation: ConversationSummary) {
  const onverify = vi.fn();
  const onmembers = vi.fn();
  render(ThreadHeader, {
    conversation,
    meId: ME.id,
    onnotify: vi.fn(),
    onaddmembers: vi.fn(),
    onleave: vi.fn(),
    onblock: vi.fn(),
    onreport: vi.fn(),
    onverify,
    onmembers,
  });
  return { el: screen.getByRole("banner"), onverify, onmembers };
}

const HINT = "Only the people in this conversation can read what is sent here, not the server.";

describe("ThreadHeader encryption", () => {
  it.each([
    ["a group", group("Team", [ada, grace], { encrypted: true })],
    ["a direct chat left", direct(ada, { encrypted: true, left: true })],
  ])("shows a lock, named and explained, by the name of %s that is encrypted", (_, conversation) => {
    const { el } = header(conversation);
    const lock = within(el).getByTestId("encrypted-lock");
    expect(lock).toBe(within(el).getByRole("img", { name: "End-to-end encrypted" }));
    expect(lock).toHaveAttribute("title", HINT);
    expect(lock).toHaveAccessibleDescription(/not the server/);
    // Only a sign: verifying is per person, and there is no one left to compare with.
    expect(within(el).queryByRole("button", { name: /safety number/ })).toBeNull();
    // Beside the heading, not in its name.
    expect(within(el).getByRole("heading", { name: conversation.name })).not.toContainElement(lock);
  });

  it("makes the lock of an encrypted direct chat a button that opens its safety number", async () => {
    const conversation = direct(ada, { encrypted: true });
    const { el, onverify } = header(conversation);
    const lock = within(el).getByTestId("encrypted-lock");
    expect(lock).toBe(
      within(el).getByRole("button", { name: "End-to-end encrypted: verify the safety number…" }),
    );
    expect(lock).toHaveAttribute("title", HINT);
    expect(lock).toHaveAccessibleDescription(/not the server/);
    expect(within(el).getByRole("heading", { name: conversation.name })).not.toContainElement(lock);

    await userEvent.click(lock);
    expect(onverify).toHaveBeenCalledExactlyOnceWith(ada);
  });

  it.each([
    ["a direct chat", direct(ada)],
    ["a group", group("Team", [ada, grace])],
  ])("says nothing about encryption in %s that is not encrypted", (_, conversation) => {
    const { el } = header(conversation);
    expect(within(el).queryByTestId("encrypted-lock")).toBeNull();
    expect(within(el).queryByRole("img", { name: /encrypt/i })).toBeNull();
    expect(within(el).queryByRole("button", { name: /encrypt/i })).toBeNull();
    expect(el).not.toHaveTextContent(/encrypt/i);
    expect(within(el).getByTestId("thread-title")).toHaveTextContent(conversation.name);
  });
});

describe("ThreadHeader changed safety numbers", () => {
  const linus = user("Linus Torvalds");

  it("says whose safety number changed in a direct chat, with Verify opening it", async () => {
    const { el, onverify } = header(direct(ada, { encrypted: true, devices_changed: [ada.id] }));
    const notice = within(el).getByTestId("devices-changed");
    expect(notice).toHaveTextContent("Your safety number with Ada Lovelace changed");
    // A polite live region, there before the warning, so one that comes is announced.
    expect(within(el).getByRole("status")).toContainElement(notice);
    const verify = within(notice).getByTestId("verify-devices");
    expect(verify).toBe(within(notice).getByRole("button", { name: "Verify safety number with Ada Lovelace" }));
    expect(verify).toHaveTextContent("Verify");
    // Under the name, not in the heading.
    expect(within(el).getByRole("heading", { name: "Ada Lovelace" })).not.toContainElement(notice);

    await userEvent.click(verify);
    expect(onverify).toHaveBeenCalledExactlyOnceWith(ada);
    // Focus waits on the lock, which stays once the warning is gone.
    expect(within(el).getByTestId("encrypted-lock")).toHaveFocus();
  });

  it.each([
    ["nobody's changed", direct(ada, { encrypted: true })],
    ["only mine changed", direct(ada, { encrypted: true, devices_changed: [ME.id] })],
    ["the chat is left", direct(ada, { encrypted: true, left: true, devices_changed: [ada.id] })],
    ["it is not encrypted", direct(ada, { devices_changed: [ada.id] })],
    ["the one changed is no member", group("Team", [ada], { encrypted: true, devices_changed: [grace.id, ME.id] })],
  ])("says nothing of safety numbers when %s", (_, conversation) => {
    const { el } = header(conversation);
    expect(within(el).queryByTestId("devices-changed")).toBeNull();
    expect(within(el).queryByTestId("verify-devices")).toBeNull();
    expect(within(el).getByRole("status").textContent?.trim()).toBe("");
    expect(el).not.toHaveTextContent(/safety number/i);
  });

  it("says, where it is announced, why the chat is not encrypted yet", () => {
    const { el } = header(direct(ada, { without_keys: [ada.id] }));
    expect(within(within(el).getByRole("status")).getByTestId("encryption-waits")).toHaveTextContent(
      /^Not end-to-end encrypted yet: waiting for .?Ada Lovelace.? to set up encryption$/,
    );
  });

  it("names the members of a group whose safety numbers changed, with Verify opening the member list", async () => {
    const team = group("Team", [ada, grace, linus], {
      encrypted: true,
      devices_changed: [linus.id, ME.id, ada.id],
    });
    const { el, onverify, onmembers } = header(team);
    const notice = within(el).getByTestId("devices-changed");
    // In the members' order, without me.
    expect(notice).toHaveTextContent(/^Safety numbers changed: Ada Lovelace, Linus Torvalds\s*Verify$/);
    expect(within(el).getByRole("status")).toContainElement(notice);
    // One button for all of them: the member list is where to pick whose number.
    const verify = within(notice).getByRole("button");
    expect(verify).toBe(within(notice).getByRole("button", { name: "Verify safety numbers…" }));
    expect(verify).toHaveTextContent("Verify");
    expect(verify).not.toHaveAttribute("data-user-id");

    await userEvent.click(verify);
    expect(onmembers).toHaveBeenCalledOnce();
    expect(onverify).not.toHaveBeenCalled();
    // Focus waits on Members, which stays once the warning is gone.
    expect(within(el).getByTestId("group-members")).toHaveFocus();
  });

  const six = ["Bob", "Carol", "Dan", "Erin", "Frank", "Gus"].map((name) => user(name));

  it("says one group member's changed number as in a direct chat, with Verify opening theirs", async () => {
    const { el, onverify, onmembers } = header(group("Team", six, { encrypted: true, devices_changed: [six[1]!.id] }));
    const notice = within(el).getByTestId("devices-changed");
    expect(notice).toHaveTextContent(/^Your safety number with Carol changed\s*Verify$/);
    const verify = within(notice).getByRole("button", { name: "Verify safety number with Carol" });
    expect(verify).toHaveAttribute("data-user-id", six[1]!.id);

    await userEvent.click(verify);
    expect(onverify).toHaveBeenCalledExactlyOnceWith(six[1]);
    expect(onmembers).not.toHaveBeenCalled();
    expect(within(el).getByTestId("group-members")).toHaveFocus();
  });

  it("names four members whose numbers changed and counts the rest", () => {
    const { el } = header(group("Team", six, { encrypted: true, devices_changed: six.map((u) => u.id) }));
    expect(within(el).getByTestId("devices-changed")).toHaveTextContent(
      /^Safety numbers changed: Bob, Carol, Dan, Erin and 2 more\s*Verify$/,
    );
  });

  it("keeps a name's right-to-left text from reordering the words around it", () => {
    const sneaky = user("\u202Eevil");
    const { el } = header(direct(sneaky, { encrypted: true, devices_changed: [sneaky.id] }));
    expect(within(el).getByTestId("devices-changed")).toHaveTextContent(
      "Your safety number with \u2068\u202Eevil\u2069 changed",
    );
  });
});

describe("ThreadHeader members", () => {
  it.each([
    ["a group", group("Team", [ada, grace])],
    ["an encrypted group", group("Team", [ada, grace], { encrypted: true })],
    ["a group this user does not own", group("Team", [ada], { members: [member(ada, { role: "owner" }), member(ME)] })],
  ])("offers the member list in %s", async (_, conversation) => {
    const { el, onmembers } = header(conversation);
    const members = within(el).getByRole("button", { name: "Members" });
    expect(members).toBe(within(el).getByTestId("group-members"));
    await userEvent.click(members);
    expect(onmembers).toHaveBeenCalledOnce();
  });

  it.each([
    ["a direct chat", direct(ada, { encrypted: true })],
    ["a group left", group("Team", [ada, grace], { encrypted: true, left: true })],
  ])("offers no member list in %s", (_, conversation) => {
    const { el } = header(conversation);
    expect(within(el).queryByTestId("group-members")).toBeNull();
    expect(within(el).queryByRole("button", { name: "Members" })).toBeNull();
  });
});
