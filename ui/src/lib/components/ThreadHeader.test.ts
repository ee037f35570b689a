// The open conversation's header: whether what is sent there is end-to-end encrypted.
import { render, screen, within } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import type { ConversationSummary } from "../bindings/ConversationSummary";
import { direct, group, ME, user } from "../../test/fixtures";
import ThreadHeader from "./ThreadHeader.svelte";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");

function header(conversation: ConversationSummary) {
  render(ThreadHeader, {
    conversation,
    meId: ME.id,
    onnotify: vi.fn(),
    onaddmembers: vi.fn(),
    onleave: vi.fn(),
    onblock: vi.fn(),
    onreport: vi.fn(),
  });
  return screen.getByRole("banner");
}

describe("ThreadHeader encryption", () => {
  it.each([
    ["a direct chat", direct(ada, { encrypted: true })],
    ["a group", group("Team", [ada, grace], { encrypted: true })],
  ])("shows a lock, named and explained, by the name of %s that is encrypted", (_, conversation) => {
    const el = header(conversation);
    const lock = within(el).getByTestId("encrypted-lock");
    expect(lock).toBe(within(el).getByRole("img", { name: "End-to-end encrypted" }));
    expect(lock).toHaveAttribute(
      "title",
      "Only the people in this conversation can read what is sent here, not the server.",
    );
    expect(lock).toHaveAccessibleDescription(/not the server/);
    // Beside the heading, not in its name.
    expect(within(el).getByRole("heading", { name: conversation.name })).not.toContainElement(lock);
  });

  it.each([
    ["a direct chat", direct(ada)],
    ["a group", group("Team", [ada, grace])],
  ])("says nothing about encryption in %s that is not encrypted", (_, conversation) => {
    const el = header(conversation);
    expect(within(el).queryByTestId("encrypted-lock")).toBeNull();
    expect(within(el).queryByRole("img", { name: /encrypt/i })).toBeNull();
    expect(el).not.toHaveTextContent(/encrypt/i);
    expect(within(el).getByTestId("thread-title")).toHaveTextContent(conversation.name);
  });
});
