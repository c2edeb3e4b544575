// Small IR passes shared by the lowering: merging matches that differ in one
// address set only, and dropping rules that repeat an earlier one.
import { formatPrefix, normalisePrefixes, type Prefix } from "../net/address.js";
import type { IrRule, Match, Verdict } from "./types.js";

// lists are shared among machines (see lower.ts): each is spelled once
const keys = new WeakMap<readonly Prefix[], string>();
function prefixesKey(ps: readonly Prefix[] | undefined): string {
  if (!ps) return "*";
  let key = keys.get(ps);
  if (key === undefined) keys.set(ps, (key = ps.map(formatPrefix).join(",")));
  return key;
}

/** A stable text key for a match: equal keys mean equal matches. */
export function matchKey(m: Match, without?: "saddr" | "daddr"): string {
  const l4 = m.l4
    ? m.l4.kind === "ports"
      ? `${m.l4.proto}:${m.l4.ports ? m.l4.ports.map((r) => `${r.low}-${r.high}`).join(",") : "*"}`
      : `${m.l4.proto}:${m.l4.types ? m.l4.types.join(",") : "*"}`
    : "*";
  return [
    m.iif ? `${m.iif.negate ? "!" : ""}${m.iif.name}` : "*",
    m.oif ? `${m.oif.negate ? "!" : ""}${m.oif.name}` : "*",
    without === "saddr" ? "-" : prefixesKey(m.saddr),
    without === "daddr" ? "-" : prefixesKey(m.daddr),
    l4,
    m.ctState ? m.ctState.join(",") : "*",
    m.hopLimit ?? "*",
  ].join("|");
}

/**
 * Joins matches that are equal but for one address set into one match with
 * the union of those sets (a match without the set matches every address
 * and absorbs the others).
 */
export function mergeMatchesBy(matches: readonly Match[], field: "saddr" | "daddr"): Match[] {
  const groups = new Map<string, Match[]>();
  for (const m of matches) {
    const key = matchKey(m, field);
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!;
    if (group.some((m) => m[field] === undefined)) return { ...first, [field]: undefined };
    return { ...first, [field]: normalisePrefixes(group.flatMap((m) => m[field]!)) };
  });
}

/** A stable text key for a verdict: equal keys mean equal verdicts. */
export const verdictKey = (v: Verdict): string => (v.kind === "reject" ? `reject:${v.with}` : v.kind);

/**
 * A rule equal to an earlier one can never decide a packet: it is set aside
 * (backends never see it; the analysis still knows the policy rule had it).
 */
export function splitRepeatedRules(rules: readonly IrRule[]): { kept: IrRule[]; repeats: IrRule[] } {
  const seen = new Set<string>();
  const kept: IrRule[] = [];
  const repeats: IrRule[] = [];
  for (const r of rules) {
    const key = `${matchKey(r.match)}=>${verdictKey(r.verdict)}`;
    (seen.has(key) ? repeats : kept).push(r);
    seen.add(key);
  }
  return { kept, repeats };
}
