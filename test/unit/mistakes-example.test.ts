// examples/mistakes/mistakes.wgp shows each finding of the analysis; its
// comments promise them, line by line.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { compileFiles, compileText, ROOT } from "../support/compile.js";

const FILE = path.join(ROOT, "examples/mistakes/mistakes.wgp");

describe("examples/mistakes", () => {
  it("has each finding its comments describe, at its line, and compiles", () => {
    const r = compileFiles([FILE]);
    const found = r.diagnostics.map((d) => `${r.sources.position(d.span!.file, d.span!.start).line} ${d.code}`);
    expect(found.sort()).toEqual(["22 W0624", "24 W0624", "25 W0624", "31 W0620", "34 W0621", "40 N0622", "45 W0625"].sort());
    expect(r.bundles).toBeDefined();
    // every code found is named in a comment of the file
    const text = fs.readFileSync(FILE, "utf8");
    for (const d of r.diagnostics) expect(text).toContain(`# ${d.code}`);
  });

  it("refuses the early drop once its acknowledgement is gone", () => {
    const text = fs.readFileSync(FILE, "utf8").replace(" acknowledge wireguard", "");
    const r = compileText(text);
    expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => d.code)).toEqual(["E0627"]);
    expect(r.bundles).toBeUndefined();
  });
});
