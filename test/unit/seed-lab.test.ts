// What the seed lab must show, asserted on the emitted text and on the
// reference semantics.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { evaluate, type Packet } from "../../src/ir/evaluate.js";
import { parseAddress } from "../../src/net/address.js";
import { artifact, compileFiles, rendered, ROOT } from "../support/compile.js";

const result = compileFiles([path.join(ROOT, "examples/seed-lab/policy.wgp")]);
const host = (name: string) => result.hosts!.find((h) => h.name === name)!;
const addr = (text: string) => {
  const r = parseAddress(text);
  if (!r.ok) throw new Error(r.reason);
  return r.bits;
};
const tcp = (family: 4 | 6, saddr: string, daddr: string, dport: number, extra: Partial<Packet> = {}): Packet => ({
  family, saddr: addr(saddr), daddr: addr(daddr), proto: "tcp", dport, ct: "new", iif: "eth0", ...extra,
});

describe("the seed lab", () => {
  it("compiles without diagnostics", () => {
    expect(rendered(result)).toBe("");
  });

  it("protects client-b:1234 by VPN membership: the VPN interface and the overlay source together", () => {
    const rules = artifact(result, "client-b", "iptables.rules");
    expect(rules).toContain(
      '-A wgpc-input-rules -s 192.168.4.0/24 -i wg0 -p tcp -m tcp --dport 1234 -m comment --comment "policy.wgp:26 nc for VPN members" -j ACCEPT',
    );
    expect(artifact(result, "client-b", "ruleset.nft")).toContain(
      'iifname "wg0" ip saddr 192.168.4.0/24 tcp dport 1234 accept comment "policy.wgp:26 nc for VPN members"',
    );
  });

  it("protects client-b:1234 by source address: the hub's physical address, after masquerade", () => {
    expect(artifact(result, "client-b", "iptables.rules")).toContain(
      '-A wgpc-input-rules -s 10.0.123.2/32 -p tcp -m tcp --dport 1234 -m comment --comment "policy.wgp:26 nc for VPN members" -j ACCEPT',
    );
    expect(artifact(result, "client-b", "ruleset.nft")).toContain('ip saddr 10.0.123.2 tcp dport 1234 accept');
  });

  it("never matches an overlay source without the VPN interface, in any artifact", () => {
    for (const bundle of result.bundles!) {
      for (const a of bundle.artifacts) {
        for (const line of a.text.split("\n")) {
          if (/-s (192\.168\.4\.|fd00:4::)/.test(line)) expect(line, `${bundle.host}/${a.path}`).toMatch(/ -i wg0 | ! -o wg0 /);
          if (/saddr (\{ )?(192\.168\.4\.|fd00:4::)/.test(line)) expect(line, `${bundle.host}/${a.path}`).toMatch(/iifname "wg0"|oifname != "wg0"/);
        }
      }
    }
  });

  it("masquerades VPN traffic that leaves the hub by a non-VPN interface, in both backends", () => {
    expect(artifact(result, "vpn-core", "iptables.rules")).toContain(
      '-A wgpc-postrouting-rules -s 192.168.4.0/24 ! -o wg0 -m comment --comment "policy.wgp:22" -j MASQUERADE',
    );
    expect(artifact(result, "vpn-core", "ruleset.nft")).toContain('oifname != "wg0" ip saddr 192.168.4.0/24 masquerade');
    expect(artifact(result, "client-b", "iptables.rules")).not.toContain("MASQUERADE");
  });

  it("decides client-b's input as the policy says (reference semantics)", () => {
    const b = host("client-b");
    expect(evaluate(b, "input", tcp(4, "192.168.4.2", "192.168.4.3", 1234, { iif: "wg0" })).verdict).toBe("accept");
    expect(evaluate(b, "input", tcp(4, "10.0.123.2", "10.0.123.4", 1234)).verdict).toBe("accept");
    // the same overlay source from the physical network is spoofed: dropped by the deny
    const spoofed = evaluate(b, "input", tcp(4, "192.168.4.2", "10.0.123.4", 1234));
    expect(spoofed.verdict).toBe("drop");
    expect(spoofed.rule?.origin.label).toBe("policy.wgp:27");
    expect(evaluate(b, "input", tcp(4, "10.0.123.3", "10.0.123.4", 1234)).verdict).toBe("drop");
    // replies pass, whatever the port
    expect(evaluate(b, "input", tcp(4, "203.0.113.5", "10.0.123.4", 40000, { ct: "established" })).verdict).toBe("accept");
    expect(evaluate(b, "input", tcp(4, "203.0.113.5", "10.0.123.4", 40000)).verdict).toBe("drop");
  });

  it("leaves IPv6 no more open than IPv4, with neighbour discovery working", () => {
    const b = host("client-b");
    const ir6 = b.families[6].filter.input;
    expect(ir6.policy).toBe("drop");
    expect(evaluate(b, "input", tcp(6, "2001:db8:ffff::1", "2001:db8:123::4", 1234)).verdict).toBe("drop");
    expect(evaluate(b, "input", tcp(6, "2001:db8:ffff::1", "2001:db8:123::4", 22)).verdict).toBe("drop");
    expect(evaluate(b, "input", tcp(6, "2001:db8:ad::9", "2001:db8:123::4", 22)).verdict).toBe("accept");
    const ns = (hopLimit: number): Packet => ({
      family: 6, saddr: addr("fe80::1"), daddr: addr("ff02::1:ff00:4"), proto: "icmpv6", icmpType: 135, ct: "new", hopLimit, iif: "eth0",
    });
    expect(evaluate(b, "input", ns(255)).verdict).toBe("accept");
    expect(evaluate(b, "input", ns(64)).verdict).toBe("drop");
    const six = artifact(result, "client-b", "ip6tables.rules");
    expect(six).toContain(":INPUT DROP [0:0]");
    expect(six).toContain("-p ipv6-icmp -m icmp6 --icmpv6-type 135 -m hl --hl-eq 255");
    expect(six).toContain("-p ipv6-icmp -m icmp6 --icmpv6-type 2 ");
    expect(artifact(result, "client-b", "ruleset.nft")).toContain(
      "icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept",
    );
  });

  it("shapes on the hub: 500 ms of netem towards the VPN on wg0, storage and each peer limited", () => {
    const tc = artifact(result, "vpn-core", "tc.batch");
    expect(tc).toContain("qdisc replace dev wg0 root handle 1: htb default 2 r2q 10");
    expect(tc).toMatch(/# policy\.wgp:\d+ delay to vpn\nclass replace dev wg0 parent 1:1 classid 1:(\w+) htb .*\nqdisc replace dev wg0 parent 1:\1 handle \1: netem delay 500ms\n/);
    expect(tc).toContain("filter add dev wg0 parent 1: protocol ip prio 16 u32 match ip dst 192.168.4.0/24 flowid 1:13");
    expect(tc).toMatch(/class replace dev wg0 parent 1:1 classid 1:10 htb rate 100mbit ceil 200mbit burst 12500 cburst 25000 quantum 200000\nqdisc replace dev wg0 parent 1:10 handle 10: netem delay 500ms/);
    expect(tc).toMatch(/class replace dev eth0 parent 1:1 classid 1:10 htb rate 100mbit ceil 200mbit burst 12500 cburst 25000 quantum 200000\nqdisc replace dev eth0 parent 1:10 handle 10: fq_codel/);
    expect(tc.match(/htb rate 20mbit ceil 20mbit/g)).toHaveLength(2);
    // only the hub shapes
    expect(result.bundles!.filter((b) => b.artifacts.some((a) => a.path === "tc.batch")).map((b) => b.host)).toEqual(["vpn-core"]);
  });

  it("opens the hub's WireGuard port only on the hub", () => {
    expect(artifact(result, "vpn-core", "iptables.rules")).toContain("-p udp -m udp --dport 51820");
    expect(artifact(result, "client-a", "iptables.rules")).not.toContain("51820");
    const hub = host("vpn-core");
    const handshake: Packet = { family: 4, saddr: addr("203.0.113.9"), daddr: addr("10.0.123.2"), proto: "udp", dport: 51820, ct: "new", iif: "eth0" };
    expect(evaluate(hub, "input", handshake).verdict).toBe("accept");
  });

  it("forwards VPN traffic at the hub only where the policy allows", () => {
    const hub = host("vpn-core");
    const fwd = (saddr: string, daddr: string, dport: number, iif: string, oif: string) =>
      evaluate(hub, "forward", tcp(4, saddr, daddr, dport, { iif, oif })).verdict;
    expect(fwd("192.168.4.2", "192.168.4.3", 1234, "wg0", "wg0")).toBe("accept");
    expect(fwd("192.168.4.2", "10.0.123.4", 1234, "wg0", "eth0")).toBe("accept");
    expect(fwd("192.168.4.2", "10.0.123.4", 5432, "wg0", "eth0")).toBe("drop");
    expect(fwd("203.0.113.7", "192.168.4.3", 1234, "eth0", "wg0")).toBe("drop");
  });
});
