// Test helpers: compile policies from disk or from a string, with every backend.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compile, type CompileResult } from "../../src/compile.js";
import { diskReader, STDLIB_DIR } from "../../src/cli/disk-reader.js";
import { backends } from "../../src/backends/registry.js";
import { renderText } from "../../src/diagnostics/render.js";

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");

export function compileFiles(paths: string[]): CompileResult {
  return compile(paths, diskReader, STDLIB_DIR, { targets: backends });
}

/** Compiles policy text as if it were the file `policy.wgp`. */
export function compileText(text: string): CompileResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-test-"));
  try {
    const file = path.join(dir, "policy.wgp");
    fs.writeFileSync(file, text);
    return compileFiles([file]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function rendered(result: CompileResult): string {
  return result.diagnostics.map((d) => renderText(result.sources, d)).join("\n");
}

export function artifact(result: CompileResult, host: string, file: string): string {
  const bundle = result.bundles?.find((b) => b.host === host);
  const found = bundle?.artifacts.find((a) => a.path === file);
  if (!found) throw new Error(`no ${file} for ${host}: ${rendered(result)}`);
  return found.text;
}

/** Every policy the suites compile: the examples and test/cases. */
export function allPolicies(): { name: string; file: string }[] {
  const cases = fs
    .readdirSync(path.join(ROOT, "test/cases"))
    .filter((f) => f.endsWith(".wgp"))
    .sort()
    .map((f) => ({ name: f.replace(/\.wgp$/, ""), file: path.join(ROOT, "test/cases", f) }));
  const examples = fs
    .readdirSync(path.join(ROOT, "examples"))
    .filter((d) => fs.existsSync(path.join(ROOT, "examples", d, "policy.wgp")))
    .sort()
    .map((d) => ({ name: `example-${d}`, file: path.join(ROOT, "examples", d, "policy.wgp") }));
  return [...examples, ...cases];
}

/** Compiles policy text from memory (no disk; imports resolve to nothing). */
export function compileSource(text: string): CompileResult {
  const reader = {
    read: (p: string) => (p === "policy.wgp" ? { text } : { error: "no such file" }),
    exists: (p: string) => p === "policy.wgp",
    canonical: (p: string) => p,
  };
  return compile(["policy.wgp"], reader, STDLIB_DIR, { targets: backends });
}
