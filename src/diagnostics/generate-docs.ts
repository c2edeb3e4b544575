// Writes docs/diagnostics.md from the catalogue (`npm run gen:docs`); a test
// keeps the committed page in step with the codes.
import { writeFileSync } from "node:fs";
import { catalogue } from "./catalogue.js";

export function diagnosticsPage(): string {
  const rows = Object.entries(catalogue)
    .sort(([, a], [, b]) => a.code.localeCompare(b.code))
    .map(([slug, e]) => `| ${e.code} | \`${slug}\` | ${e.severity} | ${e.explanation.replace(/\|/g, "\\|")} |`);
  return [
    "# Diagnostics",
    "",
    "Generated from src/diagnostics/catalogue.ts by `npm run gen:docs`. `wgpc explain-code CODE` prints one entry.",
    "A code never changes its meaning; E codes are errors, W codes warnings.",
    "",
    "| code | name | severity | what it means |",
    "|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}

if (process.argv[2] === "--write") writeFileSync(new URL("../../../docs/diagnostics.md", import.meta.url), diagnosticsPage());
