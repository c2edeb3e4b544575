// Order-preserving compaction: rules with the same verdict that stand
// together and differ only in one address field and the destination port
// become one lookup in a set of (address . port) elements, so the kernel
// does one set lookup for them instead of walking them rule by rule.
//
// Why this keeps first-match meaning: within a block of neighbouring rules
// with one verdict, which rule matches first does not matter, only whether
// one does; and no rule ever moves out of its block, past a rule with
// another verdict. Then neighbouring items of one shape with different
// verdicts become one verdict map, their elements cut apart in rule order
// so that each packet finds the element of the rule that matched it first.
import { containsAddress, familyWidth, normalisePrefixes, prefixContains, subtractPrefix, type Family, type Prefix } from "../net/address.js";
import { normalisePortRanges, type PortProto, type PortRange } from "../net/services.js";
import { matches, type Packet } from "./evaluate.js";
import { matchKey, verdictKey } from "./passes.js";
import type { IrRule, Match, Verdict } from "./types.js";

export type KeyAddress = "saddr" | "daddr";

export interface LookupElement {
  readonly address: Prefix;
  /** present when the lookup's key has the destination port */
  readonly ports?: PortRange;
  /** what a packet matching the element gets (one verdict for all in a set, several in a map) */
  readonly verdict: Verdict;
}

/**
 * One lookup standing for several rules: a set (every element with one
 * verdict) or a verdict map (neighbouring rules of one shape and different
 * verdicts, their elements cut so that each packet finds the element of
 * the rule that would have matched it first).
 */
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
  /** the rules the lookup stands for, in policy order */
  readonly rules: readonly IrRule[];
}

export type CompactItem = { readonly kind: "rule"; readonly rule: IrRule } | Lookup;

/**
 * Runs shorter than this stay rules: a few rules cost the kernel little, and
 * as rules they keep their own comments and read as the policy does.
 */
export const MIN_RUN = 4;

/** Elements of maps above this many are not made: cutting them apart grows with the square. */
export const MAX_MAP_ELEMENTS = 2000;


/** The distinct verdicts of a lookup: one for a set, several for a map. */
export function lookupVerdicts(lookup: Lookup): Verdict[] {
  const seen = new Map<string, Verdict>();
  for (const e of lookup.elements) seen.set(verdictKey(e.verdict), e.verdict);
  return [...seen.values()];
}

interface Shape {
  readonly address: KeyAddress;
  readonly portProto?: PortProto;
  /** equal: the rules could share one map (the verdict aside) */
  readonly base: string;
  /** equal: the rules can share one set */
  readonly key: string;
}

/** How a rule would sit in a lookup keyed on `address`. */
function shapeOf(rule: IrRule, address: KeyAddress): Shape {
  const m = rule.match;
  // ICMP type lists and whole-protocol matches stay in `common`; only port lists join the key
  const portProto = m.l4?.kind === "ports" && m.l4.ports !== null ? m.l4.proto : undefined;
  const base = `${address}|${portProto ?? "-"}|${matchKey(commonPart(m, address))}`;
  return { address, portProto, base, key: `${base}=>${verdictKey(rule.verdict)}` };
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

function elementCount(rule: IrRule, address: KeyAddress): number {
  const m = rule.match;
  return (m[address]?.length ?? 1) * (m.l4?.kind === "ports" && m.l4.ports !== null ? m.l4.ports.length : 1);
}

function ruleElements(rule: IrRule, address: KeyAddress, family: Family): LookupElement[] {
  const m = rule.match;
  const addresses = m[address] ?? [everything(family)];
  const ports = m.l4?.kind === "ports" && m.l4.ports !== null ? m.l4.ports : undefined;
  const verdict = rule.verdict;
  return addresses.flatMap((a) => (ports ? ports.map((p) => ({ address: a, ports: p, verdict })) : [{ address: a, verdict }]));
}

// a map key for a prefix of one family: cheaper than spelling the address
const prefixKey = (p: Prefix) => `${p.bits}/${p.length}`;

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
  if (elements.length === 0) return [];
  const verdict = elements[0]!.verdict;
  if (elements.every((e) => e.ports === undefined)) {
    return normalisePrefixes(elements.map((e) => e.address)).map((address) => ({ address, verdict }));
  }
  const byPrefix = new Map<string, { address: Prefix; ports: PortRange[] }>();
  for (const e of elements) {
    const key = prefixKey(e.address);
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
      const above = merged.get(prefixKey(ancestor));
      if (above && prefixContains(ancestor, address)) ports = subtractRanges(ports, above);
    }
    for (const p of ports) out.push({ address, ports: p, verdict });
  }
  return out.sort(byAddressThenPort);
}

const byAddressThenPort = (a: LookupElement, b: LookupElement) =>
  a.address.bits < b.address.bits ? -1 : a.address.bits > b.address.bits ? 1 : a.address.length - b.address.length || (a.ports?.low ?? 0) - (b.ports?.low ?? 0);

const elementsMeet = (a: LookupElement, b: LookupElement) =>
  (prefixContains(a.address, b.address) || prefixContains(b.address, a.address)) &&
  (!a.ports || !b.ports || (a.ports.low <= b.ports.high && b.ports.low <= a.ports.high));

/** `a` without what `b` covers: prefixes nest or are apart, so the pieces are few. */
function elementMinus(a: LookupElement, b: LookupElement): LookupElement[] {
  if (!elementsMeet(a, b)) return [a];
  const restPorts = a.ports && b.ports ? subtractRanges([a.ports], [b.ports]) : [];
  if (prefixContains(b.address, a.address)) return restPorts.map((ports) => ({ ...a, ports }));
  // b's prefix lies inside a's: the rest of a's prefix keeps everything, b's prefix keeps the other ports
  return [...subtractPrefix(a.address, b.address).map((address) => ({ ...a, address })), ...restPorts.map((ports) => ({ ...a, address: b.address, ports }))];
}

/**
 * Elements in rule order, any verdicts, as disjoint elements that give each
 * packet the verdict of the first element that holds it.
 */
export function firstMatchElements(elements: readonly LookupElement[], family: Family): LookupElement[] {
  // neighbours with one verdict are joined first (their order does not matter), so that
  // only an element of another verdict is ever cut out of one
  const blocks: LookupElement[][] = [];
  for (const e of elements) {
    const last = blocks[blocks.length - 1];
    if (last && verdictKey(last[0]!.verdict) === verdictKey(e.verdict)) last.push(e);
    else blocks.push([e]);
  }
  const out: LookupElement[] = [];
  for (const e of blocks.flatMap((block) => disjointElements(block, family))) {
    let pieces: LookupElement[] = [e];
    for (const o of out) {
      pieces = pieces.flatMap((p) => elementMinus(p, o));
      if (pieces.length === 0) break;
    }
    out.push(...pieces);
  }
  return out.sort(byAddressThenPort);
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
// the nftables and iptables backends compact the same sections: once is enough
const compacted = new WeakMap<readonly IrRule[], Map<string, CompactItem[]>>();

export function compactRules(rules: readonly IrRule[], family: Family, minRun = MIN_RUN): CompactItem[] {
  const known = compacted.get(rules) ?? new Map<string, CompactItem[]>();
  compacted.set(rules, known);
  const key = `${family} ${minRun}`;
  let items = known.get(key);
  if (!items) known.set(key, (items = compactOnce(rules, family, minRun)));
  return items;
}

function compactOnce(rules: readonly IrRule[], family: Family, minRun: number): CompactItem[] {
  const out: CompactItem[] = [];
  let start = 0;
  for (let i = 1; i <= rules.length; i++) {
    if (i < rules.length && verdictKey(rules[i]!.verdict) === verdictKey(rules[start]!.verdict)) continue;
    out.push(...compactBlock(rules.slice(start, i), family, minRun));
    start = i;
  }
  return intoMaps(out, family, minRun);
}

// nft verdict maps hold accept and drop; a reject needs a rule of its own
const mapsVerdict = (v: Verdict) => v.kind === "accept" || v.kind === "drop";

/** The shape an item would have in a map keyed on `address`, or undefined when it cannot join one. */
function mapBase(item: CompactItem, address: KeyAddress): string | undefined {
  if (item.kind === "lookup") {
    if (item.address !== address || !item.elements.every((e) => mapsVerdict(e.verdict))) return undefined;
    return `${address}|${item.portProto ?? "-"}|${matchKey(item.common)}`;
  }
  return mapsVerdict(item.rule.verdict) ? shapeOf(item.rule, address).base : undefined;
}

/**
 * Neighbouring items of one shape with different verdicts become one
 * verdict map: their elements, in order, cut so that each packet meets the
 * element of the rule that would have decided it first. The items stay
 * where they are in the chain; only neighbours join.
 */
function intoMaps(items: readonly CompactItem[], family: Family, minRun: number): CompactItem[] {
  const out: CompactItem[] = [];
  let i = 0;
  while (i < items.length) {
    let best: { end: number; address: KeyAddress } | undefined;
    for (const address of ["saddr", "daddr"] as const) {
      const base = mapBase(items[i]!, address);
      if (base === undefined) continue;
      let end = i + 1;
      while (end < items.length && mapBase(items[end]!, address) === base) end++;
      if (!best || end > best.end) best = { end, address };
    }
    const group = best ? items.slice(i, best.end) : [items[i]!];
    const rules = group.flatMap((item) => (item.kind === "rule" ? [item.rule] : item.rules));
    // the cheap questions first: elements are only made for a group that can become a map
    const verdicts = new Set(group.flatMap((item) => (item.kind === "rule" ? [verdictKey(item.rule.verdict)] : lookupVerdicts(item).map(verdictKey))));
    const size = best ? group.reduce((n, item) => n + (item.kind === "rule" ? elementCount(item.rule, best.address) : item.elements.length), 0) : 0;
    const elements = best && verdicts.size > 1 && rules.length >= minRun && size <= MAX_MAP_ELEMENTS
      ? group.flatMap((item) => (item.kind === "rule" ? ruleElements(item.rule, best.address, family) : item.elements))
      : undefined;
    // cutting exceptions out of wide elements can make many pieces (an IPv6 /0 minus one
    // address is 128 of them): such groups stay as they are
    const cut = elements ? firstMatchElements(elements, family) : undefined;
    if (best && elements && cut && cut.length <= 2 * elements.length + 16) {
      const first = group[0]!;
      const shape = first.kind === "rule" ? shapeOf(first.rule, best.address) : undefined;
      out.push({
        kind: "lookup",
        family,
        common: first.kind === "rule" ? commonPart(first.rule.match, best.address) : first.common,
        address: best.address,
        portProto: first.kind === "rule" ? shape!.portProto : first.portProto,
        elements: cut,
        rules,
      });
      i = best.end;
    } else {
      out.push(items[i]!);
      i++;
    }
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

/** The reference semantics of a lookup: the element the packet finds, if any. */
export function lookupMatch(lookup: Lookup, p: Packet): LookupElement | undefined {
  if (p.family !== lookup.family || !matches(lookup.common, p)) return undefined;
  if (lookup.portProto && (p.proto !== lookup.portProto || p.dport === undefined)) return undefined;
  const address = p[lookup.address];
  return lookup.elements.find(
    (e) => containsAddress(e.address, p.family, address) && (!e.ports || (e.ports.low <= p.dport! && p.dport! <= e.ports.high)),
  );
}

/** First match over compacted items, as the kernel walks them: the verdict and the rules it stands for. */
export function firstCompactMatch(items: readonly CompactItem[], p: Packet): { verdict: Verdict; rules: readonly IrRule[] } | undefined {
  for (const item of items) {
    if (item.kind === "rule") {
      if (matches(item.rule.match, p)) return { verdict: item.rule.verdict, rules: [item.rule] };
      continue;
    }
    const element = lookupMatch(item, p);
    if (element) return { verdict: element.verdict, rules: item.rules };
  }
  return undefined;
}
