// The property the people we build for asked for: for random policies and
// random packets, the reference semantics, the iptables text and the nft
// text give the same verdict on every host and hook. The run is seeded
// (WGPC_SEED, default 42) and sized (WGPC_RUNS, default 300); on failure
// fast-check shrinks and prints the policy as .wgp source with the packet.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasErrors } from "../../src/diagnostics/diagnostic.js";
import { policyText } from "../support/arbitraries.js";
import { artifact, compileSource, rendered } from "../support/compile.js";
import { evaluateIptables, ipsetsOf, parseIptables } from "../support/iptables-interp.js";
import { evaluateNft, parseNft } from "../support/nft-interp.js";
import { packetGrid } from "../support/packets.js";
import { breather } from "../support/run-async.js";
import { describePacket, HOOKS, referenceVerdict } from "../support/reference.js";

// `npm run test:deep` sets WGPC_DEEP: a random seed (printed) and ten times the policies
const deep = process.env.WGPC_DEEP === "1";
const seed = Number(process.env.WGPC_SEED ?? (deep ? Math.floor(Math.random() * 2 ** 31) : 42));
const runs = Number(process.env.WGPC_RUNS ?? (deep ? 5000 : 300));
const PACKETS_PER_HOST = 24;
let pairs = 0;
/** set lookups in the nft text: the compacted form is what the property checks too */
let lookups = 0;
let ipsetLookups = 0;
let maps = 0;

function disagreement(source: string, packetSeed: number): string | undefined {
  const result = compileSource(source);
  // policies the checker refuses (e.g. families that cannot meet) prove nothing here
  if (hasErrors(result.diagnostics)) return undefined;
  for (const host of result.hosts!) {
    ipsetLookups += ["iptables.rules", "ip6tables.rules"].reduce((n, f) => n + (artifact(result, host.name, f).match(/--match-set /g) ?? []).length, 0);
    const v4 = parseIptables(artifact(result, host.name, "iptables.rules"), 4, ipsetsOf(result, host.name));
    const v6 = parseIptables(artifact(result, host.name, "ip6tables.rules"), 6, ipsetsOf(result, host.name));
    const nftText = artifact(result, host.name, "ruleset.nft");
    lookups += (nftText.match(/ @\w+ /g) ?? []).length;
    maps += (nftText.match(/ vmap @\w+ /g) ?? []).length;
    const nft = parseNft(nftText);
    for (const p of packetGrid(result.policy!, host.name, PACKETS_PER_HOST, packetSeed)) {
      pairs++;
      for (const hook of HOOKS) {
        const want = referenceVerdict(host, hook, p);
        const ipt = evaluateIptables(p.family === 4 ? v4 : v6, hook, p);
        const nf = evaluateNft(nft, hook, p);
        if (ipt !== want || nf !== want) {
          return `on ${host.name} ${hook}, packet ${describePacket(p)}: reference ${want}, iptables ${ipt}, nftables ${nf}\n${rendered(result)}`;
        }
      }
    }
  }
  return undefined;
}

describe("differential properties", () => {
  it(`reference = iptables text = nft text (seed ${seed}, ${runs} policies)`, { timeout: deep ? 40 * 60_000 : 60_000 }, async () => {
    console.log(`differential properties: seed ${seed} (reproduce with WGPC_SEED=${seed} WGPC_RUNS=${runs})`);
    const breathe = breather(20);
    await fc.assert(
      fc.asyncProperty(policyText, fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (source, packetSeed) => {
        await breathe();
        const problem = disagreement(source, packetSeed);
        if (problem) throw new Error(`${problem}\n--- policy.wgp ---\n${source}`);
      }),
      { seed, numRuns: runs, interruptAfterTimeLimit: deep ? 30 * 60_000 : undefined },
    );
    console.log(`differential properties: seed ${seed}, ${runs} policies, ${pairs} policy/host/packet pairs, 4 hooks each, ${lookups} nft set lookups (${maps} verdict maps), ${ipsetLookups} ipset lookups`);
    expect(pairs).toBeGreaterThanOrEqual(deep ? 100_000 : 1000);
    expect(lookups).toBeGreaterThanOrEqual(runs / 30);
    expect(ipsetLookups).toBeGreaterThanOrEqual(runs / 20);
    expect(maps).toBeGreaterThan(0);
  });

  it("most generated policies are valid (the property is not vacuous)", () => {
    const samples = fc.sample(policyText, { seed, numRuns: 200 });
    const valid = samples.filter((s) => !hasErrors(compileSource(s).diagnostics)).length;
    expect(valid).toBeGreaterThan(150);
  });
});
