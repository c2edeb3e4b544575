// The packet space of one chain as boxes: each dimension of a match (input
// and output interface, source and destination address, protocol, port or
// ICMP type, conntrack state, hop limit) becomes a set of integer intervals,
// and a rule's match is the product of its sets. Union, difference and
// emptiness of such boxes are exact, so "does any packet get past these
// rules" has a yes-or-no answer with a packet to show, not a sample.
import { familyWidth, formatBits, prefixesToRanges, rangeAsPrefix, type Family, type Prefix } from "../net/address.js";
import type { Packet, PacketProto } from "../ir/evaluate.js";
import type { Chain, CtState, FilterHook, IfaceMatch, IrRule, Match } from "../ir/types.js";

/** A prefix list's intervals, once per list (lists are shared among machines). */
const intervalsOf = new WeakMap<readonly Prefix[], Intervals>();
function addressIntervals(prefixes: readonly Prefix[]): Intervals {
  let known = intervalsOf.get(prefixes);
  if (!known) {
    known = normalise(prefixesToRanges(prefixes).map((r) => [r.low, r.high] as const));
    intervalsOf.set(prefixes, known);
  }
  return known;
}

/** Sorted, disjoint, non-adjacent inclusive intervals. */
export type Intervals = readonly (readonly [bigint, bigint])[];

const DIMENSIONS = ["iif", "oif", "saddr", "daddr", "proto", "key", "ct", "hop"] as const;
type Dimension = (typeof DIMENSIONS)[number];
export type Box = Readonly<Record<Dimension, Intervals>>;
export type Region = readonly Box[];

/** The name a witness packet gives an interface no rule of the chain names. */
export const OTHER_INTERFACE = "*";

export const PROTOCOLS: readonly PacketProto[] = ["tcp", "udp", "sctp", "icmp", "icmpv6", "other"];
const STATES: readonly CtState[] = ["new", "established", "related", "invalid"];

export function normalise(list: (readonly [bigint, bigint])[]): Intervals {
  const sorted = list.filter(([lo, hi]) => lo <= hi).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1n) last[1] = hi > last[1] ? hi : last[1];
    else out.push([lo, hi]);
  }
  return out;
}

/** The index of the first interval of `list` that ends at or after `value`. */
function firstEndingFrom(list: Intervals, value: bigint): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (list[mid]![1] < value) low = mid + 1;
    else high = mid;
  }
  return low;
}

// Both operations walk the shorter list and find their place in the longer
// one by binary search: a blocklist of 100,000 intervals met by a rule's
// handful costs a few lookups, not a pass over the blocklist.
/** Whether one interval of `b` spans all of `a`: the common case of a dimension a rule leaves open. */
const spans = (b: Intervals, a: Intervals) => a.length === 0 || (b.length === 1 && b[0]![0] <= a[0]![0] && b[0]![1] >= a[a.length - 1]![1]);

export function intersect(a: Intervals, b: Intervals): Intervals {
  if (spans(b, a)) return a;
  if (spans(a, b)) return b;
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  const out: [bigint, bigint][] = [];
  for (const [lo, hi] of short) {
    for (let k = firstEndingFrom(long, lo); k < long.length && long[k]![0] <= hi; k++) {
      const l = long[k]![0] > lo ? long[k]![0] : lo;
      const h = long[k]![1] < hi ? long[k]![1] : hi;
      out.push([l, h]);
    }
  }
  return out;
}

export function subtract(a: Intervals, b: Intervals): Intervals {
  if (spans(b, a)) return [];
  const out: [bigint, bigint][] = [];
  for (const [lo0, hi] of a) {
    let lo = lo0;
    for (let k = firstEndingFrom(b, lo); k < b.length && b[k]![0] <= hi; k++) {
      const [blo, bhi] = b[k]!;
      if (blo > lo) out.push([lo, blo - 1n]);
      lo = bhi + 1n;
      if (lo > hi) break;
    }
    if (lo <= hi) out.push([lo, hi]);
  }
  return out;
}

const isSubset = (a: Intervals, b: Intervals) => subtract(a, b).length === 0;

/** Whether the two lists share a value, without building their intersection. */
function intervalsMeet(a: Intervals, b: Intervals): boolean {
  // most rules name one address, one port range: two intervals meet or not
  if (a.length === 1 && b.length === 1) return a[0]![0] <= b[0]![1] && b[0]![0] <= a[0]![1];
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  for (const [lo, hi] of short) {
    const k = firstEndingFrom(long, lo);
    if (k < long.length && long[k]![0] <= hi) return true;
  }
  return false;
}

/** a ⊆ b for a normalised b (touching intervals joined): each of a's intervals lies in one of b's. */
function withinNormalised(a: Intervals, b: Intervals): boolean {
  for (const [lo, hi] of a) {
    const k = firstEndingFrom(b, lo);
    if (k === b.length || b[k]![0] > lo || b[k]![1] < hi) return false;
  }
  return true;
}

/**
 * The integer coding of one chain's dimensions. Interfaces are numbered by
 * the names the chain's rules use, then one number for every other name and
 * one for "no interface" (locally generated packets have no input one).
 */
export class ChainSpace {
  private readonly ifaces: string[];
  readonly full: Box;

  constructor(
    readonly family: Family,
    private readonly hook: FilterHook,
    rules: readonly IrRule[],
    /** addresses a witness packet goes to, when it can (the machine's own) */
    private readonly preferredDestinations: readonly bigint[] = [],
  ) {
    const names = new Set<string>();
    for (const r of rules) for (const i of [r.match.iif, r.match.oif]) if (i) names.add(i.name);
    this.ifaces = [...names].sort();
    const all = (max: number | bigint): Intervals => [[0n, BigInt(max)]];
    this.full = {
      iif: all(this.ifaces.length + 1),
      oif: all(this.ifaces.length + 1),
      saddr: all((1n << BigInt(familyWidth(family))) - 1n),
      daddr: all((1n << BigInt(familyWidth(family))) - 1n),
      proto: all(PROTOCOLS.length - 1),
      key: all(65535),
      ct: all(STATES.length - 1),
      hop: all(255),
    };
    // what the hook sees: input has no output interface, output no input
    // one, forward both
    const present: Intervals = [[0n, this.other]];
    const absent: Intervals = [[this.none, this.none]];
    this.full = {
      ...this.full,
      iif: hook === "output" ? absent : present,
      oif: hook === "input" ? absent : present,
    };
  }

  private get other(): bigint {
    return BigInt(this.ifaces.length);
  }

  private get none(): bigint {
    return BigInt(this.ifaces.length + 1);
  }

  private iface(m: IfaceMatch | undefined): Intervals {
    if (!m) return [[0n, this.none]];
    const at = BigInt(this.ifaces.indexOf(m.name));
    return m.negate ? normalise([[0n, at - 1n], [at + 1n, this.other]]) : [[at, at]];
  }

  /** The packets of the hook a match takes (empty dimensions when none). */
  box(m: Match): Box {
    const raw = this.rawBox(m);
    return { ...raw, iif: intersect(raw.iif, this.full.iif), oif: intersect(raw.oif, this.full.oif) };
  }

  private rawBox(m: Match): Box {
    const addresses = (prefixes: Match["saddr"], all: Intervals): Intervals => (prefixes ? addressIntervals(prefixes) : all);
    const proto = m.l4 ? BigInt(PROTOCOLS.indexOf(m.l4.proto)) : undefined;
    let key = this.full.key;
    if (m.l4?.kind === "ports" && m.l4.ports) key = normalise(m.l4.ports.map((r) => [BigInt(r.low), BigInt(r.high)] as const));
    if (m.l4?.kind === "icmp" && m.l4.types) key = normalise(m.l4.types.map((t) => [BigInt(t), BigInt(t)] as const));
    return {
      iif: this.iface(m.iif),
      oif: this.iface(m.oif),
      saddr: addresses(m.saddr, this.full.saddr),
      daddr: addresses(m.daddr, this.full.daddr),
      proto: proto === undefined ? this.full.proto : [[proto, proto]],
      key,
      ct: m.ctState ? normalise(m.ctState.map((s) => [BigInt(STATES.indexOf(s)), BigInt(STATES.indexOf(s))] as const)) : this.full.ct,
      hop: m.hopLimit === undefined ? this.full.hop : [[BigInt(m.hopLimit), BigInt(m.hopLimit)]],
    };
  }

  /** One packet inside the box: the lowest value of each dimension. */
  witness(box: Box): Packet {
    const low = (d: Dimension) => box[d][0]![0];
    const daddr = this.preferredDestinations.find((a) => box.daddr.some(([lo, hi]) => lo <= a && a <= hi)) ?? low("daddr");
    const ifaceName = (n: bigint) => (n === this.none ? undefined : n === this.other ? OTHER_INTERFACE : this.ifaces[Number(n)]);
    const proto = PROTOCOLS[Number(low("proto"))]!;
    const key = Number(low("key"));
    return {
      family: this.family,
      iif: ifaceName(low("iif")),
      oif: ifaceName(low("oif")),
      saddr: low("saddr"),
      daddr,
      proto,
      dport: proto === "tcp" || proto === "udp" || proto === "sctp" ? key : undefined,
      icmpType: proto === "icmp" || proto === "icmpv6" ? key : undefined,
      ct: STATES[Number(low("ct"))]!,
      hopLimit: this.family === 6 ? Number(low("hop")) : undefined,
    };
  }

  /** The box in the policy's words, naming only the dimensions it limits. */
  describe(box: Box): string {
    const parts: string[] = [];
    const limited = (d: Dimension) => !isSubset(this.full[d], box[d]);
    const addresses = (d: "saddr" | "daddr") => {
      const ranges = box[d].map(([low, high]) => {
        const p = rangeAsPrefix({ family: this.family, low, high });
        if (low === high) return formatBits(this.family, low);
        return p ? `${formatBits(this.family, p.bits)}/${p.length}` : `${formatBits(this.family, low)}-${formatBits(this.family, high)}`;
      });
      return ranges.length > 3 ? `${ranges.slice(0, 3).join(", ")}, …` : ranges.join(", ");
    };
    parts.push(limited("saddr") ? `from ${addresses("saddr")}` : "from anywhere");
    // on input, a rule without a destination means the machine's own addresses
    if (limited("daddr")) parts.push(`to ${addresses("daddr")}`);
    else if (this.hook !== "input") parts.push("to anywhere");
    if (limited("proto")) {
      const protos = box.proto.flatMap(([lo, hi]) => PROTOCOLS.slice(Number(lo), Number(hi) + 1));
      const keys = limited("key") ? box.key.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(",") : undefined;
      parts.push(keys ? `${protos.join("/")} ${protos.every((p) => p.startsWith("icmp")) ? "type" : "port"} ${keys}` : protos.join("/"));
    }
    for (const d of ["iif", "oif"] as const) {
      if (!limited(d)) continue;
      const names = box[d].flatMap(([lo, hi]) => {
        const out: string[] = [];
        for (let n = lo; n <= hi; n++) out.push(n === this.none ? "none" : n === this.other ? "others" : this.ifaces[Number(n)]!);
        return out;
      });
      parts.push(`${d === "iif" ? "in on" : "out on"} ${names.join("/")}`);
    }
    if (limited("ct")) parts.push(`state ${box.ct.flatMap(([lo, hi]) => STATES.slice(Number(lo), Number(hi) + 1)).join("/")}`);
    return parts.join(" ");
  }
}

export const chainRules = (chain: Chain): IrRule[] => chain.sections.flatMap((s) => s.rules);

export const isEmptyBox = (b: Box): boolean => DIMENSIONS.some((d) => b[d].length === 0);

// the dimensions that tell rules apart most often first: most pairs part there
const MEET_ORDER: readonly Dimension[] = ["saddr", "key", "daddr", "proto", "iif", "oif", "ct", "hop"];

export function boxIntersect(a: Box, b: Box): Box | undefined {
  const out: Partial<Record<Dimension, Intervals>> = {};
  for (const d of MEET_ORDER) {
    const x = intersect(a[d], b[d]);
    if (x.length === 0) return undefined;
    out[d] = x;
  }
  return out as Box;
}

/** Whether two boxes share a packet, without building the shared box. */
export function boxesMeet(a: Box, b: Box): boolean {
  for (const d of MEET_ORDER) if (!intervalsMeet(a[d], b[d])) return false;
  return true;
}

// a box with more source intervals than this is looked up by its hull
const FEW_INTERVALS = 64;

/**
 * Boxes (a chain's rules, in order) by their source addresses, so that the
 * ones that may meet a box are found without testing every pair: in a chain
 * of rules that each name their own source, a rule meets a handful. Boxes
 * with many source intervals (a blocklist) or a wide one (any source) are
 * always candidates: they would make every lookup walk far.
 */
export class BoxesBySource {
  private readonly always: number[] = [];
  /** one entry per source interval of the other boxes, by low end */
  private readonly lows: bigint[] = [];
  private readonly highs: bigint[] = [];
  private readonly owners: number[] = [];
  /** the highest high end among entries 0..i */
  private readonly reach: bigint[] = [];

  constructor(boxes: readonly Box[]) {
    const entries: [bigint, bigint, number][] = [];
    const top = boxes.reduce((m, b) => (b.saddr.length > 0 && b.saddr[b.saddr.length - 1]![1] > m ? b.saddr[b.saddr.length - 1]![1] : m), 0n);
    const wide = (lo: bigint, hi: bigint) => (hi - lo) * 256n > top;
    boxes.forEach((b, i) => {
      if (b.saddr.length > FEW_INTERVALS || b.saddr.some(([lo, hi]) => wide(lo, hi))) this.always.push(i);
      else for (const [lo, hi] of b.saddr) entries.push([lo, hi, i]);
    });
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [lo, hi, i] of entries) {
      const before = this.reach[this.reach.length - 1];
      this.lows.push(lo);
      this.highs.push(hi);
      this.owners.push(i);
      this.reach.push(before !== undefined && before > hi ? before : hi);
    }
  }

  /** Indexes (ascending) of the boxes whose sources meet a source of `region`: a superset of those that meet it. */
  candidates(region: Region): number[] {
    const found = new Set<number>(this.always);
    for (const box of region) {
      const queries = box.saddr.length > FEW_INTERVALS ? [[box.saddr[0]![0], box.saddr[box.saddr.length - 1]![1]] as const] : box.saddr;
      for (const [qlo, qhi] of queries) {
        // entries starting at or below qhi, walked down while one of them may still reach qlo
        let low = 0;
        let high = this.lows.length;
        while (low < high) {
          const mid = (low + high) >> 1;
          if (this.lows[mid]! <= qhi) low = mid + 1;
          else high = mid;
        }
        for (let k = low - 1; k >= 0 && this.reach[k]! >= qlo; k--) if (this.highs[k]! >= qlo) found.add(this.owners[k]!);
      }
    }
    return [...found].sort((a, b) => a - b);
  }
}

/**
 * Whether the boxes of `by` cover all of `region`. The common answers come
 * cheaply (each box inside one covering box; or a box sticking out of all of
 * them in one dimension); only the rest needs the exact difference.
 */
export function regionCovered(region: Region, by: Region): boolean {
  // (a box's intervals are already normalised; were two touching, this only sends the answer to the exact path)
  if (region.every((t) => by.some((m) => DIMENSIONS.every((d) => withinNormalised(t[d], m[d]))))) return true;
  const hull = Object.fromEntries(DIMENSIONS.map((d) => [d, normalise(by.flatMap((m) => m[d]))])) as Record<Dimension, Intervals>;
  if (region.some((t) => DIMENSIONS.some((d) => !withinNormalised(t[d], hull[d])))) return false;
  let rest: Box[] = [...region];
  for (const m of by) {
    rest = regionSubtract(rest, m);
    if (rest.length === 0) return true;
  }
  return false;
}

/** a minus b as disjoint boxes. */
function boxSubtract(a: Box, b: Box): Box[] {
  if (!boxIntersect(a, b)) return [a];
  const out: Box[] = [];
  let rest: Record<Dimension, Intervals> = { ...a };
  for (const d of DIMENSIONS) {
    const outside = subtract(rest[d], b[d]);
    if (outside.length > 0) out.push({ ...rest, [d]: outside });
    rest = { ...rest, [d]: intersect(rest[d], b[d]) };
  }
  return out;
}

/** Thrown when a difference would need more boxes than an analysis may spend. */
export class TooComplex extends Error {}

export const MAX_BOXES = 20_000;

export function regionSubtract(region: Region, b: Box): Box[] {
  const out: Box[] = [];
  for (const a of region) {
    out.push(...boxSubtract(a, b));
    if (out.length > MAX_BOXES) throw new TooComplex();
  }
  return out;
}

export function regionIntersect(region: Region, b: Box): Box[] {
  return region.flatMap((a) => boxIntersect(a, b) ?? []);
}

/** The boxes as one region of disjoint boxes. */
export function union(boxes: readonly Box[]): Box[] {
  const out: Box[] = [];
  for (const b of boxes) {
    let rest: Box[] = [b];
    for (const o of out) {
      rest = regionSubtract(rest, o);
      if (rest.length === 0) break;
    }
    out.push(...rest);
  }
  return out;
}
