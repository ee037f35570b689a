// The Reports tab against a fake server: the queue and its state filter, a report's
// details (the reported message among its context), and each action with its reason or
// note: removing the message, suspending the reported account, resolving and dismissing
// (and a decision another operator made first).
import { screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { FakeFerry, fakeAccount, fakeMessage, fakeReport, fakeUser } from "./fake-server";
import { openConsole } from "./opened";
import type { UserId } from "./wire";

/** Rita reports Mallory's message, seen among four others (one deleted, one by a third person). */
function queue() {
  const fake = new FakeFerry();
  const rita = fakeUser("rita");
  const mallory = fakeUser("mallory", { display_name: "Mallory M." });
  fake.accounts.push(fakeAccount(rita), fakeAccount(mallory, { open_reports: 2 }));
  const stranger = "0190c0de-9999-7000-8000-0000feedbeef" as UserId;
  const reported = fakeMessage(mallory, 3, "buy cheap pills at example.com");
  const context = [
    fakeMessage(rita, 1, "hello there"),
    fakeMessage(mallory, 2, "", { deleted_at: "2026-11-21T10:02:30Z" }),
    fakeMessage(rita, 4, "please stop"),
    { ...fakeMessage(rita, 5, "who is this?"), sender_id: stranger },
  ];
  const spam = fakeReport(rita, mallory, { message: reported, context, reason: "spam\nover and over" });
  const impersonation = fakeReport(rita, mallory, { reason: "pretends to be me", created_at: "2026-11-21T12:00:00Z" });
  const old = fakeReport(mallory, rita, { reason: "old news", state: "resolved", decided_by: fake.operator, decision_note: "fine" });
  fake.reports.push(spam, impersonation, old);
  return { fake, rita, mallory, reported, spam, impersonation };
}

async function openReport(id: string) {
  const item = (await screen.findAllByTestId("report")).find((r) => r.dataset.reportId === id);
  await userEvent.click(item!);
  return screen.getByTestId("report-detail");
}

/** Writes `text` in the reason dialog and confirms. */
async function giveReason(text: string) {
  const field = screen.getByRole("textbox", { name: /reason|note/i });
  expect(field).toHaveAttribute("name", "reason");
  expect(field).toHaveFocus();
  await userEvent.type(field, text);
  await userEvent.click(screen.getByTestId("confirm"));
}

describe("the reports queue", () => {
  it("lists the open reports, oldest first, and shows the one chosen", async () => {
    const { fake, spam, impersonation } = queue();
    await openConsole(fake);
    const items = await screen.findAllByTestId("report");
    expect(items.map((i) => i.dataset.reportId)).toEqual([spam.id, impersonation.id]);
    expect(items[0]).toHaveTextContent("mallory");
    expect(items[0]).toHaveTextContent("by rita");
    expect(fake.to("GET", "/admin/reports")[0]!.query.get("state")).toBe("open");

    const detail = await openReport(spam.id);
    expect(items[0]).toHaveAttribute("aria-current", "true");
    expect(detail).toHaveTextContent("mallory");
    expect(detail).toHaveTextContent("Mallory M.");
    expect(within(detail).getByTestId("reported-status")).toHaveTextContent("active");
    expect(detail.querySelector("dd.written")!.textContent).toBe("spam\nover and over");
  });

  it("shows the reported message highlighted among its context, in order, with who wrote what", async () => {
    const { fake, spam } = queue();
    await openConsole(fake);
    const detail = await openReport(spam.id);
    const reported = within(detail).getByTestId("reported-message");
    expect(reported).toHaveTextContent("buy cheap pills at example.com");
    expect(reported).toHaveTextContent("mallory");
    expect(reported).toHaveClass("reported");
    const lines = within(detail)
      .getAllByRole("listitem")
      .filter((li) => li.dataset.testid === "context-message" || li.dataset.testid === "reported-message");
    expect(lines.map((li) => li.dataset.testid)).toEqual([
      "context-message",
      "context-message",
      "reported-message",
      "context-message",
      "context-message",
    ]);
    const context = within(detail).getAllByTestId("context-message");
    expect(context[0]).toHaveTextContent("rita");
    expect(context[0]).toHaveTextContent("hello there");
    expect(context[1]).toHaveTextContent("deleted");
    expect(context[3]).toHaveTextContent("user …feedbeef");
  });

  it("shows the reporter's copies of encrypted messages, and says when one has none", async () => {
    const fake = new FakeFerry();
    const rita = fakeUser("rita");
    const mallory = fakeUser("mallory");
    fake.accounts.push(fakeAccount(rita), fakeAccount(mallory));
    const sealed = "AAEC";
    const reported = fakeMessage(mallory, 2, "", { sealed });
    const before = fakeMessage(rita, 1, "", { sealed });
    const report = fakeReport(rita, mallory, {
      message: reported,
      context: [before],
      copies: [{ message_id: reported.id, body: "send me your password" }],
    });
    fake.reports.push(report);
    await openConsole(fake);
    const detail = await openReport(report.id);
    const shown = within(detail).getByTestId("reported-message");
    expect(within(shown).getByTestId("reporter-copy")).toHaveTextContent("send me your password");
    expect(shown).toHaveTextContent("the reporter's copy, which the server cannot check");
    expect(within(detail).getByTestId("context-message")).toHaveTextContent(
      "the reporter sent no copy of this message",
    );
  });

  it("says when a report names no message, and offers no removal", async () => {
    const { fake, impersonation } = queue();
    await openConsole(fake);
    const detail = await openReport(impersonation.id);
    expect(detail).toHaveTextContent("The report names no message.");
    expect(within(detail).queryByTestId("remove-message")).toBeNull();
  });

  it("filters by state", async () => {
    const { fake } = queue();
    await openConsole(fake);
    await screen.findAllByTestId("report");
    const filter = screen.getByLabelText("State");
    expect(filter).toHaveAttribute("name", "state");
    await userEvent.selectOptions(filter, "resolved");
    await waitFor(() => expect(screen.getAllByTestId("report")).toHaveLength(1));
    expect(screen.getByTestId("report")).toHaveTextContent("old news");
    const detail = await openReport(screen.getByTestId("report").dataset.reportId!);
    expect(detail).toHaveTextContent("fine");
    expect(within(detail).queryByTestId("resolve")).toBeNull();
    await userEvent.selectOptions(filter, "dismissed");
    expect(await screen.findByText("No dismissed reports.")).toBeInTheDocument();
  });
});

describe("acting on a report", () => {
  it("removes the message after asking why; it then shows as removed by an administrator", async () => {
    const { fake, spam, reported } = queue();
    await openConsole(fake);
    const detail = await openReport(spam.id);
    await userEvent.click(within(detail).getByTestId("remove-message"));
    expect(screen.getByRole("dialog", { name: "Remove mallory's message" })).toBeInTheDocument();
    await giveReason("advertising");
    expect(await screen.findByTestId("notice")).toHaveTextContent("Message removed");
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(fake.to("POST", `/admin/messages/${reported.id}/remove`).map((s) => s.body)).toEqual([
      { reason: "advertising" },
    ]);
    await waitFor(() => expect(screen.getByTestId("reported-message")).toHaveTextContent("removed by an administrator"));
    expect(screen.getByTestId("reported-message")).not.toHaveTextContent("cheap pills");
    expect(screen.queryByTestId("remove-message")).toBeNull();
    // Its button gone, focus is on the report shown rather than lost.
    expect(screen.getByRole("region", { name: "Report" })).toHaveFocus();
    // Still open: removing a message does not decide the report.
    expect(screen.getByTestId("resolve")).toBeInTheDocument();
  });

  it("suspends the reported account after asking why, and shows it suspended", async () => {
    const { fake, spam, mallory } = queue();
    await openConsole(fake);
    const detail = await openReport(spam.id);
    const suspend = within(detail).getByTestId("suspend-reported");
    expect(suspend).toHaveTextContent("Suspend mallory");
    await userEvent.click(suspend);
    await giveReason("spam, repeatedly");
    expect(await screen.findByTestId("notice")).toHaveTextContent("Suspended mallory");
    expect(fake.to("POST", `/admin/users/${mallory.id}/suspend`).map((s) => s.body)).toEqual([
      { reason: "spam, repeatedly" },
    ]);
    await waitFor(() => expect(screen.getByTestId("reported-status")).toHaveTextContent("suspended"));
    expect(screen.getByTestId("suspend-reported")).toBeDisabled();
    expect(screen.getAllByTestId("report")[0]).toHaveTextContent("(suspended)");
  });

  it("resolves with a note: the report leaves the open queue and shows its decision", async () => {
    const { fake, spam, impersonation } = queue();
    await openConsole(fake);
    const detail = await openReport(spam.id);
    await userEvent.click(within(detail).getByTestId("resolve"));
    expect(screen.getByRole("textbox", { name: /note/i })).toBeInTheDocument();
    await giveReason("message removed, account warned");
    expect(await screen.findByTestId("notice")).toHaveTextContent("Report resolved");
    expect(fake.to("POST", `/admin/reports/${spam.id}/decision`).map((s) => s.body)).toEqual([
      { state: "resolved", note: "message removed, account warned" },
    ]);
    await waitFor(() => expect(screen.getAllByTestId("report").map((r) => r.dataset.reportId)).toEqual([impersonation.id]));
    const shown = screen.getByTestId("report-detail");
    expect(shown).toHaveTextContent("resolved");
    expect(shown).toHaveTextContent("message removed, account warned");
    expect(shown).toHaveTextContent("by olga");
    expect(within(shown).queryByTestId("resolve")).toBeNull();
    expect(within(shown).queryByTestId("dismiss")).toBeNull();
  });

  it("keeps the dialog open with the server's words when another operator decided first", async () => {
    const { fake, spam } = queue();
    await openConsole(fake);
    const detail = await openReport(spam.id);
    fake.reports = fake.reports.map((r) => (r.id === spam.id ? { ...r, state: "dismissed" } : r));
    await userEvent.click(within(detail).getByTestId("dismiss"));
    await giveReason("duplicate");
    const dialog = screen.getByRole("dialog");
    expect(await within(dialog).findByTestId("error")).toHaveTextContent("this report was already decided");
    expect(screen.getAllByTestId("error")).toHaveLength(1);
    expect(screen.queryByTestId("notice")).toBeNull();
    await userEvent.click(screen.getByTestId("cancel"));
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("asks for a reason before sending anything, and Esc cancels", async () => {
    const { fake, spam } = queue();
    await openConsole(fake);
    const detail = await openReport(spam.id);
    const suspend = within(detail).getByTestId("suspend-reported");
    await userEvent.click(suspend);
    await userEvent.type(screen.getByRole("textbox", { name: /reason/i }), "   ");
    await userEvent.click(screen.getByTestId("confirm"));
    expect(screen.getByTestId("error")).toHaveTextContent("Write a reason first");
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(suspend).toHaveFocus();
    expect(fake.sent.filter((s) => s.method === "POST" && s.path.startsWith("/admin/"))).toEqual([]);
  });
});
