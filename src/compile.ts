// The pipeline, end to end, without touching the disk for output:
// load (syntax) → check → IR → backends. The CLI wires this to files.
import { loadPolicy, type FileReader } from "./syntax/load.js";
import type { Sources } from "./syntax/source.js";
import { checkPolicy } from "./check/check.js";
import type { CheckedPolicy } from "./check/model.js";
import { lowerHost } from "./ir/lower.js";
import { lowerShaping } from "./ir/shaping.js";
import { lowerEarly } from "./ir/early.js";
import type { HostIr } from "./ir/types.js";
import { evaluateExpectations } from "./ir/expect.js";
import { analyse } from "./analysis/analyse.js";
import type { Artifact, Backend } from "./backends/types.js";
import { diagnostic, hasErrors, type Diagnostic } from "./diagnostics/diagnostic.js";
import { VERSION } from "./version.js";
import { withApplyScript } from "./bundle/apply-script.js";
import { IR_FILE, inputIrPieces, type RuleSource } from "./ir/serialize.js";
import { artifact } from "./backends/shared/pieces.js";

export interface HostBundle {
  readonly host: string;
  readonly artifacts: readonly Artifact[];
}

export interface CompileResult {
  readonly sources: Sources;
  readonly diagnostics: readonly Diagnostic[];
  readonly policy?: CheckedPolicy;
  readonly hosts?: readonly HostIr[];
  /** absent when there is any error */
  readonly bundles?: readonly HostBundle[];
  /** milliseconds per stage, for the benchmark (stages not reached are absent) */
  readonly timings: Partial<Record<Stage, number>>;
}

export type Stage = "parse" | "check" | "lower" | "analyse" | "emit";

export interface CompileOptions {
  readonly targets: readonly Backend[];
  /** leaf qdisc of shaping classes (wgpc.toml `leaf_qdisc`), fq_codel by default */
  readonly leafQdisc?: string;
  /** only these machines (all when absent) */
  readonly hosts?: readonly string[];
  /** false: the naive one-rule-per-line output (see EmitContext) */
  readonly compact?: boolean;
}

/** Warns about rules that end up on no machine at all. */
function unenforcedRules(policy: CheckedPolicy, hosts: readonly HostIr[]): Diagnostic[] {
  const used = new Set(hosts.flatMap((h) => [...h.placed]));
  return policy.rules
    .filter((r) => !used.has(r.origin.seq))
    .map((r) => diagnostic("rule-enforced-nowhere", {}, r.origin.span));
}

/** Each policy rule's first line, by its label, for diagnostics on the machines (ir.json). */
function ruleSourcesOf(policy: CheckedPolicy, sources: Sources): Map<string, RuleSource> {
  const out = new Map<string, RuleSource>();
  for (const { origin } of [...policy.rules, ...policy.earlyDrops]) {
    if (out.has(origin.label)) continue;
    const { line, column } = sources.position(origin.span.file, origin.span.start);
    // a rule on a very long line (a long literal list) is shown by its first 240 characters
    const chars = [...sources.lineText(origin.span.file, line)];
    const text = chars.length > 240 ? `${chars.slice(0, 240).join("")}…` : chars.join("");
    const spanChars = [...sources.get(origin.span.file).text.slice(origin.span.start, Math.min(origin.span.end, origin.span.start + 1000))].length;
    const length = Math.max(1, Math.min(Math.min(chars.length, 240) - column + 1, spanChars));
    out.set(origin.label, { path: origin.label.slice(0, origin.label.lastIndexOf(":")), line, column, length, text });
  }
  return out;
}

export function compile(paths: readonly string[], reader: FileReader, stdlibDir: string, options: CompileOptions): CompileResult {
  const timings: Partial<Record<Stage, number>> = {};
  const timed = <T>(stage: Stage, run: () => T): T => {
    const started = performance.now();
    try {
      return run();
    } finally {
      timings[stage] = (timings[stage] ?? 0) + performance.now() - started;
    }
  };
  const loaded = timed("parse", () => loadPolicy(paths, reader, stdlibDir));
  const { sources } = loaded;
  if (hasErrors(loaded.diagnostics)) return { sources, diagnostics: loaded.diagnostics, timings };
  const checked = timed("check", () => checkPolicy(loaded.files, sources));
  const diagnostics = [...loaded.diagnostics, ...checked.diagnostics];
  if (hasErrors(diagnostics) || !checked.policy) return { sources, diagnostics, timings };
  const policy = checked.policy;
  for (const name of options.hosts ?? []) {
    if (!policy.machines.has(name)) diagnostics.push(diagnostic("unknown-host-selected", { name }));
  }
  if (hasErrors(diagnostics)) return { sources, diagnostics, timings };
  // every host is lowered (expectations look at the whole path); only the selected are emitted
  const hosts = timed("lower", () =>
    [...policy.machines.keys()].sort().map((name) => {
      const shaping = lowerShaping(policy, name, { leafQdisc: options.leafQdisc ?? "fq_codel" });
      const early = lowerEarly(policy, name);
      diagnostics.push(...shaping.diagnostics, ...early.diagnostics);
      return lowerHost(policy, name, shaping.devices, early.programs);
    }),
  );
  if (hasErrors(diagnostics)) return { sources, diagnostics, policy, timings };
  timed("analyse", () =>
    diagnostics.push(
      ...unenforcedRules(policy, hosts),
      ...analyse(policy, hosts, { inPolicy: (file) => paths.includes(sources.get(file).path) }),
      ...evaluateExpectations(policy, hosts),
    ),
  );
  if (hasErrors(diagnostics)) return { sources, diagnostics, policy, hosts, timings };
  const selected = options.hosts ? hosts.filter((h) => options.hosts!.includes(h.name)) : hosts;
  const context = { version: VERSION, compact: options.compact };
  const ruleSources = ruleSourcesOf(policy, sources);
  const bundles = timed("emit", () =>
    selected.map((host) =>
      withApplyScript(
        // ir.json: what wgpc apply's lockout check evaluates on the machine
        { host: host.name, artifacts: [...options.targets.flatMap((b) => b.emit(host, context)), artifact(IR_FILE, inputIrPieces(host, ruleSources))] },
        policy.vpn?.hub === host.name,
      ),
    ),
  );
  return { sources, diagnostics, policy, hosts, bundles, timings };
}
