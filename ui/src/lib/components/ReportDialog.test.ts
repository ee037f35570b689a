import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { mockCore, user, type Handlers } from "../../test/fixtures";
import { Chat } from "../chat.svelte";
import ReportDialog from "./ReportDialog.svelte";

const mallory = user("Mallory Quinn");

function setup(props: Record<string, unknown> = {}, handlers: Handlers = {}) {
  const core = mockCore(handlers);
  const onclose = vi.fn();
  render(ReportDialog, { safety: new Chat().safety, user: mallory, conversationId: "conv-1", onclose, ...props });
  return { core, onclose };
}

describe("ReportDialog", () => {
  it("reports with the reason given and the conversation named, not blocking unless asked", async () => {
    const { core, onclose } = setup();
    expect(screen.getByRole("dialog", { name: "Report Mallory Quinn" })).toBeInTheDocument();
    const block = screen.getByTestId("report-block");
    expect(block).not.toBeChecked();
    await userEvent.type(screen.getByTestId("report-reason"), "  asks everyone for money  ");
    await userEvent.click(screen.getByTestId("report-submit"));
    await waitFor(() => expect(onclose).toHaveBeenCalledOnce());
    expect(core.argsOf("report_user")).toEqual([
      { userId: mallory.id, conversationId: "conv-1", messageId: null, reason: "asks everyone for money", block: false },
    ]);
  });

  it("blocks too when the box is ticked (ticked first when asked), and the reason may be empty", async () => {
    const { core, onclose } = setup({ block: true });
    const block = screen.getByTestId("report-block");
    expect(block).toBeChecked();
    await userEvent.click(block);
    await userEvent.click(block);
    await userEvent.click(screen.getByTestId("report-submit"));
    await waitFor(() => expect(onclose).toHaveBeenCalledOnce());
    expect(core.argsOf("report_user")).toEqual([
      { userId: mallory.id, conversationId: "conv-1", messageId: null, reason: "", block: true },
    ]);
  });

  it("holds a reason to the server's 1,000 characters", () => {
    setup();
    expect(screen.getByTestId("report-reason")).toHaveAttribute("maxlength", "1000");
  });

  it("shows why a report failed and stays open to try again", async () => {
    let fail = true;
    const { core, onclose } = setup({}, {
      report_user: () => {
        if (fail) throw { kind: "offline", message: "the server cannot be reached" };
        return null;
      },
    });
    await userEvent.type(screen.getByTestId("report-reason"), "spam");
    await userEvent.click(screen.getByTestId("report-submit"));
    expect(await screen.findByTestId("report-error")).toHaveTextContent("the server cannot be reached");
    expect(onclose).not.toHaveBeenCalled();
    expect(screen.getByTestId("report-reason")).toHaveValue("spam");

    fail = false;
    await userEvent.click(screen.getByTestId("report-submit"));
    await waitFor(() => expect(onclose).toHaveBeenCalledOnce());
    expect(core.count("report_user")).toBe(2);
  });

  it("closes on Cancel without reporting", async () => {
    const { core, onclose } = setup();
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(onclose).toHaveBeenCalled();
    expect(core.count("report_user")).toBe(0);
  });
});
