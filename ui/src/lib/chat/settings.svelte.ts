/**
 * `AppPreferences`: the app's own settings on this computer (theme, language, closing
 * to the tray, starting at login), which the shell keeps apart from the account, so they
 * hold signed out and offline. Read once at start; the theme and the language are put
 * on the window at once (`data-theme` on `<html>`, which `app.css` reads, and the i18n
 * module's language), before the first conversation list paints.
 *
 * A change shows at once and is then stored whole; the shell answers with what it
 * stored, which is what the window shows from then on. When it refuses (the system
 * would not start Ferry at login, say), what was stored before comes back and the
 * caller gets the error to show beside the control. A shell without the commands (an
 * older one) leaves the defaults: the system's theme and language.
 */
import * as backend from "../backend";
import type { AppSettings } from "../bindings/AppSettings";
import type { Theme } from "../bindings/Theme";
import { isLanguage, languageChoice, setLanguage, type Language } from "../i18n.svelte";

/** What a shell that stored nothing answers (see `src-tauri/src/settings.rs`). */
export const DEFAULT_APP_SETTINGS: AppSettings = {
  theme: "system",
  language: null,
  close_to_tray: false,
  start_at_login: false,
};

export class AppPreferences {
  /** What the window shows: the last change made here, else what the shell stored. */
  current = $state.raw<AppSettings>(DEFAULT_APP_SETTINGS);

  /** What the shell last said it stored: what a refused change goes back to. */
  #stored: AppSettings = DEFAULT_APP_SETTINGS;
  /** Counts changes, so that only the answer to the latest one is shown. */
  #changes = 0;

  /** Reads the stored settings and puts them on the window; never rejects. */
  async load(): Promise<void> {
    let stored: AppSettings | null;
    try {
      stored = await backend.appSettings();
    } catch {
      // An older shell: the window keeps the system's theme and the language it had.
      return;
    }
    if (!stored) return;
    this.#stored = this.current = stored;
    applyToWindow(stored);
  }

  /**
   * Shows `change` at once and stores it with the rest; rejects with the shell's error
   * (then the settings stored before show again).
   */
  async change(change: Partial<AppSettings>): Promise<void> {
    const next = { ...this.current, ...change };
    const ticket = ++this.#changes;
    this.current = next;
    applyToWindow(next);
    try {
      const stored = await backend.setAppSettings(next);
      this.#stored = stored ?? next;
    } catch (e) {
      if (ticket === this.#changes) {
        this.current = this.#stored;
        applyToWindow(this.#stored);
      }
      throw e;
    }
    if (ticket === this.#changes) {
      this.current = this.#stored;
      applyToWindow(this.#stored);
    }
  }
}

/** The theme on `<html>` (app.css picks the palette by it) and the window's language. */
function applyToWindow(settings: AppSettings): void {
  applyTheme(settings.theme);
  const language = spoken(settings.language);
  // The i18n module remembers its choice too; it is told only what differs.
  if (language !== languageChoice()) setLanguage(language);
}

export function applyTheme(theme: Theme): void {
  if (typeof document !== "undefined") document.documentElement.dataset.theme = theme;
}

/**
 * The language of Ferry's that a stored tag names ("de-AT" is German); null, to follow
 * the system, for none or one Ferry does not speak.
 */
export function spoken(tag: string | null): Language | null {
  if (!tag) return null;
  const primary = tag.toLowerCase().split(/[-_]/)[0];
  return isLanguage(primary) ? primary : null;
}
