// The compaction pass has its own property: for generated rule lists and
// packets, the compacted items decide every packet as the rules do (same
// verdict, and the deciding lookup stands for a rule that matches it),
// and every lookup's elements are disjoint, as nft needs them.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compactRules, firstCompactMatch, lookupVerdicts, MIN_RUN, type Lookup } from "../../src/ir/compact.js";
import { matches, type Packet } from "../../src/ir/evaluate.js";
import type { IrRule, Match, Verdict } from "../../src/ir/types.js";
import { containsAddress, lastAddress, type Family, type Prefix } from "../../src/net/address.js";
import type { L4 } from "../../src/net/services.js";

const RUNS = 2000;
const SEED = 7;

// a small address space (10.0.0.0/28 and its IPv6 twin) so that prefixes nest and collide often
const base = (family: Family) => (family === 4 ? 0x0a000000n : 0xfd000000000000000000000000000000n);
const width = (family: Family) => (family === 4 ? 32 : 128);

const prefixIn = (family: Family) =>
  fc.tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 4 })).map(([offset, hostBits]): Prefix => {
    const length = width(family) - hostBits;
    const bits = (base(family) + BigInt(offset)) & ~((1n << BigInt(hostBits)) - 1n);
    return { family, bits, length };
  });

const portRange = fc.tuple(fc.integer({ min: 20, max: 40 }), fc.integer({ min: 0, max: 6 })).map(([low, w]) => ({ low, high: low + w }));

const l4: fc.Arbitrary<L4 | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom("tcp", "tcp", "udp") as fc.Arbitrary<"tcp" | "udp">, fc.array(portRange, { minLength: 1, maxLength: 3 })).map(([proto, ports]): L4 => ({ kind: "ports", proto, ports: normalise(ports) })) },
  { weight: 1, arbitrary: fc.constant<L4>({ kind: "ports", proto: "tcp", ports: null }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

function normalise(ports: { low: number; high: number }[]) {
  const sorted = [...ports].sort((a, b) => a.low - b.low);
  const out: { low: number; high: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.low <= last.high + 1) out[out.length - 1] = { low: last.low, high: Math.max(last.high, r.high) };
    else out.push(r);
  }
  return out;
}

const verdict: fc.Arbitrary<Verdict> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<Verdict>({ kind: "accept" }) },
  { weight: 2, arbitrary: fc.constant<Verdict>({ kind: "drop" }) },
  { weight: 1, arbitrary: fc.constant<Verdict>({ kind: "reject", with: "port-unreachable" }) },
);

const addresses = (family: Family) => fc.option(fc.uniqueArray(prefixIn(family), { minLength: 1, maxLength: 3, selector: (p) => `${p.bits}/${p.length}` }), { nil: undefined, freq: 3 });

const rule = (family: Family) =>
  fc
    .record({
      saddr: addresses(family),
      daddr: fc.option(fc.constant([{ family, bits: base(family) + 1n, length: width(family) }] as Prefix[]), { nil: undefined }),
      l4,
      iif: fc.option(fc.constant({ name: "wg0", negate: false }), { nil: undefined, freq: 6 }),
      verdict,
    })
    .map(({ saddr, daddr, l4, iif, verdict }, ): IrRule => {
      const match: Match = { ...(saddr && { saddr: sortPrefixes(saddr) }), ...(daddr && { daddr }), ...(l4 && { l4 }), ...(iif && { iif }) };
      return { match, verdict, origin: { seq: 0, kind: "policy", label: "p.wgp:1" } };
    });

function sortPrefixes(ps: Prefix[]): Prefix[] {
  // the IR's address sets are normalised: sorted, none inside another
  const sorted = [...ps].sort((a, b) => (a.bits < b.bits ? -1 : a.bits > b.bits ? 1 : a.length - b.length));
  return sorted.filter((p, i) => !sorted.some((q, j) => j !== i && q.length < p.length && containsAddress(q, p.family, p.bits)));
}

const rules = (family: Family) =>
  fc.array(rule(family), { minLength: 0, maxLength: 12 }).map((rs) => rs.map((r, seq) => ({ ...r, origin: { ...r.origin, seq, label: `p.wgp:${seq + 1}` } })));

const packet = (family: Family): fc.Arbitrary<Packet> =>
  fc.record({
    saddr: fc.integer({ min: 0, max: 17 }).map((o) => base(family) + BigInt(o)),
    daddr: fc.integer({ min: 0, max: 2 }).map((o) => base(family) + BigInt(o)),
    proto: fc.constantFrom("tcp", "udp", "icmp") as fc.Arbitrary<Packet["proto"]>,
    dport: fc.integer({ min: 18, max: 48 }),
    iif: fc.constantFrom("wg0", "eth0"),
  }).map(({ saddr, daddr, proto, dport, iif }) => ({ family, saddr, daddr, proto, dport: proto === "icmp" ? undefined : dport, iif, ct: "new" as const }));

function firstRule(rs: readonly IrRule[], p: Packet): IrRule | undefined {
  return rs.find((r) => matches(r.match, p));
}

const overlaps = (a: Lookup["elements"][number], b: Lookup["elements"][number]) =>
  (containsAddress(a.address, a.address.family, b.address.bits) || containsAddress(b.address, b.address.family, a.address.bits)) &&
  (!a.ports || !b.ports || (a.ports.low <= b.ports.high && b.ports.low <= a.ports.high));

describe("order-preserving compaction", () => {
  for (const family of [4, 6] as const) {
    it(`decides every packet as the rules do, IPv${family} (${RUNS} rule lists, 30 packets each)`, () => {
      let lookups = 0;
      let merged = 0;
      let maps = 0;
      fc.assert(
        fc.property(rules(family), fc.array(packet(family), { minLength: 30, maxLength: 30 }), (rs, packets) => {
          const items = compactRules(rs, family, 2);
          // every rule is in exactly one item
          const kept = items.flatMap((i) => (i.kind === "rule" ? [i.rule] : i.rules));
          expect(kept.length).toBe(rs.length);
          expect(new Set(kept)).toEqual(new Set(rs));
          for (const item of items) {
            if (item.kind !== "lookup") continue;
            lookups++;
            merged += item.rules.length;
            if (lookupVerdicts(item).length > 1) maps++;
            item.elements.forEach((a, i) => item.elements.slice(i + 1).forEach((b) => expect(overlaps(a, b), "elements overlap").toBe(false)));
          }
          for (const p of packets) {
            const want = firstRule(rs, p);
            const got = firstCompactMatch(items, p);
            expect(got?.verdict).toEqual(want?.verdict);
            // the deciding item stands for a rule that matches the packet (with one
            // verdict in a block, it need not be the first of them)
            if (want) expect(got!.rules.some((r) => matches(r.match, p))).toBe(true);
          }
        }),
        { seed: SEED + family, numRuns: RUNS },
      );
      // the property is not vacuous: many runs were merged into lookups
      console.log(`IPv${family}: ${lookups} lookups (${maps} verdict maps) standing for ${merged} rules`);
      expect(lookups).toBeGreaterThan(RUNS / 4);
      expect(maps).toBeGreaterThan(RUNS / 20);
      expect(merged).toBeGreaterThan(lookups * 2);
    });
  }

  it("makes one lookup of a run of allows to different sources and ports, and keeps a deny between runs in place", () => {
    const p = (last: number): Prefix => ({ family: 4, bits: 0x0a000000n + BigInt(last), length: 32 });
    const allow = (src: number, port: number, seq: number): IrRule => ({
      match: { saddr: [p(src)], l4: { kind: "ports", proto: "tcp", ports: [{ low: port, high: port }] } },
      verdict: { kind: "accept" },
      origin: { seq, kind: "policy", label: `p.wgp:${seq}` },
    });
    const deny: IrRule = { match: { saddr: [p(2)] }, verdict: { kind: "drop" }, origin: { seq: 3, kind: "policy", label: "p.wgp:3" } };
    const items = compactRules([allow(1, 22, 1), allow(2, 80, 2), deny, allow(3, 22, 4), allow(3, 23, 5), allow(4, 22, 6)], 4, 2);
    expect(items.map((i) => i.kind)).toEqual(["lookup", "rule", "lookup"]);
    const last = items[2] as Lookup;
    expect(last.portProto).toBe("tcp");
    expect(last.elements.map((e) => `${lastAddress(e.address) & 0xffn}.${e.ports!.low}-${e.ports!.high}`)).toEqual(["3.22-23", "4.22-22"]);
  });

  it("makes one verdict map of neighbouring rules of one shape with different verdicts, the exception cut out of the rule after it", () => {
    const rule = (bits: bigint, length: number, port: number, verdict: "accept" | "drop", seq: number): IrRule => ({
      match: { saddr: [{ family: 4, bits, length }], l4: { kind: "ports", proto: "tcp", ports: [{ low: port, high: port }] } },
      verdict: { kind: verdict },
      origin: { seq, kind: "policy", label: `p.wgp:${seq}` },
    });
    // deny 10.1.2.0/24:5432, allow 10.1.0.0/16:5432, deny 10.9.0.1:22, allow 10.9.0.0/24:22
    const items = compactRules(
      [rule(0x0a010200n, 24, 5432, "drop", 1), rule(0x0a010000n, 16, 5432, "accept", 2), rule(0x0a090001n, 32, 22, "drop", 3), rule(0x0a090000n, 24, 22, "accept", 4)],
      4,
    );
    expect(items).toHaveLength(1);
    const map = items[0] as Lookup;
    expect(lookupVerdicts(map).map((v) => v.kind).sort()).toEqual(["accept", "drop"]);
    // the /24 keeps its drop and the rest of the /16 accepts; likewise the /32 inside the last /24
    const at = (bits: bigint, port: number) => map.elements.filter((e) => e.address.bits <= bits && bits <= lastAddress(e.address) && e.ports!.low <= port && port <= e.ports!.high);
    expect(at(0x0a010203n, 5432).map((e) => e.verdict.kind)).toEqual(["drop"]);
    expect(at(0x0a01ff01n, 5432).map((e) => e.verdict.kind)).toEqual(["accept"]);
    expect(at(0x0a090001n, 22).map((e) => e.verdict.kind)).toEqual(["drop"]);
    expect(at(0x0a090002n, 22).map((e) => e.verdict.kind)).toEqual(["accept"]);
    expect(at(0x0a090002n, 5432)).toEqual([]);
    // each exception cut out of its rule: 1 + 8 pieces of the /16 around the /24, 1 + 8 of the /24 around the /32
    expect(map.elements).toHaveLength(18);
  });

  it("leaves runs shorter than MIN_RUN as rules", () => {
    const allow = (last: number, seq: number): IrRule => ({
      match: { saddr: [{ family: 4, bits: 0x0a000000n + BigInt(last), length: 32 }] },
      verdict: { kind: "accept" },
      origin: { seq, kind: "policy", label: `p.wgp:${seq}` },
    });
    const short = Array.from({ length: MIN_RUN - 1 }, (_, i) => allow(i, i));
    expect(compactRules(short, 4).map((i) => i.kind)).toEqual(short.map(() => "rule"));
    const long = Array.from({ length: MIN_RUN }, (_, i) => allow(i, i));
    expect(compactRules(long, 4).map((i) => i.kind)).toEqual(["lookup"]);
  });

  it("keeps only the ports a containing prefix does not already have", () => {
    const rule = (bits: bigint, length: number, low: number, high: number, seq: number): IrRule => ({
      match: { saddr: [{ family: 4, bits, length }], l4: { kind: "ports", proto: "udp", ports: [{ low, high }] } },
      verdict: { kind: "accept" },
      origin: { seq, kind: "policy", label: `p.wgp:${seq}` },
    });
    const [item] = compactRules([rule(0x0a000000n, 8, 100, 200, 1), rule(0x0a010000n, 16, 150, 300, 2)], 4, 2);
    expect(item!.kind).toBe("lookup");
    expect((item as Lookup).elements.map((e) => [e.address.length, e.ports!.low, e.ports!.high])).toEqual([
      [8, 100, 200],
      [16, 201, 300],
    ]);
  });
});
