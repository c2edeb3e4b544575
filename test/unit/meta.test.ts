// Things that must stay in step with each other.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { catalogue } from "../../src/diagnostics/catalogue.js";
import { VERSION } from "../../src/version.js";
import { cstTypesText } from "../../grammar/generate-cst-types.js";
import { diagnosticsPage } from "../../src/diagnostics/generate-docs.js";
import { ROOT } from "../support/compile.js";

/**
 * Codes no test can reach, each with the reason. Keep this short: a code
 * that a policy or the command line can produce gets a test instead.
 */
const UNTESTABLE: Record<string, string> = {
  // file-too-large: test/cli.test.ts shows what happens instead
  E0108: "never emitted: the disk reader refuses an oversized file as E0002 cannot-read-file (it is larger than 16 MiB)",
};

/** The golden renderings of test/bad and every test source but this one. */
function testTexts(): string[] {
  const test = path.join(ROOT, "test");
  return fs
    .readdirSync(test, { recursive: true })
    .map(String)
    .filter((f) => (f.endsWith(".ts") && path.join(test, f) !== fileURLToPath(import.meta.url)) || (f.startsWith(`bad${path.sep}`) && f.endsWith(".txt")))
    .map((f) => fs.readFileSync(path.join(test, f), "utf8"));
}

describe("project metadata", () => {
  it("reports the version of package.json", () => {
    expect(VERSION).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version);
  });

  it("has the committed CST types of the current grammar (npm run gen:cst)", () => {
    expect(fs.readFileSync(path.join(ROOT, "grammar/cst.d.ts"), "utf8")).toBe(cstTypesText());
  });

  it("has docs/diagnostics.md for the current catalogue (npm run gen:docs)", () => {
    expect(fs.readFileSync(path.join(ROOT, "docs/diagnostics.md"), "utf8")).toBe(diagnosticsPage());
  });

  it("gives every diagnostic a unique code, a severity-matching prefix and an explanation", () => {
    const entries = Object.values(catalogue);
    expect(new Set(entries.map((e) => e.code)).size).toBe(entries.length);
    for (const e of entries) {
      expect(e.code).toMatch({ error: /^E\d{4}$/, warning: /^W\d{4}$/, note: /^N\d{4}$/ }[e.severity]);
      expect(e.explanation.length).toBeGreaterThan(20);
    }
  });

  it("has a test for every diagnostic code: a golden under test/bad/ or a test that names it", () => {
    const texts = testTexts();
    const untested = Object.entries(catalogue)
      .filter(([slug, e]) => {
        const named = new RegExp(`\\b${e.code}\\b`);
        return !texts.some((text) => named.test(text) || text.includes(`"${slug}"`));
      })
      .map(([slug, e]) => `${e.code} ${slug}`);
    expect(untested.filter((c) => !(c.split(" ")[0]! in UNTESTABLE))).toEqual([]);
    // the list only shrinks: a code that gets a test, or leaves the catalogue, leaves it
    expect(Object.keys(UNTESTABLE).filter((code) => !untested.some((c) => c.startsWith(`${code} `)))).toEqual([]);
  });
});
