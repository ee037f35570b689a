// Settings in the whole window against a mocked core: its sections as a vertical tab
// list the arrows move through, the app's own settings (App, Appearance, Language)
// stored through the shell's `set_app_settings`, shown at once and put back when the
// shell refuses, and Updates: a check, an install followed through the shell's events
// to a refusal and a second try, the account menu's "Check for updates…" and the
// sidebar's news of an update the shell found by itself. Settings → Account has its own
// suite (AccountDialog.test.ts).
import { render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import App from "../../App.svelte";
import type { AppSettings } from "../bindings/AppSettings";
import { DEFAULT_APP_SETTINGS } from "../chat/settings.svelte";
import {
  account,
  ago,
  availableUpdate,
  coreEmits,
  direct,
  ME,
  mockCore,
  user,
  type Handlers,
} from "../../test/fixtures";
import "../../test/screens";

const ENGLISH: AppSettings = { ...DEFAULT_APP_SETTINGS, language: "en" };

afterEach(() => {
  delete document.documentElement.dataset.theme;
});

/** The window signed in, with a shell that keeps the app's settings unless `handlers` say otherwise. */
function setup(handlers: Handlers = {}) {
  let stored = ENGLISH;
  const core = mockCore({
    session: () => ({ user: ME, connection: { state: "online" } }),
    conversations: () => [direct(user("Ada Lovelace"))],
    account_details: () => account(),
    account_sessions: () => [],
    app_settings: () => stored,
    set_app_settings: (args) => (stored = args.settings as AppSettings),
    ...handlers,
  });
  render(App);
  return core;
}

async function openSettings(): Promise<HTMLElement> {
  await userEvent.click(await screen.findByTestId("account-menu"));
  await userEvent.click(screen.getByTestId("account-settings"));
  return screen.findByRole("dialog", { name: "Settings" });
}

function section(dialog: HTMLElement): string | undefined {
  return within(dialog).getByTestId("settings-panel").dataset.section;
}

describe("Settings", () => {
  it("lists its sections as tabs the arrows move through, showing each", async () => {
    setup();
    const dialog = await openSettings();
    const tabs = within(dialog).getAllByRole("tab");
    expect(tabs.map((t) => t.textContent?.trim())).toEqual([
      "Account",
      "Notifications",
      "App",
      "Appearance",
      "Language",
      "Updates",
      "Keyboard shortcuts",
    ]);
    expect(within(dialog).getByRole("tablist")).toHaveAttribute("aria-orientation", "vertical");
    expect(tabs[0]).toHaveFocus();
    expect(within(dialog).getByRole("tabpanel")).toHaveAccessibleName("Account");
    expect(tabs.map((t) => t.tabIndex)).toEqual([0, -1, -1, -1, -1, -1, -1]);

    await userEvent.keyboard("{ArrowDown}");
    expect(section(dialog)).toBe("notifications");
    await userEvent.keyboard("{ArrowDown}");
    expect(section(dialog)).toBe("app");
    expect(within(dialog).getByRole("tab", { name: "App" })).toHaveFocus();
    expect(within(dialog).getByRole("tab", { name: "App" })).toHaveAttribute("aria-selected", "true");
    expect(within(dialog).getByRole("tabpanel")).toHaveAccessibleName("App");
    expect(within(dialog).getByTestId("start-at-login")).toBeInTheDocument();
    await userEvent.keyboard("{End}");
    expect(section(dialog)).toBe("shortcuts");
    await userEvent.keyboard("{ArrowUp}");
    expect(section(dialog)).toBe("updates");
    expect(within(dialog).getByRole("tab", { name: "Updates" })).toHaveFocus();
    expect(within(dialog).getByRole("tabpanel")).toHaveAccessibleName("Updates");
    await userEvent.keyboard("{ArrowDown}");
    expect(section(dialog)).toBe("shortcuts");
    await userEvent.keyboard("{ArrowDown}");
    expect(section(dialog)).toBe("account");
    await userEvent.keyboard("{ArrowUp}");
    expect(section(dialog)).toBe("shortcuts");
    await userEvent.keyboard("{Home}");
    expect(section(dialog)).toBe("account");
    await userEvent.click(within(dialog).getByRole("tab", { name: "Appearance" }));
    expect(section(dialog)).toBe("appearance");
  });

  it("opens with Ctrl+, and closes with Esc, giving focus back", async () => {
    setup();
    const menu = await screen.findByTestId("account-menu");
    menu.focus();
    await userEvent.keyboard("{Control>},{/Control}");
    const dialog = await screen.findByTestId("settings-dialog");
    expect(section(dialog)).toBe("account");
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByTestId("settings-dialog")).toBeNull();
    expect(menu).toHaveFocus();
  });

  it("applies a theme at once and stores it, the keyboard choosing among the radio buttons", async () => {
    const core = setup();
    const dialog = await openSettings();
    await userEvent.click(within(dialog).getByRole("tab", { name: "Appearance" }));
    const group = within(dialog).getByRole("group", { name: "Theme" });
    expect(within(group).getByRole("radio", { name: "Follow the system" })).toBeChecked();

    await userEvent.click(within(group).getByRole("radio", { name: "Dark" }));
    expect(document.documentElement.dataset.theme).toBe("dark");
    await waitFor(() => expect(core.argsOf("set_app_settings")).toEqual([{ settings: { ...ENGLISH, theme: "dark" } }]));

    // The arrows move the choice, as radio buttons do.
    await userEvent.keyboard("{ArrowUp}");
    expect(within(group).getByRole("radio", { name: "Light" })).toBeChecked();
    expect(document.documentElement.dataset.theme).toBe("light");
    await waitFor(() => expect(core.argsOf("set_app_settings").at(-1)).toEqual({ settings: { ...ENGLISH, theme: "light" } }));
  });

  it("starts at login and closes to the tray as ticked, and unticks what the shell refused, saying why", async () => {
    let refuse = false;
    let stored = ENGLISH;
    const core = setup({
      set_app_settings: (args) => {
        if (refuse) throw { kind: "local", message: "could not change starting at login: not allowed" };
        return (stored = args.settings as AppSettings);
      },
      app_settings: () => stored,
    });
    const dialog = await openSettings();
    await userEvent.click(within(dialog).getByRole("tab", { name: "App" }));
    const tray = within(dialog).getByRole("checkbox", { name: /Keep running in the tray/ });
    const login = within(dialog).getByRole("checkbox", { name: /Start Ferry when you log in/ });
    expect(login).toHaveAccessibleDescription(/opens with your computer/);

    await userEvent.click(tray);
    await waitFor(() => expect(core.argsOf("set_app_settings")).toEqual([{ settings: { ...ENGLISH, close_to_tray: true } }]));
    expect(tray).toBeChecked();

    refuse = true;
    await userEvent.click(login);
    expect(await within(dialog).findByTestId("settings-error")).toHaveTextContent("not allowed");
    expect(login).not.toBeChecked();
    expect(tray).toBeChecked();
    expect(core.argsOf("set_app_settings").at(-1)).toEqual({
      settings: { ...ENGLISH, close_to_tray: true, start_at_login: true },
    });

    refuse = false;
    await userEvent.click(login);
    await waitFor(() => expect(within(dialog).queryByTestId("settings-error")).toBeNull());
    expect(login).toBeChecked();
    expect(stored).toEqual({ ...ENGLISH, close_to_tray: true, start_at_login: true });
  });

  it("speaks the language chosen at once, stores it, and follows the system again", async () => {
    const core = setup();
    const dialog = await openSettings();
    await userEvent.click(within(dialog).getByRole("tab", { name: "Language" }));
    const select = within(dialog).getByRole("combobox", { name: "Language of the app" });
    expect(select).toHaveValue("en");
    expect(within(select).getAllByRole("option").map((o) => o.textContent)).toEqual([
      "Follow the system",
      "English",
      "Deutsch",
    ]);

    await userEvent.selectOptions(select, "de");
    await waitFor(() => expect(core.argsOf("set_app_settings")).toEqual([{ settings: { ...ENGLISH, language: "de" } }]));
    expect(within(dialog).getByRole("tab", { name: "Sprache" })).toHaveAttribute("aria-selected", "true");
    expect(screen.getByRole("dialog", { name: "Einstellungen" })).toBe(dialog);
    expect(document.documentElement.lang).toBe("de");

    await userEvent.selectOptions(select, "");
    await waitFor(() => expect(core.argsOf("set_app_settings").at(-1)).toEqual({ settings: { ...ENGLISH, language: null } }));
    // jsdom's system language is English.
    expect(within(dialog).getByRole("tab", { name: "Language" })).toBeInTheDocument();
  });

  it("lists every shortcut, grouped, with the keys as printed", async () => {
    setup();
    const dialog = await openSettings();
    await userEvent.click(within(dialog).getByRole("tab", { name: "Keyboard shortcuts" }));
    const list = within(dialog).getByTestId("shortcut-list");
    expect(within(list).getAllByRole("heading").map((h) => h.textContent)).toEqual([
      "Everywhere",
      "Conversation list",
      "Writing",
      "A message (once focused)",
      "Reaction picker",
    ]);
    const keys = (what: string) =>
      [...within(list).getByText(what).closest("[data-testid=shortcut]")!.querySelectorAll("kbd")].map((k) => k.textContent);
    expect(keys("Go to a conversation")).toEqual(["Ctrl", "K"]);
    expect(keys("Show the keyboard shortcuts")).toEqual(["Ctrl", "/"]);
    expect(keys("Open the settings")).toEqual(["Ctrl", ","]);
    expect(keys("Reply")).toEqual(["R"]);
    expect(keys("React with an emoji")).toEqual(["E", "+"]);
    expect(keys("Edit (your own)")).toEqual(["F2"]);
    expect(keys("Back to writing")).toEqual(["Esc"]);
  });
});

/** Settings opened at Updates, with the tab list. */
async function openUpdates(): Promise<HTMLElement> {
  const dialog = await openSettings();
  await userEvent.click(within(dialog).getByRole("tab", { name: "Updates" }));
  expect(section(dialog)).toBe("updates");
  return dialog;
}

/** A shell whose `install_update` waits until the test settles it, as the real one does while it downloads. */
function pendingInstalls() {
  const installs: { reject: (e: unknown) => void }[] = [];
  return {
    handler: () => new Promise<void>((_, reject) => installs.push({ reject })),
    last: () => installs.at(-1)!,
  };
}

describe("Settings → Updates", () => {
  it("checks for updates, saying so while it asks, and says when Ferry is up to date", async () => {
    let answer!: (found: null) => void;
    const core = setup({
      app_version: () => "0.1.0",
      check_for_update: () => new Promise<null>((resolve) => (answer = resolve)),
    });
    const dialog = await openUpdates();
    expect(await within(dialog).findByTestId("app-version")).toHaveTextContent("Ferry 0.1.0");
    // Nothing is asked until the person asks (the shell looks by itself).
    expect(core.count("check_for_update")).toBe(0);
    const check = within(dialog).getByTestId("check-for-updates");
    expect(check).toHaveAccessibleName("Check for updates");

    await userEvent.click(check);
    const status = within(dialog).getByRole("status");
    expect(status).toHaveAttribute("data-testid", "update-status");
    expect(status).toHaveTextContent("Checking for updates…");
    expect(check).toBeDisabled();
    expect(core.count("check_for_update")).toBe(1);

    answer(null);
    expect(await within(dialog).findByTestId("update-none")).toHaveTextContent("Ferry is up to date.");
    expect(status).toContainElement(within(dialog).getByTestId("update-none"));
    expect(check).toBeEnabled();
    expect(within(dialog).queryByTestId("update-offer")).toBeNull();
    expect(within(dialog).queryByTestId("install-update")).toBeNull();
  });

  it("shows why a check did not work, in the shell's words, and checks again", async () => {
    let refuse = true;
    setup({
      check_for_update: () => {
        if (refuse) {
          throw {
            kind: "local",
            message: "this build of Ferry was made without an update key, so it cannot update itself: install new versions by hand",
          };
        }
        return null;
      },
    });
    const dialog = await openUpdates();
    await userEvent.click(within(dialog).getByTestId("check-for-updates"));
    const error = await within(dialog).findByTestId("update-error");
    expect(error).toHaveAttribute("role", "alert");
    expect(error).toHaveTextContent(
      /^this build of Ferry was made without an update key, so it cannot update itself: install new versions by hand$/,
    );

    refuse = false;
    await userEvent.click(within(dialog).getByTestId("check-for-updates"));
    await within(dialog).findByTestId("update-none");
    expect(within(dialog).queryByTestId("update-error")).toBeNull();
  });

  it("shows an update, installs it with its progress, and shows a refusal as it is, to try again", async () => {
    const installs = pendingInstalls();
    const core = setup({
      check_for_update: () => availableUpdate({ date: ago(3 * 24 * 60) }),
      install_update: installs.handler,
    });
    const dialog = await openUpdates();
    await userEvent.click(within(dialog).getByTestId("check-for-updates"));

    const offer = await within(dialog).findByTestId("update-offer");
    expect(within(offer).getByTestId("update-available-version")).toHaveTextContent("Ferry 0.2.0 is available");
    expect(offer).toHaveAccessibleName("Ferry 0.2.0 is available");
    expect(within(offer).getByText("Published 3 days ago")).toBeInTheDocument();
    // The publisher's text as it is: its line breaks kept, nothing made of its markup.
    expect(within(offer).getByTestId("update-notes").textContent).toBe(
      "Starts faster.\nThe tray icon follows the theme.",
    );
    // The answer is heard too, not only shown.
    expect(within(dialog).getByTestId("update-status")).toHaveAttribute("role", "status");
    expect(within(dialog).getByTestId("update-status")).toHaveTextContent("Ferry 0.2.0 is available");
    // The install's steps are said by the offer, where its button is.
    const status = within(offer).getByTestId("install-status");
    expect(status).toHaveAttribute("role", "status");
    expect(status).toBeEmptyDOMElement();

    const install = within(offer).getByTestId("install-update");
    expect(install).toHaveAccessibleName("Install and restart");
    await userEvent.click(install);
    expect(core.count("install_update")).toBe(1);
    expect(install).toBeDisabled();
    expect(within(dialog).getByTestId("check-for-updates")).toBeDisabled();
    expect(status).toHaveTextContent("Downloading…");

    // Before the first bytes the server's size is not known: the bar only says it goes on.
    let progress = within(dialog).getByTestId("update-progress");
    expect(progress).toHaveAccessibleName("Downloading the update");
    expect(progress).not.toHaveAttribute("value");

    await coreEmits({ type: "update_progress", received: 3_355_443, total: 13_107_200 });
    progress = await within(dialog).findByRole("progressbar", { name: "Downloading the update" });
    await waitFor(() => expect(progress).toHaveAttribute("value", "3355443"));
    expect(progress).toHaveAttribute("max", "13107200");
    expect(within(dialog).getByTestId("update-count")).toHaveTextContent("3.2 MB of 13 MB");
    expect(status.parentElement).toHaveTextContent(/^Downloading… 3\.2 MB of 13 MB$/);
    // The live region says the step, not every byte.
    expect(status).toHaveTextContent(/^Downloading…$/);

    await coreEmits({ type: "update_progress", received: 13_107_200, total: 13_107_200 });
    await coreEmits({ type: "update_downloaded" });
    await waitFor(() => expect(status).toHaveTextContent("Checking the signature and installing…"));
    expect(within(dialog).queryByTestId("update-progress")).toBeNull();
    expect(install).toBeDisabled();

    const refusal =
      "the download of Ferry 0.2.0 is not signed with Ferry's update key, so it was refused and nothing changed; tell whoever runs your server";
    installs.last().reject({ kind: "local", message: refusal });
    // Said where it happened, above the button that tries again.
    const error = await within(offer).findByRole("alert");
    expect(error).toHaveAttribute("data-testid", "update-error");
    expect(error).toHaveTextContent(refusal);
    expect(status).toBeEmptyDOMElement();
    expect(within(dialog).getByTestId("update-available-version")).toHaveTextContent("Ferry 0.2.0 is available");
    expect(install).toBeEnabled();

    // Tried again: a new download, the old failure gone.
    await userEvent.click(install);
    expect(core.count("install_update")).toBe(2);
    expect(within(dialog).queryByTestId("update-error")).toBeNull();
    expect(status).toHaveTextContent("Downloading…");
    await coreEmits({ type: "update_progress", received: 2048, total: null });
    await waitFor(() => expect(within(dialog).getByTestId("update-count")).toHaveTextContent("2.0 KB so far"));
    expect(within(dialog).getByTestId("update-progress")).not.toHaveAttribute("value");
  });

  it("keeps the download going when Settings closes, and shows how far it got when it opens again", async () => {
    const installs = pendingInstalls();
    setup({ check_for_update: () => availableUpdate(), install_update: installs.handler });
    let dialog = await openUpdates();
    await userEvent.click(within(dialog).getByTestId("check-for-updates"));
    await userEvent.click(await within(dialog).findByTestId("install-update"));
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByTestId("settings-dialog")).toBeNull();

    await coreEmits({ type: "update_progress", received: 6_553_600, total: 13_107_200 });
    dialog = await openUpdates();
    expect(within(dialog).getByTestId("update-count")).toHaveTextContent("6.3 MB of 13 MB");
    expect(within(dialog).getByTestId("install-update")).toBeDisabled();
  });

  it("opens at Updates from the account menu's Check for updates, and checks", async () => {
    const core = setup({ check_for_update: () => availableUpdate() });
    await userEvent.click(await screen.findByTestId("account-menu"));
    const item = screen.getByTestId("menu-check-for-updates");
    expect(item).toHaveAttribute("role", "menuitem");
    expect(item).toHaveAccessibleName("Check for updates…");
    await userEvent.click(item);

    const dialog = await screen.findByRole("dialog", { name: "Settings" });
    expect(section(dialog)).toBe("updates");
    expect(within(dialog).getByRole("tab", { name: "Updates" })).toHaveFocus();
    expect(await within(dialog).findByTestId("update-available-version")).toHaveTextContent("Ferry 0.2.0 is available");
    expect(core.count("check_for_update")).toBe(1);
    // Asked for, so there is nothing to announce in the sidebar.
    expect(screen.queryByTestId("update-notice")).toBeNull();
  });

  it("announces an update the shell found by itself in the sidebar, without taking focus; What's new opens Updates", async () => {
    const core = setup();
    const search = await screen.findByTestId("search-input");
    await userEvent.click(search);
    expect(search).toHaveFocus();
    expect(screen.queryByTestId("update-notice")).toBeNull();

    await coreEmits({ type: "update_available", update: availableUpdate({ notes: "Faster." }) });
    const notice = await screen.findByTestId("update-notice");
    expect(notice).toHaveTextContent("Ferry 0.2.0 is available");
    // Heard politely, and typing goes on where it was.
    expect(notice.closest('[role="status"]')).not.toBeNull();
    expect(search).toHaveFocus();
    await userEvent.keyboard("lunch");
    expect(search).toHaveValue("lunch");
    await userEvent.clear(search);

    const open = within(notice).getByTestId("update-notice-open");
    expect(open).toHaveAccessibleName("What's new");
    await userEvent.click(open);
    const dialog = await screen.findByRole("dialog", { name: "Settings" });
    expect(section(dialog)).toBe("updates");
    expect(within(dialog).getByTestId("update-available-version")).toHaveTextContent("Ferry 0.2.0 is available");
    expect(within(dialog).getByTestId("update-notes")).toHaveTextContent("Faster.");
    expect(within(dialog).getByTestId("install-update")).toBeEnabled();
    // What the shell found is shown as it is, without asking the feed again.
    expect(core.count("check_for_update")).toBe(0);

    // Closed, focus comes back to the notice, which stays until it is dismissed.
    await userEvent.keyboard("{Escape}");
    expect(screen.getByTestId("update-notice-open")).toHaveFocus();
    await userEvent.click(within(screen.getByTestId("update-notice")).getByRole("button", { name: "Dismiss" }));
    expect(screen.queryByTestId("update-notice")).toBeNull();
    // The shell's next daily look finds the same version: it is not announced again.
    await coreEmits({ type: "update_available", update: availableUpdate() });
    await coreEmits({ type: "update_available", update: availableUpdate() });
    expect(screen.queryByTestId("update-notice")).toBeNull();
  });

  it("speaks German too", async () => {
    setup({ check_for_update: () => availableUpdate({ date: null, notes: null }) });
    const dialog = await openUpdates();
    await userEvent.click(within(dialog).getByRole("tab", { name: "Language" }));
    await userEvent.selectOptions(within(dialog).getByRole("combobox"), "de");
    await userEvent.click(within(dialog).getByRole("tab", { name: "Updates" }));
    await userEvent.click(within(dialog).getByRole("button", { name: "Nach Updates suchen" }));
    expect(await within(dialog).findByTestId("update-available-version")).toHaveTextContent("Ferry 0.2.0 ist verfügbar");
    expect(within(dialog).getByRole("button", { name: "Installieren und neu starten" })).toBeEnabled();
    // Without notes or a date there is neither.
    expect(within(dialog).queryByTestId("update-notes")).toBeNull();
    expect(within(dialog).queryByText(/Veröffentlicht/)).toBeNull();
  });
});
