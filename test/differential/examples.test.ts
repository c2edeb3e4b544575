// The examples and test cases, every host and hook, against a grid of
// packets: the reference semantics, the iptables text and the nft text
// must give the same verdict.
import { describe, expect, it } from "vitest";
import { allPolicies, artifact, compileFiles } from "../support/compile.js";
import { evaluateIptables, ipsetsOf, parseIptables } from "../support/iptables-interp.js";
import { evaluateNft, parseNft } from "../support/nft-interp.js";
import { describePacket, HOOKS, referenceVerdict } from "../support/reference.js";
import { packetGrid } from "../support/packets.js";

describe("backends agree with the reference semantics on the examples and cases", () => {
  for (const policy of allPolicies()) {
    it(policy.name, () => {
      const result = compileFiles([policy.file]);
      let compared = 0;
      for (const host of result.hosts!) {
        const v4 = parseIptables(artifact(result, host.name, "iptables.rules"), 4, ipsetsOf(result, host.name));
        const v6 = parseIptables(artifact(result, host.name, "ip6tables.rules"), 6, ipsetsOf(result, host.name));
        const nft = parseNft(artifact(result, host.name, "ruleset.nft"));
        for (const p of packetGrid(result.policy!, host.name)) {
          for (const hook of HOOKS) {
            const want = referenceVerdict(host, hook, p);
            const ipt = evaluateIptables(p.family === 4 ? v4 : v6, hook, p);
            const nf = evaluateNft(nft, hook, p);
            const where = `${host.name} ${hook}: ${describePacket(p)}`;
            expect(ipt, `iptables, ${where}`).toBe(want);
            expect(nf, `nftables, ${where}`).toBe(want);
            compared++;
          }
        }
      }
      expect(compared).toBeGreaterThan(100);
    });
  }
});
