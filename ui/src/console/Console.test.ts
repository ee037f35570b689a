// The console as a whole, against a fake server: signing in (and being refused), the
// header and its tabs, signing out, a session that ends under the console, and a reload
// that resumes the session the tab holds.
import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import { NOT_ADMIN, Server } from "./api";
import Console from "./Console.svelte";
import { FakeFerry, fakeAccount, fakeUser } from "./fake-server";
import { openConsole } from "./opened";

afterEach(() => sessionStorage.clear());

function signedOut(fake = new FakeFerry(), storage: Storage | null = null) {
  const server = new Server({ fetch: fake.fetch, storage });
  render(Console, { props: { server } });
  return { fake, server };
}

async function signIn(username: string, password: string) {
  await userEvent.type(screen.getByLabelText("Username"), username);
  await userEvent.type(screen.getByLabelText("Password"), password);
  await userEvent.click(screen.getByTestId("sign-in"));
}

describe("signing in", () => {
  it("shows the server's words when it fails, and stays on the form", async () => {
    signedOut();
    expect(screen.getByRole("heading", { name: "Ferry administration" })).toBeInTheDocument();
    expect(document.querySelector('input[name="username"]')).toBe(screen.getByLabelText("Username"));
    expect(document.querySelector('input[name="password"]')).toBe(screen.getByLabelText("Password"));
    await signIn("olga", "wrong");
    expect(await screen.findByTestId("error")).toHaveTextContent("wrong username or password");
    expect(screen.queryByTestId("whoami")).toBeNull();
  });

  it("lets an administrator in, on the Reports tab, with Enter too", async () => {
    const { fake } = signedOut();
    await userEvent.type(screen.getByLabelText("Username"), "olga");
    await userEvent.type(screen.getByLabelText("Password"), `${fake.password}{Enter}`);
    expect(await screen.findByTestId("whoami")).toHaveTextContent("olga");
    expect(screen.getByTestId("tab-reports")).toHaveAttribute("aria-selected", "true");
    expect(screen.getByTestId("tab-users")).toHaveAttribute("aria-selected", "false");
    expect(await screen.findByText("No open reports.")).toBeInTheDocument();
    expect(fake.to("POST", "/auth/login")[0]!.body).toMatchObject({ device_name: "Ferry console" });
  });

  it("refuses an account that is not an administrator, and signs it out", async () => {
    const fake = new FakeFerry();
    fake.accounts.push(fakeAccount(fakeUser("bob")));
    signedOut(fake);
    await signIn("bob", fake.password);
    expect(await screen.findByTestId("error")).toHaveTextContent(NOT_ADMIN);
    expect(fake.to("POST", "/auth/logout")).toHaveLength(1);
    expect(screen.queryByTestId("whoami")).toBeNull();
  });
});

describe("once signed in", () => {
  it("moves between the tabs by click and by arrow keys", async () => {
    await openConsole(new FakeFerry());
    await userEvent.click(screen.getByTestId("tab-users"));
    expect(screen.getByTestId("tab-users")).toHaveAttribute("aria-selected", "true");
    expect(await screen.findByRole("heading", { name: "Users" })).toBeInTheDocument();
    await userEvent.keyboard("{ArrowRight}");
    expect(screen.getByTestId("tab-audit")).toHaveFocus();
    expect(await screen.findByRole("heading", { name: "Audit log" })).toBeInTheDocument();
    await userEvent.keyboard("{ArrowRight}");
    expect(screen.getByTestId("tab-reports")).toHaveFocus();
    expect(screen.getByRole("tabpanel")).toHaveAttribute("aria-labelledby", "tab-reports");
  });

  it("signs out: the session ended on the server, the form back", async () => {
    const fake = new FakeFerry();
    await openConsole(fake);
    await userEvent.click(screen.getByTestId("sign-out"));
    expect(await screen.findByTestId("sign-in")).toBeInTheDocument();
    expect(fake.to("POST", "/auth/logout")).toHaveLength(1);
    expect(screen.queryByTestId("error")).toBeNull();
  });

  it("goes back to the form, saying why, when the server ends the session", async () => {
    const fake = new FakeFerry();
    await openConsole(fake);
    fake.expire();
    fake.refresh = "revoked";
    await userEvent.click(screen.getByTestId("tab-users"));
    expect(await screen.findByTestId("sign-in")).toBeInTheDocument();
    expect(screen.getByTestId("error")).toHaveTextContent("Your session has ended. Sign in again.");
  });
});

describe("a reload", () => {
  it("resumes the session the tab holds, without the form", async () => {
    const fake = new FakeFerry();
    const before = new Server({ fetch: fake.fetch, storage: sessionStorage });
    await before.signIn("olga", fake.password);
    signedOut(fake, sessionStorage);
    expect(await screen.findByTestId("whoami")).toHaveTextContent("olga");
    expect(fake.to("POST", "/auth/login")).toHaveLength(1);
  });

  it("shows the form when the session it held has ended", async () => {
    const fake = new FakeFerry();
    const before = new Server({ fetch: fake.fetch, storage: sessionStorage });
    await before.signIn("olga", fake.password);
    fake.expire();
    fake.refresh = "revoked";
    signedOut(fake, sessionStorage);
    expect(await screen.findByTestId("sign-in")).toBeInTheDocument();
    await waitFor(() => expect(sessionStorage.length).toBe(0));
  });
});
