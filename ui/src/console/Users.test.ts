// The Users tab against a fake server: the newest accounts, a prefix search (typed or
// with Enter), and suspending and reactivating an account with a reason, including the
// server refusing one.
import { screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { FakeFerry, fakeAccount, fakeUser } from "./fake-server";
import { openConsole } from "./opened";

function accounts() {
  const fake = new FakeFerry();
  const mallory = fakeUser("mallory");
  const mark = fakeUser("mark", { display_name: "Mark Twain" });
  const gone = fakeUser("gone", { status: "deleted", display_name: "Deleted user" });
  const sam = fakeUser("sam", { status: "suspended" });
  fake.accounts.push(
    fakeAccount(mallory, { sessions: 2, open_reports: 3 }),
    fakeAccount(mark),
    fakeAccount(gone, { sessions: 0 }),
    fakeAccount(sam, { sessions: 0, suspended_at: "2026-11-21T09:00:00Z", suspended_reason: "abuse" }),
  );
  return { fake, mallory, mark, sam };
}

async function openUsers(fake: FakeFerry) {
  await openConsole(fake);
  await userEvent.click(screen.getByTestId("tab-users"));
  await screen.findAllByTestId("user-row");
}

function row(username: string): HTMLElement {
  const found = screen.getAllByTestId("user-row").find((r) => r.dataset.username === username);
  if (!found) throw new Error(`no row for ${username}`);
  return found;
}

const shown = () => screen.getAllByTestId("user-row").map((r) => r.dataset.username);

describe("the users table", () => {
  it("lists accounts with their status, admin right, sessions and open reports", async () => {
    const { fake } = accounts();
    await openUsers(fake);
    expect(shown()).toEqual(["olga", "mallory", "mark", "gone", "sam"]);
    expect(fake.to("GET", "/admin/users")[0]!.query.has("q")).toBe(false);
    const cells = (name: string) => Array.from(row(name).children).map((c) => c.textContent!.trim());
    expect(cells("mallory")).toEqual(["mallory", "Mallory", "active", "", "2", "3", "Suspend"]);
    expect(cells("olga").slice(2, 4)).toEqual(["active", "admin"]);
    expect(within(row("gone")).getByTestId("user-status").textContent).toBe("deleted");
    expect(within(row("gone")).queryByRole("button")).toBeNull();
    expect(within(row("sam")).getByTestId("user-status").textContent).toBe("suspended");
    expect(within(row("sam")).getByTestId("reactivate")).toBeInTheDocument();
  });

  it("searches by prefix as one types, and at once with Enter", async () => {
    const { fake } = accounts();
    await openUsers(fake);
    const search = screen.getByRole("searchbox", { name: "Search" });
    expect(search).toHaveAttribute("name", "q");
    await userEvent.type(search, "ma");
    await waitFor(() => expect(shown()).toEqual(["mallory", "mark"]));
    expect(fake.to("GET", "/admin/users").at(-1)!.query.get("q")).toBe("ma");
    await userEvent.type(search, "r{Enter}");
    await waitFor(() => expect(shown()).toEqual(["mark"]));
    await userEvent.clear(search);
    await userEvent.type(search, "zz{Enter}");
    expect(await screen.findByText("No accounts match.")).toBeInTheDocument();
  });
});

describe("suspending and reactivating", () => {
  it("suspends after asking why, and the row shows it", async () => {
    const { fake, mallory } = accounts();
    await openUsers(fake);
    await userEvent.click(within(row("mallory")).getByTestId("suspend"));
    expect(screen.getByRole("dialog", { name: "Suspend mallory" })).toBeInTheDocument();
    await userEvent.type(screen.getByRole("textbox", { name: /reason/i }), "spam");
    await userEvent.click(screen.getByTestId("confirm"));
    expect(await screen.findByTestId("notice")).toHaveTextContent("Suspended mallory");
    expect(fake.to("POST", `/admin/users/${mallory.id}/suspend`).map((s) => s.body)).toEqual([{ reason: "spam" }]);
    expect(within(row("mallory")).getByTestId("user-status").textContent).toBe("suspended");
    expect(within(row("mallory")).queryByTestId("suspend")).toBeNull();
    expect(within(row("mallory")).getByTestId("reactivate")).toBeInTheDocument();
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("reactivates after asking why", async () => {
    const { fake, sam } = accounts();
    await openUsers(fake);
    await userEvent.click(within(row("sam")).getByTestId("reactivate"));
    await userEvent.type(screen.getByRole("textbox", { name: /reason/i }), "appeal upheld");
    await userEvent.click(screen.getByTestId("confirm"));
    expect(await screen.findByTestId("notice")).toHaveTextContent("Reactivated sam");
    expect(fake.to("POST", `/admin/users/${sam.id}/reactivate`).map((s) => s.body)).toEqual([
      { reason: "appeal upheld" },
    ]);
    expect(within(row("sam")).getByTestId("user-status").textContent).toBe("active");
  });

  it("keeps the dialog, with the server's words, when the server refuses", async () => {
    const { fake, mark } = accounts();
    await openUsers(fake);
    fake.overrides.set(`POST /admin/users/${mark.id}/suspend`, () =>
      new Response(JSON.stringify({ error: { code: "invalid_request", message: "a reason is 1 to 1000 characters" } }), {
        status: 400,
      }),
    );
    await userEvent.click(within(row("mark")).getByTestId("suspend"));
    await userEvent.type(screen.getByRole("textbox", { name: /reason/i }), "x");
    await userEvent.click(screen.getByTestId("confirm"));
    expect(await within(screen.getByRole("dialog")).findByTestId("error")).toHaveTextContent(
      "a reason is 1 to 1000 characters",
    );
    expect(screen.getByRole("textbox", { name: /reason/i })).toHaveValue("x");
    expect(within(row("mark")).getByTestId("user-status").textContent).toBe("active");
    expect(screen.queryByTestId("notice")).toBeNull();
  });
});
