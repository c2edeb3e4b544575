// Addresses and prefixes of both families as numbers, so that containment,
// overlap and normalisation are exact. Text is parsed once, in the checker,
// and printed back in the canonical spelling the kernel tools use.

export type Family = 4 | 6;
export const FAMILIES: readonly Family[] = [4, 6];

export interface Prefix {
  readonly family: Family;
  /** network address with host bits cleared */
  readonly bits: bigint;
  readonly length: number;
}

export const familyWidth = (family: Family): number => (family === 4 ? 32 : 128);

function mask(family: Family, length: number): bigint {
  const width = familyWidth(family);
  return ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - length)) - 1n);
}

export type ParsedAddress =
  | { ok: true; family: Family; bits: bigint; length: number; hostBitsSet: boolean; hadLength: boolean }
  | { ok: false; reason: string };

function parseIpv4Bits(text: string): bigint | string {
  const parts = text.split(".");
  if (parts.length !== 4) return "an IPv4 address has four parts";
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return `\`${part}\` is not a number from 0 to 255`;
    if (part.length > 1 && part.startsWith("0")) return `\`${part}\` has a leading zero (it could be read as octal)`;
    const n = Number(part);
    if (n > 255) return `${part} is larger than 255`;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseIpv6Bits(text: string): bigint | string {
  let groups: string[];
  let tail: bigint | undefined;
  let body = text;
  const dotted = body.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const v4 = parseIpv4Bits(dotted[2]!);
    if (typeof v4 === "string") return v4;
    tail = v4;
    body = dotted[1]!.endsWith("::") ? dotted[1]! : dotted[1]!.slice(0, -1);
  }
  const wanted = tail === undefined ? 8 : 6;
  const doubles = body.split("::").length - 1;
  if (doubles > 1) return "`::` may appear only once";
  if (doubles === 1) {
    const [head, rest] = body.split("::") as [string, string];
    const headGroups = head === "" ? [] : head.split(":");
    const restGroups = rest === "" ? [] : rest.split(":");
    const missing = wanted - headGroups.length - restGroups.length;
    if (missing < 1) return "too many groups";
    groups = [...headGroups, ...Array<string>(missing).fill("0"), ...restGroups];
  } else {
    groups = body.split(":");
    if (groups.length !== wanted) return `an IPv6 address has ${wanted} groups`;
  }
  let value = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return g === "" ? "empty group" : `\`${g}\` is not a group of 1-4 hex digits`;
    value = (value << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail !== undefined) value = (value << 32n) | tail;
  return value;
}

/** Parses `a.b.c.d[/n]` or an IPv6 literal `[/n]`. */
export function parseAddress(text: string): ParsedAddress {
  const slash = text.indexOf("/");
  const addressText = slash >= 0 ? text.slice(0, slash) : text;
  const family: Family = addressText.includes(":") ? 6 : 4;
  const width = familyWidth(family);
  let length = width;
  if (slash >= 0) {
    const lengthText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > width) {
      return { ok: false, reason: `prefix length must be 0-${width}` };
    }
    length = Number(lengthText);
  }
  const bits = family === 4 ? parseIpv4Bits(addressText) : parseIpv6Bits(addressText);
  if (typeof bits === "string") return { ok: false, reason: bits };
  const network = bits & mask(family, length);
  return { ok: true, family, bits: network, length, hostBitsSet: network !== bits, hadLength: slash >= 0 };
}

export function formatBits(family: Family, bits: bigint): string {
  if (family === 4) {
    const n = Number(bits);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const groups: number[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(Number((bits >> s) & 0xffffn));
  // RFC 5952: the longest run (>= 2) of zero groups becomes `::`, first wins.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

// a blocklist's prefixes are spelled by several passes and backends: once each
const spellings = new WeakMap<Prefix, string>();

/** `10.0.0.0/24`; a full-length prefix is written with its length too. */
export function formatPrefix(p: Prefix): string {
  let text = spellings.get(p);
  if (text === undefined) spellings.set(p, (text = `${formatBits(p.family, p.bits)}/${p.length}`));
  return text;
}

/** A single address prints bare, a network with its length (nft's spelling). */
export function formatPrefixShort(p: Prefix): string {
  return p.length === familyWidth(p.family) ? formatBits(p.family, p.bits) : formatPrefix(p);
}

export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  return (
    outer.family === inner.family &&
    outer.length <= inner.length &&
    (inner.bits & mask(outer.family, outer.length)) === outer.bits
  );
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return prefixContains(a, b) || prefixContains(b, a);
}

export function containsAddress(p: Prefix, family: Family, bits: bigint): boolean {
  return p.family === family && (bits & mask(family, p.length)) === p.bits;
}

export const hostPrefix = (family: Family, bits: bigint): Prefix => ({ family, bits, length: familyWidth(family) });

export const lastAddress = (p: Prefix): bigint => p.bits | ((1n << BigInt(familyWidth(p.family) - p.length)) - 1n);

export function comparePrefixes(a: Prefix, b: Prefix): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.bits !== b.bits) return a.bits < b.bits ? -1 : 1;
  return a.length - b.length;
}

export const samePrefix = (a: Prefix, b: Prefix): boolean => comparePrefixes(a, b) === 0;

/**
 * The smallest sorted list of prefixes covering exactly the same addresses:
 * contained prefixes are dropped and sibling halves merged. nft refuses
 * overlapping interval elements and prints merged ones merged, so both
 * backends print this form.
 */
export function normalisePrefixes(prefixes: readonly Prefix[]): Prefix[] {
  const sorted = [...prefixes].sort(comparePrefixes);
  const kept: Prefix[] = [];
  for (const p of sorted) {
    const last = kept[kept.length - 1];
    if (last && prefixContains(last, p)) continue;
    kept.push(p);
    // merge sibling pairs as long as possible
    while (kept.length >= 2) {
      const b = kept[kept.length - 1]!;
      const a = kept[kept.length - 2]!;
      if (a.family !== b.family || a.length !== b.length || a.length === 0) break;
      const parentLength = a.length - 1;
      const parentBits = a.bits & mask(a.family, parentLength);
      const width = familyWidth(a.family);
      const siblingBit = 1n << BigInt(width - a.length);
      if (parentBits !== a.bits || b.bits !== (a.bits | siblingBit)) break;
      kept.splice(kept.length - 2, 2, { family: a.family, bits: parentBits, length: parentLength });
    }
  }
  return kept;
}

/** The addresses of `a` that are not in `b`, as prefixes. */
export function subtractPrefix(a: Prefix, b: Prefix): Prefix[] {
  if (!prefixesOverlap(a, b)) return [a];
  if (prefixContains(b, a)) return [];
  const width = familyWidth(a.family);
  const length = a.length + 1;
  const low: Prefix = { family: a.family, bits: a.bits, length };
  const high: Prefix = { family: a.family, bits: a.bits | (1n << BigInt(width - length)), length };
  return [...subtractPrefix(low, b), ...subtractPrefix(high, b)];
}

export interface AddressRange {
  readonly family: Family;
  readonly low: bigint;
  readonly high: bigint;
}

// The IR shares one normalised list among the machines a rule is on (a
// blocklist reaches every machine): its ranges are worked out once.
const rangesOf = new WeakMap<readonly Prefix[], readonly AddressRange[]>();

/** Sorted prefixes (see normalisePrefixes) as ranges, touching ones joined. Shared: never change the result. */
export function prefixesToRanges(prefixes: readonly Prefix[]): readonly AddressRange[] {
  const known = rangesOf.get(prefixes);
  if (known) return known;
  const out: AddressRange[] = [];
  for (const p of [...prefixes].sort(comparePrefixes)) {
    const low = p.bits;
    const high = lastAddress(p);
    const last = out[out.length - 1];
    if (last && last.family === p.family && low <= last.high + 1n) {
      out[out.length - 1] = { ...last, high: high > last.high ? high : last.high };
    } else out.push({ family: p.family, low, high });
  }
  rangesOf.set(prefixes, out);
  return out;
}

/** The range as one prefix, when it is exactly one. */
export function rangeAsPrefix(r: AddressRange): Prefix | undefined {
  const size = r.high - r.low + 1n;
  if ((size & (size - 1n)) !== 0n) return undefined;
  const length = familyWidth(r.family) - (size.toString(2).length - 1);
  return (r.low & (size - 1n)) === 0n ? { family: r.family, bits: r.low, length } : undefined;
}
