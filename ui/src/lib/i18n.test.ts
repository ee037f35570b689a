// The window's language: the system's unless chosen, English when the system speaks
// nothing Ferry has, and a change redrawn in place (the same elements, now in German,
// with German dates and numbers), with `lang` on the page following.
import { render, screen, within } from "@testing-library/svelte";
import { flushSync } from "svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import { direct, ME, message, user } from "../test/fixtures";
import ConversationList from "./components/ConversationList.svelte";
import { formatBytes } from "./files";
import {
  dateFormat,
  formatLocale,
  formatNumber,
  language,
  languageChoice,
  languages,
  matchLanguage,
  numberFormat,
  setLanguage,
} from "./i18n.svelte";
import { locales } from "./paraglide/runtime.js";
import { dayLabel, listTime, timeAgo } from "./time";

/** The webview says its languages are `tags` now. */
function systemSpeaks(tags: string[]) {
  vi.spyOn(navigator, "languages", "get").mockReturnValue(tags);
  window.dispatchEvent(new Event("languagechange"));
}

afterEach(() => {
  vi.restoreAllMocks();
  window.dispatchEvent(new Event("languagechange"));
});

describe("the window's language", () => {
  it("is offered in every language there are messages for, each named in itself", () => {
    expect(languages()).toEqual([
      { code: "en", name: "English" },
      { code: "de", name: "Deutsch" },
    ]);
    expect(languages().map((l) => l.code)).toEqual([...locales]);
  });

  it("follows the system's first language Ferry speaks, else English", () => {
    expect(matchLanguage(["fr-FR", "de-AT", "en-GB"])).toBe("de");
    expect(matchLanguage(["en_GB"])).toBe("en");
    expect(matchLanguage(["fr", "ja"])).toBe("en");
    expect(matchLanguage([])).toBe("en");

    setLanguage(null);
    systemSpeaks(["de-CH", "en"]);
    expect(languageChoice()).toBeNull();
    expect(language()).toBe("de");
    expect(document.documentElement.lang).toBe("de");
    // Dates and numbers keep the system's region when it speaks the window's language.
    expect(formatLocale()).toBe("de-CH");

    systemSpeaks(["pt-BR"]);
    expect(language()).toBe("en");
    expect(document.documentElement.lang).toBe("en");
  });

  it("can be chosen, over the system's, and kept; null follows the system again", () => {
    systemSpeaks(["en-GB"]);
    setLanguage("de");
    expect(language()).toBe("de");
    expect(languageChoice()).toBe("de");
    expect(document.documentElement.lang).toBe("de");
    expect(localStorage.getItem("ferry.language")).toBe("de");
    // A region of another language is not borrowed: German dates the German way.
    expect(formatLocale()).toBe("de");

    setLanguage(null);
    expect(language()).toBe("en");
    expect(formatLocale()).toBe("en-GB");
    expect(localStorage.getItem("ferry.language")).toBeNull();
  });
});

describe("switching to German", () => {
  it("redraws what is on screen in German, dates and numbers included, without remounting", () => {
    const ada = user("Ada Lovelace");
    // Last year, so that the list shows a whole date whatever today is.
    const lastYear = new Date(new Date().getFullYear() - 1, 2, 2, 12, 0).toISOString();
    const conversations = [
      direct(ada, {
        unread_count: 1234,
        updated_at: lastYear,
        last_message: message({ body: "see you", mine: true, created_at: lastYear }),
      }),
    ];
    render(ConversationList, { conversations, meId: ME.id, openId: null, onopen: vi.fn() });
    const list = screen.getByRole("listbox", { name: "Conversations" });
    const row = within(list).getByTestId("conversation-item");
    const badge = within(row).getByTestId("unread-badge");
    const time = row.querySelector("time")!;
    const year = new Date(lastYear).getFullYear();
    expect(within(row).getByText("You: see you")).toBeInTheDocument();
    expect(badge).toHaveAccessibleName("1,234 unread");
    expect(time).toHaveTextContent(`Mar 2, ${year}`);

    setLanguage("de");
    flushSync();

    expect(list).toHaveAccessibleName("Unterhaltungen");
    expect(within(row).getByText("Du: see you")).toBeInTheDocument();
    expect(badge).toHaveAccessibleName("1.234 ungelesen");
    expect(time).toHaveTextContent(`2. März ${year}`);
    // The same elements, drawn again: nothing was remounted.
    expect(screen.getByTestId("conversation-item")).toBe(row);
    expect(document.documentElement.lang).toBe("de");
  });

  it("says times, days and sizes the German way", () => {
    setLanguage("de");
    const now = new Date(2024, 4, 15, 14, 30);
    const at = (d: number, h = 12, min = 0) => new Date(2024, 4, d, h, min).toISOString();
    expect(dayLabel(at(15, 9), now)).toBe("Heute");
    expect(dayLabel(at(14), now)).toBe("Gestern");
    expect(dayLabel(at(10), now)).toBe("Freitag, 10. Mai");
    expect(listTime(at(14), now)).toBe("Gestern");
    expect(listTime(at(15, 8, 45), now)).toBe("08:45");
    expect(timeAgo(at(15, 14, 29), now)).toBe("vor 1 Minute");
    expect(timeAgo(at(15, 14, 30), now)).toBe("gerade eben");
    expect(timeAgo(at(14, 9), now)).toBe("gestern");
    expect(timeAgo(at(12), now)).toBe("vor 3 Tagen");
    expect(timeAgo(at(3), now)).toBe("am 3. Mai");
    expect(formatBytes(1536)).toBe("1,5 KB");
    expect(formatBytes(3 * 1024 * 1024)).toBe("3,0 MB");
    expect(formatNumber(1234567)).toBe("1.234.567");
  });
});

describe("the formatters", () => {
  const sources = import.meta.glob<string>(["/src/lib/**/*.ts", "/src/lib/**/*.svelte", "!/src/lib/**/*.test.ts"], {
    query: "?raw",
    import: "default",
    eager: true,
  });

  it("are made once for each locale and options", () => {
    expect(dateFormat("de", { hour: "numeric" })).toBe(dateFormat("de", { hour: "numeric" }));
    expect(dateFormat("de", { hour: "numeric" })).not.toBe(dateFormat("en", { hour: "numeric" }));
    expect(dateFormat("de", { hour: "numeric" })).not.toBe(dateFormat("de", { hour: "2-digit" }));
    expect(numberFormat("de")).toBe(numberFormat("de", {}));
  });

  it("are made nowhere else: a row that made its own held ICU objects per time and count", () => {
    const making = Object.entries(sources)
      .filter(([path, text]) => !path.endsWith("/i18n.svelte.ts") && /new Intl\.|\.toLocale(Date|Time)?String\(/.test(text))
      .map(([path]) => path);
    expect(Object.keys(sources).length).toBeGreaterThan(20);
    expect(making).toEqual([]);
  });
});
