// For the end-to-end suite: the body of a WebDriver "execute async script" that runs
// axe-core over the whole window, with every rule (colour contrast too, which only a
// real engine can measure), and calls back with the violations that matter: those of
// impact "serious" or "critical", each with its rule, its help and where it is. An
// empty array is a pass. axe-core must be in the page first: execute
// ui/node_modules/axe-core/axe.min.js as a plain script (it sets `window.axe`), or send
// it and this file as one script, axe.min.js first. Its one optional argument is axe's
// run options (say `{ rules: { region: { enabled: false } } }`); on a failure to run at
// all it calls back with `{ error }`. `a11y.test.ts` runs this very file.
/* eslint-disable */
const done = arguments[arguments.length - 1];
const options = arguments.length > 1 && arguments[0] ? arguments[0] : {};
if (!window.axe) {
  done({ error: "axe-core is not loaded: execute ui/node_modules/axe-core/axe.min.js first" });
} else {
  window.axe
    .run(document, Object.assign({ resultTypes: ["violations"] }, options))
    .then(function (results) {
      done(
        results.violations
          .filter(function (v) {
            return v.impact === "serious" || v.impact === "critical";
          })
          .map(function (v) {
            return {
              id: v.id,
              impact: v.impact,
              help: v.help,
              helpUrl: v.helpUrl,
              nodes: v.nodes.map(function (n) {
                return { target: n.target, html: n.html, summary: n.failureSummary };
              }),
            };
          }),
      );
    })
    .catch(function (e) {
      done({ error: String(e) });
    });
}
