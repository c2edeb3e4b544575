// Every test case (and the seed lab) compiled by every backend, compared
// with reviewed files under test/golden/<backend>/<case>/<host>/.
// UPDATE_GOLDEN=1 rewrites them: read the diff against iptables-extensions(8)
// and nft(8) before committing it.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { backends } from "../src/backends/registry.js";
import { compile } from "../src/compile.js";
import { diskReader, STDLIB_DIR } from "../src/cli/disk-reader.js";
import { allPolicies, ROOT, rendered } from "./support/compile.js";

const GOLDEN = path.join(ROOT, "test/golden");
const update = process.env.UPDATE_GOLDEN === "1";
const policies = allPolicies().filter((p) => p.name !== "example-atlas-lab");
// the fixed XDP program is bpf-runtime/ itself (test/unit/xdp-maps.test.ts keeps
// the copy exact); apply.sh, SHA256SUMS and ir.json belong to the bundle, not a backend
const FIXED = new Set(["xdp/wgpc_xdp.c", "xdp/wgpc_xdp.h", "xdp/load.sh", "apply.sh", "SHA256SUMS", "ir.json"]);

describe.each(backends.map((b) => [b.name, b] as const))("golden output of %s", (name, backend) => {
  it.each(policies.map((p) => [p.name, p.file] as const))("%s", (caseName, file) => {
    const result = compile([file], diskReader, STDLIB_DIR, { targets: [backend] });
    expect(result.bundles, rendered(result)).toBeDefined();
    const dir = path.join(GOLDEN, name, caseName);
    const expected = new Set<string>();
    for (const bundle of result.bundles!) {
      for (const a of bundle.artifacts.filter((x) => !FIXED.has(x.path))) {
        const goldenFile = path.join(dir, bundle.host, a.path);
        expected.add(goldenFile);
        if (update) {
          fs.mkdirSync(path.dirname(goldenFile), { recursive: true });
          fs.writeFileSync(goldenFile, a.text);
        }
        expect(fs.existsSync(goldenFile), `missing golden ${goldenFile}`).toBe(true);
        expect(a.text, goldenFile).toBe(fs.readFileSync(goldenFile, "utf8"));
      }
    }
    // no stale golden files for hosts or artifacts that are gone
    const present = fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }) : [];
    for (const entry of present) {
      if (entry.isFile()) expect(expected.has(path.join(entry.parentPath, entry.name)), `stale ${entry.name}`).toBe(true);
    }
  });
});
