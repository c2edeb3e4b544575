// Fuzzing the front end: token soups and mutated valid policies through the
// whole compile. Nothing may throw; every diagnostic must point inside its
// file and render as `file:line:col`; errors and bundles exclude each other.
// Seeded (WGPC_SEED, default 8; WGPC_PATH) and sized (WGPC_SOUPS, WGPC_MUTATIONS);
// `npm run test:deep` sets WGPC_DEEP: ten times the cases and a random,
// printed seed. docs/fuzzing.md says how to replay a failure.
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile, type CompileResult } from "../../src/compile.js";
import type { FileReader } from "../../src/syntax/load.js";
import type { Span } from "../../src/syntax/ast.js";
import { diskReader, STDLIB_DIR } from "../../src/cli/disk-reader.js";
import { backends } from "../../src/backends/registry.js";
import { catalogue } from "../../src/diagnostics/catalogue.js";
import { hasErrors } from "../../src/diagnostics/diagnostic.js";
import { renderText, toJson } from "../../src/diagnostics/render.js";
import { mutatedPolicy, tokenSoup } from "../support/fuzz-arbitraries.js";
import { breather } from "../support/run-async.js";

const deep = process.env.WGPC_DEEP === "1";
const seed = Number(process.env.WGPC_SEED ?? (deep ? Math.floor(Math.random() * 2 ** 31) : 8));
const soups = Number(process.env.WGPC_SOUPS ?? (deep ? 60_000 : 6000));
const mutations = Number(process.env.WGPC_MUTATIONS ?? (deep ? 40_000 : 4000));
// fast-check's `path` of a failure replays it directly (with -t to pick its test)
const replay = process.env.WGPC_PATH ? { path: process.env.WGPC_PATH } : {};
// the backends run only when the policy is valid, so they cost little here (all of them on every
// case: +15% time); one case in four keeps most of that and still reaches every target
const withBackends = fc.integer({ min: 0, max: 3 }).map((n) => n === 0);

const POLICY = "/fuzz/policy.wgp";
const INTERNAL_ERROR = catalogue["internal-error"].code;
const stdlibText = new Map<string, ReturnType<FileReader["read"]>>();

/** The policy from memory; imports reach only wgpc's stdlib, read once. */
function memoryReader(text: string): FileReader {
  const inStdlib = (p: string) => p.startsWith(STDLIB_DIR + path.sep) && diskReader.exists(p);
  return {
    read(p) {
      if (p === POLICY) return { text };
      if (!inStdlib(p)) return { error: "no such file" };
      if (!stdlibText.has(p)) stdlibText.set(p, diskReader.read(p));
      return stdlibText.get(p)!;
    },
    exists: (p) => p === POLICY || inStdlib(p),
    canonical: (p) => path.resolve(p),
  };
}

/** Line and column of an offset, computed apart from `Sources` so that the two check each other. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const lines = text.slice(0, offset).split(/\r\n|\r|\n/);
  return { line: lines.length, column: [...lines[lines.length - 1]!].length + 1 };
}

const splitsPair = (text: string, offset: number) =>
  /[\ud800-\udbff]/.test(text[offset - 1] ?? "") && /[\udc00-\udfff]/.test(text[offset] ?? "");

function spanProblems(result: CompileResult, span: Span): string[] {
  const file = result.sources.all()[span.file];
  if (!file) return [`span in file #${span.file}, which does not exist`];
  const { text } = file;
  if (!(Number.isInteger(span.start) && Number.isInteger(span.end) && 0 <= span.start && span.start <= span.end && span.end <= text.length)) {
    return [`span ${span.start}-${span.end} is outside ${file.path} (${text.length} characters)`];
  }
  const problems: string[] = [];
  for (const at of [span.start, span.end]) if (splitsPair(text, at)) problems.push(`span edge ${at} splits a surrogate pair`);
  const lineLengths = text.split(/\r\n|\r|\n/).map((l) => [...l].length);
  for (const at of [span.start, span.end]) {
    const got = result.sources.position(span.file, at);
    const want = lineColumn(text, at);
    if (got.line !== want.line || got.column !== want.column) {
      problems.push(`offset ${at} is at ${got.line}:${got.column} for Sources, ${want.line}:${want.column} counted apart`);
    }
    if (got.line < 1 || got.line > lineLengths.length || got.column < 1 || got.column > lineLengths[got.line - 1]! + 1) {
      problems.push(`offset ${at} renders as ${got.line}:${got.column}, outside the file's ${lineLengths.length} lines`);
    }
  }
  return problems;
}

/** The caret line under the source line: indented to the start, one `^` per character of the span's first line. */
function caretProblem(text: string, span: Span, rendered: string): string | undefined {
  const caret = rendered.split("\n")[3]?.match(/^ *\| ( *)(\^+)$/);
  const lineEnd = span.start + text.slice(span.start).search(/[\r\n]|$/);
  const width = Math.max(1, [...text.slice(span.start, Math.min(span.end, lineEnd))].length);
  const indent = lineColumn(text, span.start).column - 1;
  if (caret?.[1]!.length === indent && caret[2]!.length === width) return undefined;
  return `the caret should be ${width} wide after ${indent} columns:\n${rendered}`;
}

/** Everything wrong with one compile of `text`; empty when the front end behaved. */
function frontEndProblems(text: string, targets: boolean): string[] {
  let result: CompileResult;
  try {
    result = compile([POLICY], memoryReader(text), STDLIB_DIR, { targets: targets ? backends : [] });
  } catch (e) {
    return [`compile threw: ${(e as Error).stack ?? String(e)}`];
  }
  const problems: string[] = [];
  for (const d of result.diagnostics) {
    const what = `${d.code} (${d.message})`;
    if (d.code === INTERNAL_ERROR) problems.push(`internal error: ${what}`);
    if (!d.span) {
      problems.push(`${what} has no position`);
      continue;
    }
    for (const span of [d.span, ...d.related.map((r) => r.span)]) problems.push(...spanProblems(result, span).map((p) => `${what}: ${p}`));
    if (problems.length > 0) continue;
    try {
      const rendered = renderText(result.sources, d);
      const { line, column } = lineColumn(result.sources.get(d.span.file).text, d.span.start);
      const where = `${result.sources.get(d.span.file).path}:${line}:${column}`;
      if (!rendered.includes(where)) problems.push(`${what} renders without \`${where}\`:\n${rendered}`);
      const caret = caretProblem(result.sources.get(d.span.file).text, d.span, rendered);
      if (caret) problems.push(`${what}: ${caret}`);
      toJson(result.sources, d);
    } catch (e) {
      problems.push(`rendering ${what} threw: ${(e as Error).stack ?? String(e)}`);
    }
  }
  if (hasErrors(result.diagnostics) && result.bundles) problems.push("bundles despite errors");
  if (!hasErrors(result.diagnostics) && (!result.bundles || !result.policy)) problems.push("no error, and no bundles either");
  return problems;
}

function assertSound(text: string, targets: boolean, context = ""): void {
  const problems = frontEndProblems(text, targets);
  if (problems.length > 0) throw new Error(`${problems.join("\n")}\n${context}--- policy.wgp (as a JS string) ---\n${JSON.stringify(text)}`);
}

describe("fuzzing the front end", () => {
  console.log(`fuzz: seed ${seed} (reproduce with WGPC_SEED=${seed} WGPC_SOUPS=${soups} WGPC_MUTATIONS=${mutations})`);

  it(`token soups: no crash, every diagnostic positioned (seed ${seed}, ${soups} cases)`, { timeout: deep ? 30 * 60_000 : 120_000 }, async () => {
    const breathe = breather();
    await fc.assert(
      fc.asyncProperty(tokenSoup, withBackends, async (text, targets) => {
        await breathe();
        assertSound(text, targets);
      }),
      { seed, numRuns: soups, ...replay },
    );
  });

  it(`mutated valid policies: no crash, every diagnostic positioned (seed ${seed + 1}, ${mutations} cases)`, { timeout: deep ? 30 * 60_000 : 120_000 }, async () => {
    const breathe = breather();
    await fc.assert(
      fc.asyncProperty(mutatedPolicy, withBackends, async (m, targets) => {
        await breathe();
        assertSound(m.text, targets, `from ${m.origin} with ${JSON.stringify(m.mutations)}\n`);
      }),
      { seed: seed + 1, numRuns: mutations, ...replay },
    );
  });

  it("the generators are not vacuous: many cases get past the parser, some compile", () => {
    const outcomes = (texts: string[]) =>
      texts.map((t) => {
        const { diagnostics } = compile([POLICY], memoryReader(t), STDLIB_DIR, { targets: [] });
        // codes below E0200 are the reader's, the lexer's and the parser's
        return !hasErrors(diagnostics) ? "valid" : diagnostics.some((d) => d.code >= "E0200") ? "checked" : "refused early";
      });
    const count = (xs: string[], ...of: string[]) => xs.filter((x) => of.includes(x)).length;
    const soupOutcomes = outcomes(fc.sample(tokenSoup, { seed, numRuns: 500 }));
    const mutantOutcomes = outcomes(fc.sample(mutatedPolicy, { seed, numRuns: 500 }).map((m) => m.text));
    console.log(
      `fuzz: of 500 soups ${count(soupOutcomes, "checked")} reach the checker with an error, ${count(soupOutcomes, "valid")} compile; ` +
        `of 500 mutants ${count(mutantOutcomes, "checked")} and ${count(mutantOutcomes, "valid")}`,
    );
    expect(count(soupOutcomes, "checked", "valid")).toBeGreaterThan(50);
    expect(count(mutantOutcomes, "checked", "valid")).toBeGreaterThan(100);
    expect(count(mutantOutcomes, "valid")).toBeGreaterThan(25);
  });
});
