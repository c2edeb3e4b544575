// `wgpc explain FILE 'a -> b:svc'`: what the compiled policy does with some
// traffic, per enforcement point, with the deciding rule and the rules
// passed over on the way. The question is checked like an `expect`
// statement (same names, options and paths), then traced with the
// reference semantics.
import { loadPolicy, type FileReader } from "./syntax/load.js";
import { parseFlowQuery } from "./syntax/parse.js";
import type { Sources } from "./syntax/source.js";
import { checkPolicy } from "./check/check.js";
import type { CheckedPolicy } from "./check/model.js";
import { lowerHost } from "./ir/lower.js";
import { lowerEarly } from "./ir/early.js";
import { traces, type Trace } from "./ir/expect.js";
import type { Packet } from "./ir/evaluate.js";
import type { HostIr, IrRule } from "./ir/types.js";
import { formatBits } from "./net/address.js";
import { hasErrors, type Diagnostic } from "./diagnostics/diagnostic.js";

/** Distinct outcomes shown; the rest are counted. */
const MAX_PATHS = 24;
const MAX_PASSED_OVER = 8;

export interface RuleRef {
  readonly label: string;
  /** the policy line, or the name of an always-there rule */
  readonly text: string;
}

export interface HopExplanation {
  readonly host: string;
  /** `early`: the hub's XDP program dropped the packet before its firewall saw it */
  readonly hook: "input" | "forward" | "early";
  /** the interface of the XDP program, for an early drop */
  readonly device?: string;
  readonly family: 4 | 6;
  readonly verdict: string;
  readonly decidedBy: "rule" | "always-there rule" | "default";
  readonly rule?: RuleRef;
  /** policy rules of the chain looked at before the decision, that did not match */
  readonly passedOver: readonly RuleRef[];
  readonly morePassedOver: number;
}

export interface PathExplanation {
  readonly packet: {
    readonly family: 4 | 6;
    readonly source: string;
    readonly destination: string;
    readonly protocol: string;
    readonly port?: number;
    readonly icmpType?: number;
    readonly state: string;
  };
  /** the source is a VPN identity: the packet came through the tunnel */
  readonly viaVpn: boolean;
  readonly delivered: boolean;
  readonly hops: readonly HopExplanation[];
  /** other representative packets with exactly this outcome */
  readonly alike: number;
}

export interface Explanation {
  readonly query: string;
  readonly paths: readonly PathExplanation[];
  /** outcomes not shown */
  readonly more: number;
  readonly delivered: number;
  readonly refused: number;
}

export interface ExplainResult {
  readonly sources: Sources;
  readonly diagnostics: readonly Diagnostic[];
  readonly explanation?: Explanation;
}

function ruleRef(policy: CheckedPolicy, sources: Sources, rule: IrRule): RuleRef {
  const checked = rule.origin.kind === "policy" ? policy.rules.find((r) => r.origin.seq === rule.origin.seq) : undefined;
  if (!checked) return { label: rule.origin.label, text: rule.origin.label };
  const { line } = sources.position(checked.origin.span.file, checked.origin.span.start);
  return { label: checked.origin.label, text: sources.lineText(checked.origin.span.file, line).trim() };
}

function hopExplanation(policy: CheckedPolicy, sources: Sources, host: HostIr, hop: Trace["hops"][number]): HopExplanation {
  if (hop.early) {
    const drop = policy.earlyDrops.find((d) => d.origin.label === hop.early!.label);
    const rule = drop
      ? { label: drop.origin.label, text: sources.lineText(drop.origin.span.file, sources.position(drop.origin.span.file, drop.origin.span.start).line).trim() }
      : { label: hop.early.label, text: hop.early.label };
    return { host: hop.host, hook: "early", device: hop.early.iface, family: hop.packet.family, verdict: "drop", decidedBy: "rule", rule, passedOver: [], morePassedOver: 0 };
  }
  const chain = host.families[hop.packet.family].filter[hop.hook];
  const decider = hop.decision.rule;
  const before: RuleRef[] = [];
  const seen = new Set<number>();
  for (const rule of chain.sections.flatMap((s) => s.rules)) {
    if (rule === decider) break;
    if (rule.origin.kind !== "policy" || seen.has(rule.origin.seq) || rule.origin.seq === decider?.origin.seq) continue;
    seen.add(rule.origin.seq);
    before.push(ruleRef(policy, sources, rule));
  }
  return {
    host: hop.host,
    hook: hop.hook,
    family: hop.packet.family,
    verdict: hop.decision.verdict,
    decidedBy: !decider ? "default" : decider.origin.kind === "policy" ? "rule" : decider.origin.kind === "default" ? "default" : "always-there rule",
    rule: decider && decider.origin.kind !== "default" ? ruleRef(policy, sources, decider) : undefined,
    passedOver: before.slice(0, MAX_PASSED_OVER),
    morePassedOver: Math.max(0, before.length - MAX_PASSED_OVER),
  };
}

function packetOf(p: Packet): PathExplanation["packet"] {
  return {
    family: p.family,
    source: formatBits(p.family, p.saddr),
    destination: formatBits(p.family, p.daddr),
    protocol: p.proto,
    ...(p.dport !== undefined ? { port: p.dport } : {}),
    ...(p.icmpType !== undefined ? { icmpType: p.icmpType } : {}),
    state: p.ct,
  };
}

export function explain(paths: readonly string[], reader: FileReader, stdlibDir: string, question: string, limit = MAX_PATHS): ExplainResult {
  const loaded = loadPolicy(paths, reader, stdlibDir);
  const { sources } = loaded;
  if (hasErrors(loaded.diagnostics)) return { sources, diagnostics: loaded.diagnostics };
  const queryFile = sources.add("<question>", question);
  const parsed = parseFlowQuery(queryFile, question);
  if (!parsed.query || hasErrors(parsed.diagnostics)) return { sources, diagnostics: [...loaded.diagnostics, ...parsed.diagnostics] };
  const checked = checkPolicy([...loaded.files, { file: queryFile, statements: [parsed.query], comments: [] }], sources);
  // the policy's own warnings are `wgpc check`'s business; here only what stops the answer
  const errors = checked.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !checked.policy) return { sources, diagnostics: errors };
  const policy = checked.policy;
  const query = policy.expects.find((e) => e.span.file === queryFile)!;
  const hosts = [...policy.machines.keys()].sort().map((name) => lowerHost(policy, name, [], lowerEarly(policy, name).programs));
  const byName = new Map(hosts.map((h) => [h.name, h]));

  const outcomes = new Map<string, PathExplanation>();
  let delivered = 0;
  let refused = 0;
  for (const t of traces(policy, hosts, query)) {
    if (t.delivered) delivered++;
    else refused++;
    // a packet goes no further than the first machine that refuses it
    const refusedAt = t.hops.findIndex((h) => h.decision.verdict !== "accept");
    const reached = refusedAt < 0 ? t.hops : t.hops.slice(0, refusedAt + 1);
    const hops = reached.map((h) => hopExplanation(policy, sources, byName.get(h.host)!, h));
    const key = JSON.stringify([t.packet.family, t.packet.proto, t.packet.daddr.toString(), t.viaVpn, hops.map((h) => [h.host, h.hook, h.verdict, h.rule?.label])]);
    const known = outcomes.get(key);
    if (known) outcomes.set(key, { ...known, alike: known.alike + 1 });
    else outcomes.set(key, { packet: packetOf(t.packet), viaVpn: t.viaVpn, delivered: t.delivered, hops, alike: 0 });
  }
  const all = [...outcomes.values()];
  return {
    sources,
    diagnostics: [],
    explanation: { query: question.trim(), paths: all.slice(0, limit), more: Math.max(0, all.length - limit), delivered, refused },
  };
}

/** The explanation for people. */
export function renderExplanation(x: Explanation): string {
  const lines: string[] = [`${x.query}`];
  if (x.paths.length === 0) lines.push("", "no path: no machine of the policy has such an address, or the options exclude every path");
  for (const p of x.paths) {
    const pk = p.packet;
    const what = `${pk.protocol === "other" ? "other protocol" : pk.protocol}${pk.port !== undefined ? `/${pk.port}` : ""}${pk.icmpType !== undefined ? ` type ${pk.icmpType}` : ""}`;
    const alike = p.alike > 0 ? ` (and ${p.alike} similar packet${p.alike === 1 ? "" : "s"})` : "";
    lines.push("", `${p.delivered ? "delivered" : "refused"}: ${pk.source} → ${pk.destination} ${what}, IPv${pk.family}, state ${pk.state}${p.viaVpn ? ", over the VPN" : ""}${alike}`);
    for (const h of p.hops) {
      const by = h.decidedBy === "default" ? "the default" : h.decidedBy === "rule" ? `${h.rule!.label}  ${h.rule!.text}` : `the always-there \`${h.rule!.text}\` rule`;
      lines.push(`  ${h.host} ${h.hook === "early" ? `early (XDP on ${h.device})` : h.hook}: ${h.verdict} by ${by}`);
      for (const r of h.passedOver) lines.push(`      passed over ${r.label}  ${r.text}`);
      if (h.morePassedOver > 0) lines.push(`      passed over ${h.morePassedOver} more`);
    }
  }
  if (x.more > 0) lines.push("", `${x.more} more outcomes not shown (--format json shows all)`);
  lines.push("", `${x.delivered} path${x.delivered === 1 ? "" : "s"} delivered, ${x.refused} refused`);
  return `${lines.join("\n")}\n`;
}
