// Bad policies give positioned diagnostics with stable codes. Each file under
// test/bad/ has its expected rendering next to it (.txt); UPDATE_GOLDEN=1
// rewrites them, to be read before committing.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, compileFiles, rendered } from "./support/compile.js";

const BAD = path.join(ROOT, "test/bad");
const update = process.env.UPDATE_GOLDEN === "1";

describe("diagnostics for bad policies", () => {
  const files = fs.readdirSync(BAD).filter((f) => f.endsWith(".wgp")).sort();
  it.each(files)("%s", (file) => {
    const relative = path.join("test/bad", file);
    const result = compileFiles([relative]);
    const text = `${rendered(result)}\n`;
    const golden = path.join(BAD, file.replace(/\.wgp$/, ".txt"));
    if (update) fs.writeFileSync(golden, text);
    expect(text).toBe(fs.readFileSync(golden, "utf8"));
    // every error is positioned in the policy and nothing is emitted
    const errors = result.diagnostics.filter((d) => d.severity === "error");
    expect(errors.length, "a bad policy must have an error").toBeGreaterThan(0);
    expect(result.bundles).toBeUndefined();
    for (const d of errors) {
      if (d.slug !== "cannot-read-file") expect(d.span, `${d.code} has no position`).toBeDefined();
      expect(d.code).toMatch(/^E\d{4}$/);
    }
  });
});
