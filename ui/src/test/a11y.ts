// axe-core in jsdom, for the vitest suites: the window as rendered, every rule but colour
// contrast (jsdom lays nothing out and paints nothing, so it cannot measure it; the
// end-to-end run in WebKit does, with `axe-webdriver.js`), and only what axe calls
// serious or critical, each as one line naming the rule and the elements.
import axe from "axe-core";

export async function seriousViolations(): Promise<string[]> {
  const results = await axe.run(document, {
    resultTypes: ["violations"],
    rules: { "color-contrast": { enabled: false } },
  });
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}
