// One compile in a fresh process, so that peak memory is this compile's:
//   node bench/compile-one.mjs POLICY.wgp [--naive]
// prints {"stages": {...ms}, "totalMs", "maxRssMb", "hosts", "bytes"} as JSON.
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "../dist/src/compile.js";
import { backends } from "../dist/src/backends/registry.js";
import { diskReader } from "../dist/src/cli/disk-reader.js";
import { artifactLength } from "../dist/src/backends/shared/pieces.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const file = process.argv[2];
const started = performance.now();
const result = compile([file], diskReader, path.join(ROOT, "stdlib"), { targets: backends, compact: !process.argv.includes("--naive") });
const totalMs = performance.now() - started;
if (!result.bundles) {
  console.error(result.diagnostics.filter((d) => d.severity === "error").map((d) => d.message).join("\n"));
  process.exit(1);
}
const bytes = result.bundles.reduce((n, b) => n + b.artifacts.reduce((m, a) => m + artifactLength(a), 0), 0);
console.log(JSON.stringify({ stages: result.timings, totalMs, maxRssMb: process.resourceUsage().maxRSS / 1024, hosts: result.bundles.length, bytes }));
