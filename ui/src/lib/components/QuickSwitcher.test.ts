import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { direct, group, user } from "../../test/fixtures";
import QuickSwitcher from "./QuickSwitcher.svelte";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");
const conversations = [direct(ada), group("Book club", [ada, grace]), direct(grace)];

function setup() {
  const onopen = vi.fn();
  const onclose = vi.fn();
  render(QuickSwitcher, { conversations, onopen, onclose });
  return { onopen, onclose, input: screen.getByTestId("quick-switcher-input") };
}

const names = () => screen.getAllByTestId("quick-switcher-option").map((el) => el.dataset.name);

describe("QuickSwitcher", () => {
  it("is a modal dialog with the name field focused", () => {
    const { input } = setup();
    const dialog = screen.getByRole("dialog", { name: "Go to conversation" });
    expect(dialog).toHaveAttribute("aria-modal", "true");
    expect(input).toHaveFocus();
    expect(names()).toEqual(["Ada Lovelace", "Book club", "Grace Hopper"]);
  });

  it("filters by name as you type and opens the first match on Enter", async () => {
    const { input, onopen, onclose } = setup();
    await userEvent.type(input, "gra");
    expect(names()).toEqual(["Grace Hopper"]);
    await userEvent.keyboard("{Enter}");
    expect(onclose).toHaveBeenCalled();
    expect(onopen).toHaveBeenCalledWith(conversations[2]!.id);
  });

  it("moves the choice with Up and Down", async () => {
    const { input, onopen } = setup();
    await userEvent.type(input, "{ArrowDown}{ArrowDown}{ArrowDown}{ArrowUp}");
    const active = screen.getAllByRole("option").find((o) => o.getAttribute("aria-selected") === "true");
    expect(active).toHaveAttribute("data-name", "Book club");
    expect(input.getAttribute("aria-activedescendant")).toBe(active?.id);
    await userEvent.keyboard("{Enter}");
    expect(onopen).toHaveBeenCalledWith(conversations[1]!.id);
  });

  it("says when nothing matches and opens nothing", async () => {
    const { input, onopen } = setup();
    await userEvent.type(input, "zzz{Enter}");
    expect(screen.queryAllByTestId("quick-switcher-option")).toEqual([]);
    expect(screen.getByText(/No conversation matches/)).toBeInTheDocument();
    expect(onopen).not.toHaveBeenCalled();
  });

  it("closes on Esc", async () => {
    const { onclose } = setup();
    await userEvent.keyboard("{Escape}");
    expect(onclose).toHaveBeenCalledOnce();
  });

  it("opens a conversation on click", async () => {
    const { onopen } = setup();
    await userEvent.click(screen.getByText("Book club"));
    expect(onopen).toHaveBeenCalledWith(conversations[1]!.id);
  });
});
