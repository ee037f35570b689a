// The message files (ui/messages/, compiled by Paraglide): every language has every
// message, with the same inputs and markup as the English one, and a variant for each
// plural category the language has; every message is used somewhere in the app.
import { describe, expect, it } from "vitest";
import settings from "../project.inlang/settings.json";

type Pattern = string;
type Variants = { declarations: string[]; selectors: string[]; match: Record<string, Pattern> }[];
type Messages = Record<string, Pattern | Variants>;

const files = import.meta.glob<Messages>("/messages/**/*.json", { import: "default", eager: true });
const sources = import.meta.glob<string>(["/src/**/*.ts", "/src/**/*.svelte", "!/src/**/*.test.ts", "!/src/lib/paraglide/**"], {
  query: "?raw",
  import: "default",
  eager: true,
});

const { baseLocale, locales } = settings;
const patterns = settings["plugin.inlang.messageFormat"].pathPattern;

/** The messages of `locale`, from every file of the project, by key. */
function messagesOf(locale: string): Messages {
  const all: Messages = {};
  for (const pattern of patterns) {
    const file = files[pattern.replace("./", "/").replace("{locale}", locale)];
    expect(file, `${pattern} for ${locale}`).toBeDefined();
    for (const [key, value] of Object.entries(file!)) if (key !== "$schema") all[key] = value;
  }
  return all;
}

/** The `{name}` placeholders and `{#tag}` markup of one pattern. */
function partsOf(pattern: Pattern): { placeholders: string[]; markup: string[] } {
  const placeholders = [...pattern.matchAll(/\{([A-Za-z_][\w]*)\}/g)].map((m) => m[1]!);
  const markup = [...pattern.matchAll(/\{#([A-Za-z_][\w]*)\}/g)].map((m) => m[1]!);
  return { placeholders, markup };
}

const sorted = (names: Iterable<string>) => [...new Set(names)].sort();

/** What a message takes and shows, whichever language says it. */
function shapeOf(message: Pattern | Variants) {
  if (typeof message === "string") {
    const { placeholders, markup } = partsOf(message);
    return { inputs: sorted(placeholders), markup: sorted(markup), plurals: [] as string[] };
  }
  const [variants] = message;
  const inputs = variants!.declarations.filter((d) => d.startsWith("input ")).map((d) => d.slice(6).trim());
  const locals = variants!.declarations.filter((d) => d.startsWith("local ")).map((d) => d.slice(6).split("=")[0]!.trim());
  const plurals = variants!.declarations.filter((d) => /:\s*plural\b/.test(d)).map((d) => d.slice(6).split("=")[0]!.trim());
  const shown = Object.values(variants!.match).map(partsOf);
  return {
    inputs: sorted([...inputs, ...shown.flatMap((s) => s.placeholders).filter((p) => !locals.includes(p))]),
    markup: sorted(shown.flatMap((s) => s.markup)),
    plurals: sorted(plurals),
  };
}

describe("the message files", () => {
  const english = messagesOf(baseLocale);

  it("give every language every message, with the same inputs and markup", () => {
    expect(Object.keys(english).length).toBeGreaterThan(100);
    for (const locale of locales) {
      const other = messagesOf(locale);
      expect(Object.keys(other).sort(), `the messages of ${locale}`).toEqual(Object.keys(english).sort());
      for (const [key, message] of Object.entries(other)) {
        expect(shapeOf(message), `${locale}: ${key}`).toEqual(shapeOf(english[key]!));
      }
    }
  });

  it("say every plural form each language has", () => {
    for (const locale of locales) {
      const categories = new Intl.PluralRules(locale).resolvedOptions().pluralCategories;
      for (const [key, message] of Object.entries(messagesOf(locale))) {
        if (typeof message === "string") continue;
        for (const selector of shapeOf(message).plurals) {
          const said = Object.keys(message[0]!.match)
            .map((when) => when.split(",").find((part) => part.startsWith(`${selector}=`))?.split("=")[1])
            .filter((form): form is string => form !== undefined);
          if (said.includes("*")) continue;
          expect(sorted(said), `${locale}: ${key}`).toEqual(sorted(categories));
        }
      }
    }
  });

  it("are never empty, and start no word with @ (the compiler's JSDoc would read it as a tag)", () => {
    for (const locale of locales) {
      for (const [key, message] of Object.entries(messagesOf(locale))) {
        const texts = typeof message === "string" ? [message] : Object.values(message[0]!.match);
        for (const text of texts) {
          expect(text.trim(), `${locale}: ${key}`).not.toBe("");
          expect(text, `${locale}: ${key}`).not.toMatch(/(^|\s)@/);
        }
      }
    }
  });

  it("are each used by the app", () => {
    const code = Object.values(sources).join("\n");
    const unused = Object.keys(english).filter((key) => !new RegExp(`\\bm\\.${key}\\b`).test(code));
    expect(unused).toEqual([]);
  });
});
