// The Audit log tab against a fake server: newest first, who did what to what and why
// (the server's host when no administrator did), and "Older" paging.
import { screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { PAGE } from "./api";
import { FakeFerry, fakeId } from "./fake-server";
import { openConsole } from "./opened";
import type { AuditEntryId } from "./wire";

function logged(count: number) {
  const fake = new FakeFerry();
  for (let i = count; i >= 1; i--) {
    fake.audit.push({
      id: fakeId<AuditEntryId>(),
      actor: i === 1 ? null : fake.operator,
      action: i === 1 ? "grant_admin" : i % 2 ? "suspend" : "remove_message",
      target: `target-${i}`,
      reason: `reason ${i}`,
      at: "2026-11-22T10:00:00Z",
    });
  }
  return fake;
}

async function openAudit(fake: FakeFerry) {
  await openConsole(fake);
  await userEvent.click(screen.getByTestId("tab-audit"));
}

describe("the audit log", () => {
  it("shows who did what to what and why, newest first", async () => {
    const fake = logged(3);
    await openAudit(fake);
    await waitFor(() => expect(screen.getAllByTestId("audit-row")).toHaveLength(3));
    const rows = screen.getAllByTestId("audit-row");
    expect(rows.map((r) => r.dataset.action)).toEqual(["suspend", "remove_message", "grant_admin"]);
    expect(rows[0]).toHaveTextContent("olga");
    expect(rows[0]).toHaveTextContent("suspended");
    expect(rows[0]).toHaveTextContent("target-3");
    expect(rows[0]).toHaveTextContent("reason 3");
    expect(rows[2]).toHaveTextContent("the server's host");
    expect(rows[2]).toHaveTextContent("made administrator");
    expect(screen.queryByTestId("older")).toBeNull();
  });

  it("reads older entries a page at a time, until a short page", async () => {
    const fake = logged(PAGE + 7);
    await openAudit(fake);
    await waitFor(() => expect(screen.getAllByTestId("audit-row")).toHaveLength(PAGE));
    const last = fake.audit[PAGE - 1]!;
    await userEvent.click(screen.getByTestId("older"));
    await waitFor(() => expect(screen.getAllByTestId("audit-row")).toHaveLength(PAGE + 7));
    expect(fake.to("GET", "/admin/audit").map((s) => s.query.get("before"))).toEqual([null, last.id]);
    expect(screen.queryByTestId("older")).toBeNull();
  });

  it("says so when nothing was done yet", async () => {
    await openAudit(new FakeFerry());
    expect(await screen.findByText("Nothing has been done yet.")).toBeInTheDocument();
  });
});
