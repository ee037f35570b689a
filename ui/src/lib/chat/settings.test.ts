// The app's own settings against a mocked shell: read at start and put on the window
// (the theme on <html>, the language through the i18n module), a change shown at once
// and stored whole, the answer shown, a refusal undone, an older shell left alone.
import { waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it } from "vitest";
import type { AppSettings } from "../bindings/AppSettings";
import { Chat } from "../chat.svelte";
import { language, languageChoice, setLanguage } from "../i18n.svelte";
import { ME, mockCore } from "../../test/fixtures";
import { AppPreferences, DEFAULT_APP_SETTINGS, spoken } from "./settings.svelte";

const theme = () => document.documentElement.dataset.theme;

// (The test setup puts English back before each test.)
afterEach(() => {
  delete document.documentElement.dataset.theme;
});

describe("the app's settings", () => {
  it("are read at start and put on the window: the theme on <html>, the language spoken", async () => {
    const stored: AppSettings = { theme: "dark", language: "de", close_to_tray: true, start_at_login: false };
    const core = mockCore({
      session: () => ({ user: ME, connection: { state: "online" } }),
      conversations: () => [],
      app_settings: () => stored,
    });
    const chat = new Chat();
    await chat.start();
    expect(core.count("app_settings")).toBe(1);
    expect(chat.preferences.current).toEqual(stored);
    expect(theme()).toBe("dark");
    expect(language()).toBe("de");
    expect(document.documentElement.lang).toBe("de");
    chat.stop();
  });

  it("are read signed out too", async () => {
    mockCore({
      session: () => ({ user: null, connection: { state: "signed_out" } }),
      app_settings: () => ({ ...DEFAULT_APP_SETTINGS, theme: "light" }),
    });
    const chat = new Chat();
    await chat.start();
    expect(theme()).toBe("light");
    chat.stop();
  });

  it("show a change at once, store it whole, and show what the shell stored", async () => {
    let answer!: (settings: AppSettings) => void;
    const core = mockCore({
      app_settings: () => DEFAULT_APP_SETTINGS,
      set_app_settings: () => new Promise<AppSettings>((resolve) => (answer = resolve)),
    });
    const preferences = new AppPreferences();
    await preferences.load();
    const saving = preferences.change({ theme: "dark" });
    expect(preferences.current.theme).toBe("dark");
    expect(theme()).toBe("dark");
    await waitFor(() =>
      expect(core.argsOf("set_app_settings")).toEqual([{ settings: { ...DEFAULT_APP_SETTINGS, theme: "dark" } }]),
    );

    // The shell may store other than it was sent (here: the language it understood).
    answer({ ...DEFAULT_APP_SETTINGS, theme: "dark", language: "de" });
    await saving;
    expect(preferences.current).toEqual({ ...DEFAULT_APP_SETTINGS, theme: "dark", language: "de" });
    expect(language()).toBe("de");
  });

  it("go back to what was stored when the shell refuses, and the caller gets its words", async () => {
    mockCore({
      app_settings: () => ({ ...DEFAULT_APP_SETTINGS, theme: "light" }),
      set_app_settings: () => {
        throw { kind: "local", message: "could not change starting at login: no autostart here" };
      },
    });
    const preferences = new AppPreferences();
    await preferences.load();
    await expect(preferences.change({ start_at_login: true, theme: "dark" })).rejects.toEqual({
      kind: "local",
      message: "could not change starting at login: no autostart here",
    });
    expect(preferences.current).toEqual({ ...DEFAULT_APP_SETTINGS, theme: "light" });
    expect(theme()).toBe("light");
  });

  it("leave the window as it is with a shell that has no such command", async () => {
    setLanguage("de");
    mockCore({
      app_settings: () => {
        throw "command app_settings not found";
      },
    });
    const preferences = new AppPreferences();
    await preferences.load();
    expect(preferences.current).toEqual(DEFAULT_APP_SETTINGS);
    expect(theme()).toBeUndefined();
    expect(languageChoice()).toBe("de");
  });

  it("take a stored language tag for the language Ferry speaks, or the system's", () => {
    expect(spoken(null)).toBeNull();
    expect(spoken("de")).toBe("de");
    expect(spoken("de-AT")).toBe("de");
    expect(spoken("EN_gb")).toBe("en");
    expect(spoken("fr")).toBeNull();
  });
});
