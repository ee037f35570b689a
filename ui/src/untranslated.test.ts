// Every text the desktop app shows goes through a message (src/lib/paraglide, compiled
// from ui/messages/*.json): its components' markup is read with Svelte's own parser and
// any literal words, in text or in an attribute a person reads or hears (aria-label,
// title, placeholder, alt, and a component's label-like props), fail the test with
// file:line. Not the operators' console (src/console), which stays in English.
import { parse } from "svelte/compiler";
import { describe, expect, it } from "vitest";

const components = import.meta.glob<string>(["/src/**/*.svelte", "!/src/console/**", "!/src/test/**"], {
  query: "?raw",
  import: "default",
  eager: true,
});

/** Attributes of HTML elements whose value is read or heard. */
const spokenAttributes = new Set([
  "aria-label",
  "aria-description",
  "aria-placeholder",
  "aria-roledescription",
  "aria-valuetext",
  "title",
  "placeholder",
  "alt",
  "label",
]);
/** Props of our components that carry text: `label`, `confirmLabel`, `title`, `hint`... */
const spokenProp = /(label|title|text|placeholder|heading|hint|message|description|caption|alt)$/i;

/** Words that are the same in every language. */
const sameEverywhere = new Set([
  "Ferry", // the product's name
  "K", // the key cap in Ctrl + K
]);

const hasWords = (text: string) => /\p{L}/u.test(text) && !sameEverywhere.has(text.trim());

// The parser's tree, loosely typed: only the fields this walk reads.
type Node = { type: string; start: number; [field: string]: unknown };

/** String literals an expression can evaluate to (not those it only compares or passes on). */
function literalResults(expression: Node | null | undefined): Node[] {
  if (!expression) return [];
  switch (expression.type) {
    case "Literal":
      return typeof expression.value === "string" && hasWords(expression.value) ? [expression] : [];
    case "TemplateLiteral":
      return [
        ...(expression.quasis as Node[]).filter((quasi) => hasWords((quasi.value as { cooked: string }).cooked)),
        ...(expression.expressions as Node[]).flatMap(literalResults),
      ];
    case "ConditionalExpression":
      return [...literalResults(expression.consequent as Node), ...literalResults(expression.alternate as Node)];
    case "LogicalExpression":
      return [...literalResults(expression.left as Node), ...literalResults(expression.right as Node)];
    case "BinaryExpression":
      return expression.operator === "+"
        ? [...literalResults(expression.left as Node), ...literalResults(expression.right as Node)]
        : [];
    default:
      return [];
  }
}

/** What a value shows: literal text parts, and literals its expressions produce. */
function attributeValueLiterals(value: unknown): Node[] {
  if (value === true) return [];
  const parts = (Array.isArray(value) ? value : [value]) as Node[];
  return parts.flatMap((part) => {
    if (part.type === "Text") return hasWords(part.data as string) ? [part] : [];
    if (part.type === "ExpressionTag") return literalResults(part.expression as Node);
    return [];
  });
}

/** Every untranslated text in one component, as offsets into its source. */
function untranslated(source: string): Node[] {
  const found: Node[] = [];
  const visit = (node: unknown, parent: Node | null): void => {
    if (!node || typeof node !== "object") return;
    if (Array.isArray(node)) {
      for (const child of node) visit(child, parent);
      return;
    }
    const current = node as Node;
    switch (current.type) {
      case "Text":
        // Text directly in the markup (attribute text is looked at below, by name).
        if (parent?.type === "Fragment" && hasWords(current.data as string)) found.push(current);
        return;
      case "ExpressionTag":
        if (parent?.type === "Fragment") found.push(...literalResults(current.expression as Node));
        return;
      case "Attribute": {
        const name = current.name as string;
        const isComponent = parent?.type === "Component" || parent?.type === "SvelteComponent";
        if (spokenAttributes.has(name) || (isComponent && spokenProp.test(name))) {
          found.push(...attributeValueLiterals(current.value));
        }
        return;
      }
      case "Script":
      case "StyleSheet":
        return;
    }
    for (const [field, child] of Object.entries(current)) {
      if (field === "metadata" || field === "parent") continue;
      // The parser's expressions are JavaScript, not markup; only blocks' fragments hold text.
      if (child && typeof child === "object") visit(child, current);
    }
  };
  visit(parse(source, { modern: true }).fragment, null);
  return found;
}

function lineOf(source: string, offset: number): number {
  return source.slice(0, offset).split("\n").length;
}

describe("the desktop app's text", () => {
  it("goes through a message everywhere: no literal words in markup or spoken attributes", () => {
    expect(Object.keys(components).length).toBeGreaterThan(20);
    const left = Object.entries(components).flatMap(([path, source]) =>
      untranslated(source).map((node) => {
        const text = source.slice(node.start, node.end as number).trim().replace(/\s+/g, " ");
        return `${path.slice(1)}:${lineOf(source, node.start)}: ${text}`;
      }),
    );
    expect(left, `untranslated:\n${left.join("\n")}`).toEqual([]);
  });

  it("the scan finds literal words where they hide", () => {
    const source = [
      "<p>Hello</p>",
      '<button aria-label="Close" title={busy ? "Saving" : m.save()}>×</button>',
      '<Dialog confirmLabel="Delete" />',
      "<p>{count} {`items`}</p>",
      '<input placeholder={"Search"} class="wide" />',
      '<p>{m.ok()} {kind === "dm" ? m.dm() : m.group()} <kbd>K</kbd></p>',
    ].join("\n");
    expect(untranslated(source).map((node) => source.slice(node.start, node.end as number))).toEqual([
      "Hello",
      "Close",
      '"Saving"',
      "Delete",
      "items",
      '"Search"',
    ]);
  });
});
