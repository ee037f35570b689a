import { fireEvent, render, screen, within } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import type { MessageStatus } from "../bindings/MessageStatus";
import { message, mockCore } from "../../test/fixtures";
import MessageBubble from "./MessageBubble.svelte";

function show(extra: Parameters<typeof message>[0], props: Record<string, unknown> = {}) {
  const onretry = vi.fn();
  const ondiscard = vi.fn();
  const m = message(extra);
  render(MessageBubble, { message: m, senderName: "Ada", onretry, ondiscard, ...props });
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
