// The open conversation's header: whether what is sent there is end-to-end encrypted,
// and in a direct chat the way to its safety number.
import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { ConversationSummary } from "../bindings/ConversationSummary";
import { direct, group, ME, user } from "../../test/fixtures";
import ThreadHeader from "./ThreadHeader.svelte";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");

function header(conversation: ConversationSummary) {
  const onverify = vi.fn();
  render(ThreadHeader, {
    conversation,
    meId: ME.id,
    onnotify: vi.fn(),
    onaddmembers: vi.fn(),
    onleave: vi.fn(),
    onblock: vi.fn(),
    onreport: vi.fn(),
    onverify,
  });
  return { el: screen.getByRole("banner"), onverify };
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
    expect(onverify).toHaveBeenCalledOnce();
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
    expect(onverify).toHaveBeenCalledOnce();
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
    expect(within(el).getByRole("status")).toBeEmptyDOMElement();
    expect(el).not.toHaveTextContent(/safety number/i);
  });

  it("names the members of a group whose safety numbers changed, with no button", () => {
    const team = group("Team", [ada, grace, linus], {
      encrypted: true,
      devices_changed: [linus.id, ME.id, ada.id],
    });
    const { el } = header(team);
    const notice = within(el).getByTestId("devices-changed");
    // In the members' order, without me.
    expect(notice).toHaveTextContent(/^Safety numbers changed: Ada Lovelace, Linus Torvalds$/);
    expect(within(el).getByRole("status")).toContainElement(notice);
    expect(within(notice).queryByRole("button")).toBeNull();
    expect(within(el).queryByTestId("verify-devices")).toBeNull();
  });

  const six = ["Bob", "Carol", "Dan", "Erin", "Frank", "Gus"].map((name) => user(name));

  it("says one group member's changed number as in a direct chat, still with no button", () => {
    const { el } = header(group("Team", six, { encrypted: true, devices_changed: [six[1]!.id] }));
    expect(within(el).getByTestId("devices-changed")).toHaveTextContent(/^Your safety number with Carol changed$/);
    expect(within(el).queryByRole("button", { name: /Verify/ })).toBeNull();
  });

  it("names four members whose numbers changed and counts the rest", () => {
    const { el } = header(group("Team", six, { encrypted: true, devices_changed: six.map((u) => u.id) }));
    expect(within(el).getByTestId("devices-changed")).toHaveTextContent(
      /^Safety numbers changed: Bob, Carol, Dan, Erin and 2 more$/,
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
