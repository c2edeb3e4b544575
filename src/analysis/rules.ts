// Rule analysis on the IR, per machine, family and hook, exact over the
// packet space (src/analysis/space.ts):
//  - shadowed: the union of earlier rules (not only one) decides every packet
//    the rule matches, so it never decides; shown with the covering rules and
//    one packet each that they take first;
//  - redundant: every packet the rule decides would be decided the same way
//    by later rules, so removing it changes nothing;
//  - order decides: an earlier rule of the other verdict takes part of the
//    rule's traffic and is not simply an exception carved out of it.
// A policy rule is reported only when the finding holds on every machine
// where it has a place: a rule that decides somewhere is doing its job.
import { formatBits, type Family, type Prefix } from "../net/address.js";
import type { CheckedPolicy, CheckedRule } from "../check/model.js";
import { diagnostic, type Diagnostic, type RelatedNote } from "../diagnostics/diagnostic.js";
import type { Packet } from "../ir/evaluate.js";
import type { Chain, FilterHook, HostIr, IrRule } from "../ir/types.js";
import { boxesMeet, boxIntersect, BoxesBySource, ChainSpace, isEmptyBox, regionCovered, OTHER_INTERFACE, regionIntersect, regionSubtract, TooComplex, union, type Box, type Region } from "./space.js";

/** Chains longer than this are not analysed (the pairwise work grows with the square). */
export const MAX_ANALYSED_RULES = 1500;

interface View {
  readonly host: string;
  readonly family: Family;
  readonly hook: FilterHook;
  readonly space: ChainSpace;
  /** printed rules in order, each with its box */
  readonly rules: readonly { readonly rule: IrRule; readonly box: Box }[];
  readonly repeats: readonly { readonly rule: IrRule; readonly box: Box }[];
  readonly tail: readonly { readonly rule: IrRule; readonly box: Box }[];
  /** printed rules and repeats by policy seq */
  readonly bySeq: ReadonlyMap<number, readonly { readonly rule: IrRule; readonly box: Box }[]>;
  /** `rules` by source address: the ones that may meet a region */
  readonly index: BoxesBySource;
}

type Finding =
  | { readonly kind: "shadowed"; readonly view: View; readonly covers: readonly { readonly seq: number; readonly rule: IrRule; readonly witness: Packet }[] }
  | { readonly kind: "redundant"; readonly view: View; readonly later: readonly IrRule[] }
  | { readonly kind: "live"; readonly view: View; readonly overtaken: readonly { readonly rule: IrRule; readonly overlap: Box; readonly witness: Packet }[] };

const verdictKey = (r: IrRule) => (r.verdict.kind === "reject" ? "reject" : r.verdict.kind);
const admits = (r: IrRule) => r.verdict.kind === "accept";

function view(host: HostIr, own: readonly Prefix[], family: Family, hook: FilterHook, chain: Chain): View | undefined {
  const printed = chain.sections.flatMap((s) => s.rules);
  if (printed.length > MAX_ANALYSED_RULES) return undefined;
  const preferred = own.filter((p) => p.family === family).map((p) => p.bits);
  const space = new ChainSpace(family, hook, [...printed, ...chain.tail], preferred);
  const withBox = (rule: IrRule) => ({ rule, box: space.box(rule.match) });
  const rules = printed.map(withBox);
  const repeats = chain.sections.flatMap((s) => s.repeats ?? []).map(withBox);
  const bySeq = new Map<number, { rule: IrRule; box: Box }[]>();
  for (const r of [...rules, ...repeats]) bySeq.set(r.rule.origin.seq, [...(bySeq.get(r.rule.origin.seq) ?? []), r]);
  return { host: host.name, family, hook, space, rules, repeats, tail: chain.tail.map(withBox), bySeq, index: new BoxesBySource(rules.map((r) => r.box)) };
}

/** Packets of `region` left over after the given rules, in order. */
function remainder(region: Region, rules: readonly { readonly box: Box }[]): Box[] {
  let rest: Box[] = [...region];
  for (const r of rules) {
    if (rest.length === 0) break;
    rest = regionSubtract(rest, r.box);
  }
  return rest;
}

function analyseRule(v: View, seq: number): Finding | undefined {
  const mine = v.bySeq.get(seq);
  if (!mine) return undefined;
  const region = union(mine.map((r) => r.box).filter((b) => !isEmptyBox(b)));
  if (region.length === 0) return undefined;
  // the printed rules that may meet the region, in order
  const near = v.index.candidates(region).map((i) => v.rules[i]!);
  const earlier = near.filter((r) => r.rule.origin.seq < seq && region.some((b) => boxesMeet(b, r.box)));
  const effective = remainder(region, earlier);
  if (effective.length === 0) return { kind: "shadowed", view: v, covers: cover(v, region, earlier) };

  // redundant: later rules of the same verdict take all that this one decides
  let rest = effective;
  const later: IrRule[] = [];
  let redundant = true;
  for (const r of [...near.filter((x) => x.rule.origin.seq > seq), ...v.tail]) {
    if (!rest.some((b) => boxesMeet(b, r.box))) continue;
    const taken = regionIntersect(rest, r.box);
    if (taken.length === 0) continue;
    if (verdictKey(r.rule) !== verdictKey(mine[0]!.rule)) {
      redundant = false;
      break;
    }
    if (!later.some((l) => l.origin.seq === r.rule.origin.seq)) later.push(r.rule);
    rest = regionSubtract(rest, r.box);
    if (rest.length === 0) break;
  }
  if (redundant && rest.length === 0 && later.every((l) => l.origin.kind === "policy")) return { kind: "redundant", view: v, later };

  // order decides: an earlier rule of the other verdict takes part of this
  // one's traffic, and is not an exception inside it
  const overtaken: { rule: IrRule; overlap: Box; witness: Packet }[] = [];
  const bySeq = new Map<number, { rule: IrRule; box: Box }[]>();
  for (const r of earlier) if (r.rule.origin.kind === "policy") bySeq.set(r.rule.origin.seq, [...(bySeq.get(r.rule.origin.seq) ?? []), r]);
  for (const rules of bySeq.values()) {
    const first = rules[0]!.rule;
    if (admits(first) === admits(mine[0]!.rule)) continue;
    const theirs = union(rules.map((r) => r.box));
    if (regionCovered(theirs, mine.map((m) => m.box))) continue; // an exception carved out of this rule
    const before = v.rules.filter((r) => r.rule.origin.seq < first.origin.seq);
    const decided = remainder(theirs.flatMap((b) => regionIntersect(region, b)), before);
    const overlap = mine.flatMap((m) => rules.flatMap((r) => boxIntersect(m.box, r.box) ?? []))[0];
    if (decided.length > 0 && overlap) overtaken.push({ rule: first, overlap, witness: v.space.witness(decided[0]!) });
  }
  return { kind: "live", view: v, overtaken };
}

/**
 * The earlier rules that take the region, cut down to ones that are each
 * needed, with one packet each that it decides before the others.
 */
function cover(v: View, region: Region, earlier: readonly { readonly rule: IrRule; readonly box: Box }[]): { seq: number; rule: IrRule; witness: Packet }[] {
  let seqs = [...new Set(earlier.map((r) => r.rule.origin.seq))];
  for (const seq of [...seqs].reverse()) {
    const without = seqs.filter((s) => s !== seq);
    if (remainder(region, earlier.filter((r) => without.includes(r.rule.origin.seq))).length === 0) seqs = without;
  }
  // each one's packet is one that it really decides: past every rule before it
  return seqs.flatMap((seq) => {
    const rules = earlier.filter((r) => r.rule.origin.seq === seq);
    const reaching = remainder(rules.flatMap((r) => regionIntersect(region, r.box)), v.rules.filter((r) => r.rule.origin.seq < seq));
    return reaching.length > 0 ? [{ seq, rule: rules[0]!.rule, witness: v.space.witness(reaching[0]!) }] : [];
  });
}

export function describePacket(p: Packet): string {
  const port = p.dport !== undefined ? `:${p.dport}` : "";
  const icmp = p.icmpType !== undefined ? ` type ${p.icmpType}` : "";
  const named = (i: string | undefined) => (i === undefined || i === OTHER_INTERFACE ? undefined : i);
  const where = [named(p.iif) && `in on ${p.iif}`, named(p.oif) && `out on ${p.oif}`, p.ct !== "new" ? `state ${p.ct}` : undefined];
  const extra = where.filter((x) => x !== undefined).join(", ");
  return `${p.proto === "other" ? "" : `${p.proto} `}${formatBits(p.family, p.saddr)} → ${formatBits(p.family, p.daddr)}${port}${icmp}${extra ? ` (${extra})` : ""}`;
}

const place = (v: View) => `on \`${v.host}\` (${v.hook}, IPv${v.family})`;

function ruleName(r: IrRule): string {
  return r.origin.kind === "policy" ? `the rule at ${r.origin.label}` : `the always-there \`${r.origin.label}\` rule`;
}

function listNames(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

export function analyseRules(policy: CheckedPolicy, hosts: readonly HostIr[]): Diagnostic[] {
  const views: View[] = [];
  let skipped = false;
  for (const host of hosts) {
    for (const family of [4, 6] as const) {
      for (const hook of ["input", "forward"] as const) {
        const chain = host.families[family].filter[hook];
        const machine = policy.machines.get(host.name);
        const v = view(host, machine ? [...machine.physical, ...machine.overlay] : [], family, hook, chain);
        if (v) views.push(v);
        else skipped = true;
      }
    }
  }
  const bySeq = new Map<number, CheckedRule>(policy.rules.map((r) => [r.origin.seq, r]));
  const out: Diagnostic[] = [];
  for (const rule of policy.rules) {
    const findings: Finding[] = [];
    try {
      for (const v of views) {
        const f = analyseRule(v, rule.origin.seq);
        if (f) findings.push(f);
      }
    } catch (e) {
      if (e instanceof TooComplex) continue;
      throw e;
    }
    if (findings.length === 0) continue;
    const span = rule.origin.span;
    const shadowed = findings.filter((f) => f.kind === "shadowed");
    if (shadowed.length === findings.length) {
      const f = shadowed[0]!;
      const related: RelatedNote[] = [];
      const baseline: string[] = [];
      for (const c of f.covers) {
        const covering = bySeq.get(c.seq);
        const what = `takes ${describePacket(c.witness)} ${place(f.view)} first`;
        if (covering) related.push({ message: `this rule ${what}`, span: covering.origin.span });
        else baseline.push(`${ruleName(c.rule)} ${what}`);
      }
      out.push(
        diagnostic("rule-shadowed", { covers: listNames(f.covers.map((c) => ruleName(c.rule))) }, span, {
          related,
          help: `${baseline.length > 0 ? `${baseline.join("; ")}; ` : ""}remove this rule, or move it above the rules that cover it`,
        }),
      );
      continue;
    }
    const redundant = findings.filter((f) => f.kind === "redundant");
    if (redundant.length > 0 && redundant.length + shadowed.length === findings.length) {
      const f = redundant[0]!;
      out.push(
        diagnostic("rule-redundant", { later: listNames(f.later.map(ruleName)) }, span, {
          related: f.later.flatMap((l) => {
            const r = bySeq.get(l.origin.seq);
            return r ? [{ message: "decides the same traffic the same way", span: r.origin.span }] : [];
          }),
          help: "removing this rule changes no packet's fate",
        }),
      );
      continue;
    }
    const noted = new Set<number>();
    for (const f of findings) {
      if (f.kind !== "live") continue;
      for (const o of f.overtaken) {
        if (noted.has(o.rule.origin.seq)) continue;
        noted.add(o.rule.origin.seq);
        const earlier = bySeq.get(o.rule.origin.seq);
        out.push(
          diagnostic("order-decides", { earlier: ruleName(o.rule), verb: earlier?.verb ?? o.rule.verdict.kind, overlap: `${f.view.space.describe(o.overlap)} ${place(f.view)}` }, span, {
            related: earlier ? [{ message: `takes e.g. ${describePacket(o.witness)} first`, span: earlier.origin.span }] : [],
          }),
        );
      }
    }
  }
  if (skipped) out.push(diagnostic("analysis-skipped", { limit: MAX_ANALYSED_RULES }));
  return out;
}
