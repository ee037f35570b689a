import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { EMOJI } from "../emoji";
import ReactionPicker from "./ReactionPicker.svelte";

function open(props: Record<string, unknown> = {}) {
  const onpick = vi.fn();
  const onclose = vi.fn();
  render(ReactionPicker, { onpick, onclose, ...props });
  const picker = screen.getByTestId("reaction-picker");
  const search = within(picker).getByTestId("emoji-search") as HTMLInputElement;
  const options = () => within(picker).queryAllByTestId("emoji-option").map((o) => o.dataset.emoji);
  return { onpick, onclose, picker, search, options };
}

describe("ReactionPicker", () => {
  it("opens with the cursor in its search box and every emoji, the quick row first", () => {
    const { search, options } = open();
    expect(search).toHaveFocus();
    expect(options()).toHaveLength(EMOJI.length);
    expect(options().slice(0, 3)).toEqual(["👍", "❤️", "😂"]);
  });

  it("filters by name as the user types, and says when nothing matches", async () => {
    const { search, options } = open();
    await userEvent.type(search, "thumbs");
    expect(options()).toEqual(["👍", "👎"]);
    await userEvent.clear(search);
    await userEvent.type(search, "party");
    expect(options().slice(0, 2)).toEqual(["🎉", "🥳"]);
    await userEvent.type(search, "zzz");
    expect(options()).toEqual([]);
    expect(screen.getByRole("status")).toHaveTextContent("No emoji match “partyzzz”.");
  });

  it("picks on click, then closes", async () => {
    const { onpick, onclose } = open();
    await userEvent.click(screen.getByRole("option", { name: "fire" }));
    expect(onpick).toHaveBeenCalledExactlyOnceWith("🔥");
    expect(onclose).toHaveBeenCalledOnce();
  });

  it("moves with the arrows (a row is eight) and picks with Enter", async () => {
    const { search, onpick } = open();
    await userEvent.keyboard("{ArrowRight}{ArrowRight}");
    expect(screen.getByRole("option", { selected: true })).toHaveAttribute("data-emoji", "😂");
    expect(search).toHaveAttribute("aria-activedescendant", screen.getByRole("option", { selected: true }).id);
    await userEvent.keyboard("{ArrowDown}{ArrowLeft}");
    expect(screen.getByRole("option", { selected: true })).toHaveAttribute("data-emoji", EMOJI[9]!.emoji);
    await userEvent.keyboard("{ArrowUp}{ArrowUp}{Enter}");
    expect(onpick).toHaveBeenCalledWith(EMOJI[1]!.emoji);
  });

  it("picks the first match on Enter after a search", async () => {
    const { search, onpick } = open();
    await userEvent.type(search, "heart{Enter}");
    expect(onpick).toHaveBeenCalledWith("🫶");
  });

  it("closes on Escape without picking, and keeps the key to itself", async () => {
    const outer = vi.fn();
    window.addEventListener("keydown", outer);
    const { onpick, onclose } = open();
    await userEvent.keyboard("{Escape}");
    window.removeEventListener("keydown", outer);
    expect(onclose).toHaveBeenCalledOnce();
    expect(onpick).not.toHaveBeenCalled();
    expect(outer).not.toHaveBeenCalled();
  });

  it("closes on a click outside it, not inside", async () => {
    const { picker, onclose } = open();
    await userEvent.click(picker);
    expect(onclose).not.toHaveBeenCalled();
    await userEvent.click(document.body);
    expect(onclose).toHaveBeenCalledOnce();
  });

  it("marks the emoji this user already has on the message", () => {
    open({ mine: ["🎉"] });
    expect(screen.getByRole("option", { name: "party popper" })).toHaveClass("mine");
    expect(screen.getByRole("option", { name: "thumbs up" })).not.toHaveClass("mine");
  });
});
