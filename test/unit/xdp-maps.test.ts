// The XDP map encoder: an LPM trie returns only the longest match, so each
// entry must carry the rules of every shorter prefix containing it. Checked
// against the reference semantics for random rule sets and addresses.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lpmEntries, mapBatch } from "../../src/backends/xdp/emit.js";
import { earlyVerdict, type XdpProgram, type XdpRule } from "../../src/ir/early.js";
import { containsAddress, type Prefix } from "../../src/net/address.js";
import { runtimeSourceText } from "../../src/backends/xdp/generate-runtime-source.js";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "../support/compile.js";

const prefix4 = fc
  .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 8, max: 32 }))
  .map(([high, length]): Prefix => {
    const bits = BigInt(high) << 16n;
    const mask = ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - length)) - 1n);
    return { family: 4, bits: bits & mask, length };
  });

const rule = fc.record({ src: fc.option(fc.array(prefix4, { minLength: 1, maxLength: 4 }), { nil: null }) }).map(
  ({ src }): XdpRule => ({ label: "x", match: { 4: { src, dst: null }, 6: null }, proto: 0 }),
);

/** What the kernel's LPM trie would return for an address. */
function longestMatch(entries: { prefix: Prefix; mask: bigint }[], bits: bigint): bigint {
  let best: { prefix: Prefix; mask: bigint } | undefined;
  for (const e of entries) if (containsAddress(e.prefix, 4, bits) && (!best || e.prefix.length > best.prefix.length)) best = e;
  return best?.mask ?? 0n;
}

describe("the XDP map encoder", () => {
  it("gives every address the mask of exactly the rules whose sources contain it", () => {
    fc.assert(
      fc.property(fc.array(rule, { minLength: 1, maxLength: 10 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 20 }), (rules, addresses) => {
        const program: XdpProgram = { iface: "eth0", l3: false, rules };
        const { entries, any } = lpmEntries(program, 4, "src");
        for (const a of addresses) {
          const bits = BigInt(a);
          const mask = longestMatch(entries, bits) | any;
          // the program's first candidate (lowest bit) is the reference's deciding rule
          const lowest = mask === 0n ? undefined : (mask & -mask).toString(2).length - 1;
          const ref = earlyVerdict(program, { family: 4, saddr: bits, daddr: 0n, proto: 6, l4: true, dport: 1 });
          expect(lowest).toBe(ref.rule);
          for (const [i, r] of rules.entries()) {
            const inside = r.match[4]!.src === null || r.match[4]!.src.some((p) => containsAddress(p, 4, bits));
            expect(((mask >> BigInt(i)) & 1n) === 1n).toBe(inside);
          }
        }
      }),
      { seed: 11, numRuns: 300 },
    );
  });

  it("writes all 64 rule slots, so an older policy's rules do not linger", () => {
    const program: XdpProgram = { iface: "eth0", l3: false, rules: [{ label: "x", match: { 4: { src: null, dst: null }, 6: null }, proto: 6, ports: { low: 22, high: 22 } }] };
    const batch = mapBatch(program);
    expect(batch.match(/wgpc_rules key hex/g)).toHaveLength(64);
    // rule 0: tcp, IPv4 + ports flags, verdict drop, port 22 little-endian
    expect(batch).toContain("wgpc_rules key hex 00 00 00 00 value hex 06 05 00 01 16 00 16 00");
  });
});

describe("generated files are up to date", () => {
  it("embeds the current bpf-runtime sources (npm run gen:runtime)", () => {
    expect(fs.readFileSync(path.join(ROOT, "src/backends/xdp/runtime-source.ts"), "utf8")).toBe(runtimeSourceText());
  });
});
