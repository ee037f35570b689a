/**
 * The language the window speaks. It follows the system (`navigator.languages`, the
 * first one Ferry has, else English) unless the person chose one in Settings
 * (`setLanguage(code)`; `setLanguage(null)` follows the system again); the choice is
 * kept in the webview's storage, so it outlives a restart.
 *
 * The texts are Paraglide's message functions (`m.*` from `./paraglide/messages`,
 * compiled from `ui/messages/*.json`). They ask Paraglide's `getLocale()`, which this
 * module answers from `$state`: whatever a component shows is drawn again when the
 * language changes, in place, with nothing remounted and no draft lost. Dates and
 * numbers go through `Intl` with `formatLocale()`.
 */
import { baseLocale, isLocale, locales, overwriteGetLocale, type Locale } from "./paraglide/runtime.js";

/** A language Ferry has every text in: "en", "de". */
export type Language = Locale;

/**
 * The languages on offer, each named in itself ("English", "Deutsch"), for the Language
 * setting. Named when asked: `Intl.DisplayNames` loads its data, which the window does
 * not need until Settings shows the languages.
 */
export function languages(): readonly { code: Language; name: string }[] {
  return locales.map((code) => ({ code, name: ownName(code) }));
}

const storageKey = "ferry.language";

/** What the person chose; null follows the system. */
let chosen = $state<Language | null>(storedChoice());
/** The system's languages, most preferred first; the webview says when they change. */
let system = $state<readonly string[]>(systemLanguages());

overwriteGetLocale(language);
if (typeof window !== "undefined") {
  window.addEventListener("languagechange", () => {
    system = systemLanguages();
    markDocument();
  });
}
markDocument();

/** Whether Ferry speaks `code` (a bare language code: "de", not "de-AT"). */
export function isLanguage(code: string): code is Language {
  return isLocale(code);
}

/** The language the window speaks now. */
export function language(): Language {
  return chosen ?? matchLanguage(system);
}

/** The person's own choice, or null when the window follows the system. */
export function languageChoice(): Language | null {
  return chosen;
}

/** Speak `code` from now on, or follow the system again (null). */
export function setLanguage(code: Language | null): void {
  chosen = code;
  try {
    if (code) localStorage.setItem(storageKey, code);
    else localStorage.removeItem(storageKey);
  } catch {
    // Storage refused (private mode, quota): the choice holds until the window closes.
  }
  markDocument();
}

/**
 * The tag `Intl` formats dates and numbers with: the system's own tag when it speaks
 * the window's language, so "de-AT" or "en-GB" keep their region's habits, else the
 * bare language ("de").
 */
export function formatLocale(): string {
  const current = language();
  return system.find((tag) => primary(tag) === current) ?? current;
}

/** A count as the window's language writes it ("1,234"; "1.234" in German). */
export function formatNumber(count: number): string {
  return numberFormat(formatLocale()).format(count);
}

// Each `Intl` formatter holds ICU objects that are costly to make; every row of the list
// and the thread formats a time or a count, so they are made once per locale and options.
const formatters = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat | Intl.RelativeTimeFormat>();

function cached<F extends Intl.DateTimeFormat | Intl.NumberFormat | Intl.RelativeTimeFormat>(
  kind: string,
  locale: string,
  options: object,
  make: () => F,
): F {
  const key = `${kind} ${locale} ${JSON.stringify(options)}`;
  let formatter = formatters.get(key) as F | undefined;
  if (!formatter) {
    formatter = make();
    formatters.set(key, formatter);
  }
  return formatter;
}

/** `new Intl.DateTimeFormat(locale, options)`, made once. */
export function dateFormat(locale: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  return cached("date", locale, options, () => new Intl.DateTimeFormat(locale, options));
}

/** `new Intl.NumberFormat(locale, options)`, made once. */
export function numberFormat(locale: string, options: Intl.NumberFormatOptions = {}): Intl.NumberFormat {
  return cached("number", locale, options, () => new Intl.NumberFormat(locale, options));
}

/** `new Intl.RelativeTimeFormat(locale, options)`, made once. */
export function relativeFormat(locale: string, options: Intl.RelativeTimeFormatOptions): Intl.RelativeTimeFormat {
  return cached("relative", locale, options, () => new Intl.RelativeTimeFormat(locale, options));
}

/** The first of `tags` (BCP 47, most preferred first) that Ferry speaks, else English. */
export function matchLanguage(tags: readonly string[]): Language {
  for (const tag of tags) {
    const code = primary(tag);
    if (isLocale(code)) return code;
  }
  return baseLocale;
}

function primary(tag: string): string {
  return tag.toLowerCase().split(/[-_]/)[0];
}

function ownName(code: Language): string {
  const name = new Intl.DisplayNames([code], { type: "language" }).of(code) ?? code;
  return name.charAt(0).toLocaleUpperCase(code) + name.slice(1);
}

function systemLanguages(): readonly string[] {
  if (typeof navigator === "undefined") return [];
  return navigator.languages?.length ? [...navigator.languages] : [navigator.language];
}

function storedChoice(): Language | null {
  try {
    const stored = localStorage.getItem(storageKey);
    return stored && isLocale(stored) ? stored : null;
  } catch {
    return null;
  }
}

/** Screen readers and hyphenation read `lang` on the page. */
function markDocument(): void {
  if (typeof document !== "undefined") document.documentElement.lang = language();
}
