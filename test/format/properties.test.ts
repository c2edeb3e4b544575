// The formatter's properties: it is idempotent, keeps the AST (spans aside;
// addresses and units in their canonical spelling), and never changes what
// `wgpc compile` emits; over every example and test case and over generated
// policies (fixed seed).
import * as fs from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backends } from "../../src/backends/registry.js";
import { formatPolicyText } from "../../src/format/format.js";
import { allPolicies } from "../support/compile.js";
import { astShape, bundleText, compileAs, messyPolicyText } from "./support.js";

const SEED = 20240909;
const RUNS = 1000;
const files = allPolicies();

function format(text: string): string {
  const result = formatPolicyText(text);
  if (!result.ok) throw new Error(`formatting failed: ${result.diagnostics.map((d) => d.slug).join(", ")}`);
  return result.text;
}

describe("formatting the examples and test cases", () => {
  it.each(files)("$name: idempotent, same AST, same bundles with every backend", ({ file }) => {
    const text = fs.readFileSync(file, "utf8");
    const once = format(text);
    expect(format(once)).toBe(once);
    expect(astShape(once)).toEqual(astShape(text));
    const before = bundleText(compileAs(file, text, backends));
    expect(before).not.toMatch(/^no bundles/);
    expect(bundleText(compileAs(file, once, backends))).toBe(before);
  });
});

describe(`formatting ${RUNS} generated policies`, () => {
  it("is idempotent", () => {
    fc.assert(
      fc.property(messyPolicyText, (text) => {
        const once = format(text);
        expect(format(once)).toBe(once);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it("keeps the AST", () => {
    fc.assert(
      fc.property(messyPolicyText, (text) => {
        expect(astShape(format(text))).toEqual(astShape(text));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it("keeps what compile emits (every backend)", () => {
    const file = "/virtual/policy.wgp";
    fc.assert(
      fc.property(messyPolicyText, (text) => {
        const before = bundleText(compileAs(file, text, backends));
        expect(bundleText(compileAs(file, format(text), backends))).toBe(before);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
