// The palette in app.css: every colour has a light and a dark value, the theme chosen in
// Settings (`data-theme` on <html>) overrides the system's either way, and the pairs the
// window draws text and controls with meet WCAG AA in both themes: 4.5:1 for text, 3:1
// for a text field's boundary, the focus ring and icons that carry meaning. jsdom cannot
// compute colours, so the values are read from the stylesheet and measured here.
import { describe, expect, it } from "vitest";
import appCss from "./app.css?raw";

type Theme = "light" | "dark";

/** `--name: var(--light, L) var(--dark, D);` → name → { light, dark } (hex colours only). */
function palette(): Map<string, Record<Theme, string>> {
  const found = new Map<string, Record<Theme, string>>();
  for (const [, name, light, dark] of appCss.matchAll(
    /--([\w-]+):\s*var\(--light, (#[0-9a-f]{6})\) var\(--dark, (#[0-9a-f]{6})\);/g,
  )) {
    found.set(name!, { light: light!, dark: dark! });
  }
  return found;
}

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** Text colours and every background each is drawn on. */
const TEXT: [string, string[]][] = [
  ["text", ["bg", "surface", "surface-2", "surface-3", "selected", "mine", "theirs"]],
  ["text-muted", ["bg", "surface", "surface-2", "selected", "mine", "theirs"]],
  ["text-faint", ["bg", "surface", "surface-2", "selected"]],
  ["accent", ["bg", "surface", "surface-2", "selected", "mine"]],
  ["accent-text", ["accent"]],
  ["link", ["bg", "surface", "mine", "theirs"]],
  ["danger", ["bg", "surface"]],
  ["danger-text", ["danger"]],
  ["online-text", ["bg", "surface"]],
  ["banner-text", ["banner-offline", "banner-connecting", "banner-online"]],
  ["banner-text-muted", ["banner-offline", "banner-connecting", "banner-online"]],
  ["notice-text", ["notice"]],
];

/** Boundaries, the focus ring and meaningful icons, against what is around them. */
const NON_TEXT: [string, string[]][] = [
  ["field-border", ["bg", "surface", "surface-2"]],
  ["accent", ["bg", "surface", "surface-2", "selected", "mine", "theirs"]],
  ["read", ["mine", "surface"]],
  ["online", ["surface", "bg"]],
];

describe("the palette", () => {
  const colours = palette();

  it("gives every colour a light and a dark value, in one place", () => {
    expect(colours.size).toBeGreaterThan(25);
    const declared = [...appCss.matchAll(/^\s*--([\w-]+):/gm)].map((m) => m[1]);
    const plain = declared.filter((name) => name !== "light" && name !== "dark" && !colours.has(name!));
    // Only the two that are not plain hex colours are written otherwise (still light and dark).
    expect(plain).toEqual(["backdrop", "shadow"]);
    expect(appCss).toMatch(/--backdrop: var\(--light, [^)]+\)\) var\(--dark, [^)]+\)\);/);
  });

  it("follows the system unless Settings chose light or dark", () => {
    const compact = appCss.replace(/\s+/g, " ");
    expect(compact).toContain(":root { --light: initial; --dark: ; color-scheme: light; }");
    expect(compact).toContain(
      '@media (prefers-color-scheme: dark) { :root:not([data-theme="light"]) { --light: ; --dark: initial; color-scheme: dark; } }',
    );
    expect(compact).toContain(':root[data-theme="dark"] { --light: ; --dark: initial; color-scheme: dark; }');
  });

  for (const theme of ["light", "dark"] as const) {
    it(`has text at 4.5:1 or more in the ${theme} theme`, () => {
      const failing = TEXT.flatMap(([fg, grounds]) =>
        grounds
          .map((bg) => [fg, bg, contrast(colours.get(fg)![theme], colours.get(bg)![theme])] as const)
          .filter(([, , ratio]) => ratio < 4.5)
          .map(([f, b, ratio]) => `${f} on ${b}: ${ratio.toFixed(2)}`),
      );
      expect(failing).toEqual([]);
    });

    it(`has boundaries, the focus ring and icons at 3:1 or more in the ${theme} theme`, () => {
      const failing = NON_TEXT.flatMap(([fg, grounds]) =>
        grounds
          .map((bg) => [fg, bg, contrast(colours.get(fg)![theme], colours.get(bg)![theme])] as const)
          .filter(([, , ratio]) => ratio < 3)
          .map(([f, b, ratio]) => `${f} on ${b}: ${ratio.toFixed(2)}`),
      );
      expect(failing).toEqual([]);
    });
  }

  it("measures as WCAG does", () => {
    expect(contrast("#000000", "#ffffff")).toBeCloseTo(21, 5);
    expect(contrast("#767676", "#ffffff")).toBeCloseTo(4.54, 2);
  });
});
