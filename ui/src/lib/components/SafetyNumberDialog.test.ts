// The safety number with the other person of a direct chat: read from the core when the
// dialog opens, shown as twelve groups of five, or why there is none, or why it failed.
import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { mockCore, user, type Handlers } from "../../test/fixtures";
import { Chat } from "../chat.svelte";
import SafetyNumberDialog from "./SafetyNumberDialog.svelte";

const ada = user("Ada Lovelace");
const DIGITS = "052194310877265509134412838096701523374165590428813667290531";

function setup(handlers: Handlers) {
  const core = mockCore(handlers);
  const onclose = vi.fn();
  render(SafetyNumberDialog, { safety: new Chat().safety, user: ada, conversationId: "conv-1", onclose });
  return { core, onclose };
}

describe("SafetyNumberDialog", () => {
  it("asks the core for the number with the other person and shows it as twelve groups of five", async () => {
    const { core } = setup({ safety_number: () => DIGITS });
    const dialog = screen.getByRole("dialog", { name: "Verify safety number with Ada Lovelace" });
    expect(within(dialog).getByRole("status")).toHaveTextContent("Loading…");

    const number = await within(dialog).findByTestId("safety-number");
    expect(number).toHaveAttribute("data-digits", DIGITS);
    const groups = within(number).getAllByTestId("safety-number-group").map((g) => g.textContent);
    expect(groups).toEqual([
      "05219", "43108", "77265", "50913",
      "44128", "38096", "70152", "33741",
      "65590", "42881", "36672", "90531",
    ]);
    expect(dialog).toHaveTextContent(
      "Compare these numbers with the ones on Ada Lovelace's screen: if they match, no one else's device can read this conversation; if they differ, someone else's device may be reading along.",
    );
    expect(within(dialog).queryByRole("status")).toBeNull();
    expect(core.argsOf("safety_number")).toEqual([{ conversationId: "conv-1", with: ada.id }]);
  });

  it("says why there is no number yet when the core has none", async () => {
    setup({ safety_number: () => null });
    expect(await screen.findByTestId("safety-number-missing")).toHaveTextContent(
      "This conversation has no safety number yet: it is not end-to-end encrypted, or a device has not joined it yet. Try again once you have been online.",
    );
    expect(screen.queryByTestId("safety-number")).toBeNull();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("shows why reading it failed", async () => {
    setup({
      safety_number: () => {
        throw { kind: "not_found", message: "no such conversation" };
      },
    });
    expect(await screen.findByRole("alert")).toHaveTextContent("no such conversation");
    expect(screen.getByTestId("safety-number-error")).toBeInTheDocument();
    expect(screen.queryByTestId("safety-number")).toBeNull();
    expect(screen.queryByTestId("safety-number-missing")).toBeNull();
  });

  it("starts on Close, and closes with it or with Esc", async () => {
    const { onclose } = setup({ safety_number: () => DIGITS });
    await screen.findByTestId("safety-number");
    const close = screen.getByTestId("close-safety-number");
    expect(close).toHaveFocus();
    await userEvent.click(close);
    expect(onclose).toHaveBeenCalledOnce();
    await userEvent.keyboard("{Escape}");
    expect(onclose).toHaveBeenCalledTimes(2);
  });
});
