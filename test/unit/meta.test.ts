// Things that must stay in step with each other.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { catalogue } from "../../src/diagnostics/catalogue.js";
import { VERSION } from "../../src/version.js";
import { cstTypesText } from "../../grammar/generate-cst-types.js";
import { diagnosticsPage } from "../../src/diagnostics/generate-docs.js";
import { ROOT } from "../support/compile.js";

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
});
