// Order-preserving compaction: rules with the same verdict that stand
// together and differ only in one address field and the destination port
// become one lookup in a set of (address . port) elements, so the kernel
// does one set lookup for them instead of walking them rule by rule.
//
// Why this keeps first-match meaning: within a block of neighbouring rules
// with one verdict, which rule matches first does not matter, only whether
// one does; and no rule ever moves out of its block, past a rule with
// another verdict.
import { containsAddress, familyWidth, formatPrefix, normalisePrefixes, prefixContains, type Family, type Prefix } from "../net/address.js";
import { normalisePortRanges, type PortProto, type PortRange } from "../net/services.js";
import { matches, type Packet } from "./evaluate.js";
import { matchKey } from "./passes.js";
import type { IrRule, Match, Verdict } from "./types.js";

export type KeyAddress = "saddr" | "daddr";

export interface LookupElement {
  readonly address: Prefix;
  /** present when the lookup's key has the destination port */
  readonly ports?: PortRange;
}

/** One set lookup standing for a run of rules with one verdict. */
export interface Lookup {
  readonly kind: "lookup";
  readonly family: Family;
  /** what every rule of the run matches besides the key (never the key's address field or ports) */
  readonly common: Match;
  readonly address: KeyAddress;
  /** the protocol whose destination port is part of the key, if it is */
  readonly portProto?: PortProto;
  /** pairwise disjoint (nft refuses an element inside another), sorted */
  readonly elements: readonly LookupElement[];
  readonly verdict: Verdict;
  /** the rules the lookup stands for, in policy order */
  readonly rules: readonly IrRule[];
}

export type CompactItem = { readonly kind: "rule"; readonly rule: IrRule } | Lookup;

/**
 * Runs shorter than this stay rules: a few rules cost the kernel little, and
 * as rules they keep their own comments and read as the policy does.
 */
export const MIN_RUN = 4;

const verdictKey = (v: Verdict) => (v.kind === "reject" ? `reject:${v.with}` : v.kind);

interface Shape {
  readonly address: KeyAddress;
  readonly portProto?: PortProto;
  /** equal keys: the rules can share one lookup */
  readonly key: string;
}

/** How a rule would sit in a lookup keyed on `address`. */
function shapeOf(rule: IrRule, address: KeyAddress): Shape {
  const m = rule.match;
  // ICMP type lists and whole-protocol matches stay in `common`; only port lists join the key
  const portProto = m.l4?.kind === "ports" && m.l4.ports !== null ? m.l4.proto : undefined;
  const common = commonPart(m, address);
  return { address, portProto, key: `${address}|${portProto ?? "-"}|${matchKey(common)}=>${verdictKey(rule.verdict)}` };
}

function commonPart(m: Match, address: KeyAddress): Match {
  const { [address]: _keyed, ...rest } = m;
  if (m.l4?.kind === "ports" && m.l4.ports !== null) {
    const { l4: _l4, ...withoutL4 } = rest;
    return withoutL4;
  }
  return rest;
}

const everything = (family: Family): Prefix => ({ family, bits: 0n, length: 0 });

function ruleElements(rule: IrRule, address: KeyAddress, family: Family): LookupElement[] {
  const m = rule.match;
  const addresses = m[address] ?? [everything(family)];
  const ports = m.l4?.kind === "ports" && m.l4.ports !== null ? m.l4.ports : undefined;
  return addresses.flatMap((a) => (ports ? ports.map((p) => ({ address: a, ports: p })) : [{ address: a }]));
}

/** `ranges` minus `cut`, both sorted and disjoint. */
function subtractRanges(ranges: readonly PortRange[], cut: readonly PortRange[]): PortRange[] {
  let out = [...ranges];
  for (const c of cut) {
    out = out.flatMap((r) => {
      if (c.high < r.low || c.low > r.high) return [r];
      const pieces: PortRange[] = [];
      if (r.low < c.low) pieces.push({ low: r.low, high: c.low - 1 });
      if (r.high > c.high) pieces.push({ low: c.high + 1, high: r.high });
      return pieces;
    });
  }
  return out;
}

/**
 * The same packets as `elements`, as disjoint elements: prefixes either nest
 * or are apart, so an element keeps only the ports that no element on a
 * containing prefix already has.
 */
export function disjointElements(elements: readonly LookupElement[], family: Family): LookupElement[] {
  if (elements.every((e) => e.ports === undefined)) {
    return normalisePrefixes(elements.map((e) => e.address)).map((address) => ({ address }));
  }
  const byPrefix = new Map<string, { address: Prefix; ports: PortRange[] }>();
  for (const e of elements) {
    const key = formatPrefix(e.address);
    const entry = byPrefix.get(key) ?? { address: e.address, ports: [] };
    entry.ports.push(e.ports!);
    byPrefix.set(key, entry);
  }
  // ancestors are looked up by length: only lengths present can hold one
  const lengths = [...new Set([...byPrefix.values()].map((e) => e.address.length))].sort((a, b) => a - b);
  const width = familyWidth(family);
  const merged = new Map([...byPrefix].map(([k, e]) => [k, normalisePortRanges(e.ports)]));
  const out: LookupElement[] = [];
  for (const [key, { address }] of byPrefix) {
    let ports = merged.get(key)!;
    for (const length of lengths) {
      if (length >= address.length) break;
      const bits = address.bits & ~((1n << BigInt(width - length)) - 1n);
      const ancestor = { family, bits, length };
      const above = merged.get(formatPrefix(ancestor));
      if (above && prefixContains(ancestor, address)) ports = subtractRanges(ports, above);
    }
    for (const p of ports) out.push({ address, ports: p });
  }
  return out.sort((a, b) => (a.address.bits < b.address.bits ? -1 : a.address.bits > b.address.bits ? 1 : a.address.length - b.address.length || a.ports!.low - b.ports!.low));
}

function lookupOf(run: readonly IrRule[], shape: Shape, family: Family): Lookup {
  const first = run[0]!;
  const elements = disjointElements(run.flatMap((r) => ruleElements(r, shape.address, family)), family);
  return {
    kind: "lookup",
    family,
    common: commonPart(first.match, shape.address),
    address: shape.address,
    portProto: shape.portProto,
    elements,
    verdict: first.verdict,
    rules: run,
  };
}

/**
 * Compacts one chain section of one family. Consecutive rules with one
 * verdict form a block; inside a block the order of rules does not matter
 * (any of them that matches gives the same verdict), so the rules of each
 * shape, keyed on the source address and else on the destination, become
 * one lookup where there are at least `minRun` of them. A lookup takes the
 * place of its first rule; blocks never mix.
 */
export function compactRules(rules: readonly IrRule[], family: Family, minRun = MIN_RUN): CompactItem[] {
  const out: CompactItem[] = [];
  let start = 0;
  for (let i = 1; i <= rules.length; i++) {
    if (i < rules.length && verdictKey(rules[i]!.verdict) === verdictKey(rules[start]!.verdict)) continue;
    out.push(...compactBlock(rules.slice(start, i), family, minRun));
    start = i;
  }
  return out;
}

function compactBlock(block: readonly IrRule[], family: Family, minRun: number): CompactItem[] {
  if (block.length < minRun) return block.map((rule) => ({ kind: "rule", rule }));
  const lookupAt = new Map<number, Lookup>();
  const taken = new Set<number>();
  for (const address of ["saddr", "daddr"] as const) {
    const groups = new Map<string, { shape: Shape; members: number[] }>();
    block.forEach((rule, index) => {
      if (taken.has(index)) return;
      const shape = shapeOf(rule, address);
      const group = groups.get(shape.key) ?? { shape, members: [] };
      group.members.push(index);
      groups.set(shape.key, group);
    });
    for (const { shape, members } of groups.values()) {
      if (members.length < minRun) continue;
      lookupAt.set(members[0]!, lookupOf(members.map((m) => block[m]!), shape, family));
      for (const m of members) taken.add(m);
    }
  }
  return block.flatMap((rule, index): CompactItem[] => {
    const lookup = lookupAt.get(index);
    if (lookup) return [lookup];
    return taken.has(index) ? [] : [{ kind: "rule", rule }];
  });
}

/** The reference semantics of a lookup: does it match the packet? */
export function lookupMatches(lookup: Lookup, p: Packet): boolean {
  if (p.family !== lookup.family || !matches(lookup.common, p)) return false;
  if (lookup.portProto && (p.proto !== lookup.portProto || p.dport === undefined)) return false;
  const address = p[lookup.address];
  return lookup.elements.some(
    (e) => containsAddress(e.address, p.family, address) && (!e.ports || (e.ports.low <= p.dport! && p.dport! <= e.ports.high)),
  );
}

/** First match over compacted items, as the kernel walks them: the verdict and the rules it stands for. */
export function firstCompactMatch(items: readonly CompactItem[], p: Packet): { verdict: Verdict; rules: readonly IrRule[] } | undefined {
  for (const item of items) {
    if (item.kind === "rule" ? matches(item.rule.match, p) : lookupMatches(item, p)) {
      return item.kind === "rule" ? { verdict: item.rule.verdict, rules: [item.rule] } : { verdict: item.verdict, rules: item.rules };
    }
  }
  return undefined;
}
