// Helpers of the formatter's tests: ASTs without positions, compiles of a
// text standing in for one file, and messy spellings of generated policies.
import * as path from "node:path";
import fc from "fast-check";
import { compile } from "../../src/compile.js";
import { diskReader, STDLIB_DIR } from "../../src/cli/disk-reader.js";
import type { Backend } from "../../src/backends/types.js";
import type { FileReader } from "../../src/syntax/load.js";
import { parsePolicy } from "../../src/syntax/parse.js";
import { canonicalAddress, canonicalRateOrSize } from "../../src/format/canonical.js";
import { normaliseLineEnds } from "../../src/format/format.js";
import { policyText } from "../support/arbitraries.js";

const RATE_OR_SIZE = new Set(["rate", "ceil", "burst"]);

/** The AST as data: no spans, addresses and units in their canonical spelling, comments by text. */
export function astShape(text: string): unknown {
  const parsed = parsePolicy(0, normaliseLineEnds(text));
  if (!parsed.ast) throw new Error(`does not parse: ${JSON.stringify(parsed.diagnostics)}`);
  const walk = (value: unknown, key?: string): unknown => {
    if (Array.isArray(value)) return value.map((v) => walk(v));
    if (value === null || typeof value !== "object") return value;
    const node = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === "span" || k === "verbSpan" || v === undefined) continue;
      out[k] = walk(v, k);
    }
    if (node.kind === "address") out.text = canonicalAddress(node.text as string);
    if (node.hostKind === "ipv6") out.host = { text: canonicalAddress((node.host as { text: string }).text) };
    if (key !== undefined && RATE_OR_SIZE.has(key) && typeof out.text === "string") out.text = canonicalRateOrSize(out.text);
    return out;
  };
  return { statements: walk(parsed.ast.statements), comments: parsed.ast.comments.map((c) => c.text.trimEnd()) };
}

/** Compiles `text` as if it were the file at `file` (its imports from disk as usual). */
export function compileAs(file: string, text: string, targets: readonly Backend[]) {
  const reader: FileReader = {
    read: (p) => (path.resolve(p) === path.resolve(file) ? { text } : diskReader.read(p)),
    exists: (p) => path.resolve(p) === path.resolve(file) || diskReader.exists(p),
    canonical: (p) => (path.resolve(p) === path.resolve(file) ? path.resolve(file) : diskReader.canonical(p)),
  };
  return compile([file], reader, STDLIB_DIR, { targets });
}

/**
 * ir.json quotes each rule's source line (position and text) for diagnostics
 * on the machine: layout, which formatting changes; only the file is kept.
 */
function withoutSourceLayout(artifact: { path: string; text: string }): string {
  if (artifact.path !== "ir.json") return artifact.text;
  const value = JSON.parse(artifact.text) as { sources: Record<string, { path: string }> };
  const files = Object.values(value.sources).map((s) => s.path).sort();
  return JSON.stringify({ ...value, sources: files });
}

/** Every artifact of every host, with references to source lines (`policy.wgp:12`) blanked. */
export function bundleText(result: ReturnType<typeof compileAs>): string {
  if (!result.bundles) return `no bundles: ${result.diagnostics.map((d) => d.slug).join(", ")}`;
  return result.bundles
    // SHA256SUMS hashes the other files, line references included: derived, left out
    .flatMap((b) => b.artifacts.filter((a) => a.path !== "SHA256SUMS").map((a) => `== ${b.host}/${a.path}\n${withoutSourceLayout(a).replace(/([\w.-]+\.wgp):\d+/g, "$1:LINE")}`))
    .join("\n");
}

/**
 * A generated policy spelt untidily, line by line: runs of spaces, comments
 * after and before lines, empty lines, upper-case IPv6, statements split over
 * lines with a comment inside, CRLF line ends.
 */
export const messyPolicyText: fc.Arbitrary<string> = fc
  .tuple(policyText, fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 16, maxLength: 16 }))
  .map(([text, choices]) =>
    text
      .split("\n")
      .map((line, i) => {
        switch (line === "" ? 0 : choices[i % choices.length]) {
          case 1:
            return line.replace(/ /g, "   ");
          case 2:
            return `${line}   # after ${i}`;
          case 3:
            return `\n\n\n${line}`;
          case 4:
            return `# before ${i}\n${line}`;
          case 5:
            return line.replace(/\b(?:2001|fd00)[0-9a-f:]*/g, (a) => a.toUpperCase());
          case 6:
            return line.replace(" -> ", " # inside\n    -> ");
          case 7:
            return `${line}\r`;
          case 8:
            return `\t${line}`;
          default:
            return line;
        }
      })
      .join("\n"),
  );
