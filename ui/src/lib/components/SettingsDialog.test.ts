// Settings in the whole window against a mocked core: its sections as a vertical tab
// list the arrows move through, and the app's own settings (App, Appearance, Language)
// stored through the shell's `set_app_settings`, shown at once and put back when the
// shell refuses. Settings → Account has its own suite (AccountDialog.test.ts).
import { render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import App from "../../App.svelte";
import type { AppSettings } from "../bindings/AppSettings";
import { DEFAULT_APP_SETTINGS } from "../chat/settings.svelte";
import { account, direct, ME, mockCore, user, type Handlers } from "../../test/fixtures";

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
      "Keyboard shortcuts",
    ]);
    expect(within(dialog).getByRole("tablist")).toHaveAttribute("aria-orientation", "vertical");
    expect(tabs[0]).toHaveFocus();
    expect(within(dialog).getByRole("tabpanel")).toHaveAccessibleName("Account");
    expect(tabs.map((t) => t.tabIndex)).toEqual([0, -1, -1, -1, -1, -1]);

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
