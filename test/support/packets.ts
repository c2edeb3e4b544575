// Packets that probe a policy where it matters: at the edges of its
// prefixes and port ranges, on each interface, in each conntrack state.
import type { CheckedPolicy } from "../../src/check/model.js";
import type { Packet } from "../../src/ir/evaluate.js";
import { familyWidth, lastAddress, type Family, type Prefix } from "../../src/net/address.js";

/** A small deterministic generator, so a grid is the same on every run. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

function edges(p: Prefix): bigint[] {
  const max = (1n << BigInt(familyWidth(p.family))) - 1n;
  const last = lastAddress(p);
  return [p.bits, last, p.bits > 0n ? p.bits - 1n : p.bits, last < max ? last + 1n : last];
}

function policyPrefixes(policy: CheckedPolicy): Prefix[] {
  const out: Prefix[] = [];
  for (const m of policy.machines.values()) out.push(...m.physical, ...m.overlay);
  for (const r of [...policy.rules, ...policy.expects]) {
    for (const s of r.sources) if (s.kind === "prefix") out.push(s.prefix);
    for (const d of r.dests) if (d.kind === "prefix") out.push(d.prefix);
  }
  out.push(...(policy.vpn?.networks ?? []));
  return out;
}

function portCandidates(policy: CheckedPolicy): number[] {
  const ports = new Set<number>([1, 22, 53, 80, 443, 51820, 65535]);
  if (policy.vpn) ports.add(policy.vpn.listenPort);
  for (const r of [...policy.rules, ...policy.expects]) {
    if (r.services === null) continue;
    for (const l4 of [...r.services[4], ...r.services[6]]) {
      if (l4.kind !== "ports" || !l4.ports) continue;
      for (const range of l4.ports) for (const p of [range.low - 1, range.low, range.high, range.high + 1]) if (p >= 1 && p <= 65535) ports.add(p);
    }
  }
  return [...ports];
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/**
 * A new connection aimed at one rule: from inside (or at the edge of) one
 * of its sources, to one of the host's own addresses or one of the rule's
 * destinations, on one of its ports, in on the interface its source comes
 * by. Uniform packets rarely hit a given rule; these do, so a rule printed
 * wrongly changes a verdict.
 */
function aimedAt(policy: CheckedPolicy, rule: CheckedPolicy["rules"][number], own: readonly Prefix[], random: () => number): Packet {
  const family: Family = random() < 0.5 ? 4 : 6;
  const inFamily = (ps: readonly Prefix[]) => ps.filter((p) => p.family === family);
  const sources = rule.sources.flatMap((s) => (s.kind === "prefix" && s.prefix.family === family ? [s] : []));
  const source = sources.length > 0 ? pick(random, sources) : undefined;
  const anyAddress = family === 4 ? 0xc6336405n : 0x20010db8000000000000000000000005n;
  const saddr = source ? pick(random, edges(source.prefix)) : anyAddress;
  const dests = [
    ...inFamily(own),
    ...rule.dests.flatMap((d) => (d.kind === "prefix" && d.prefix.family === family ? [d.prefix] : [])),
    ...rule.dests.flatMap((d) => (d.kind === "machine" ? inFamily([...(policy.machines.get(d.name)?.physical ?? []), ...(policy.machines.get(d.name)?.overlay ?? [])]) : [])),
  ];
  const daddr = dests.length > 0 ? pick(random, dests.flatMap((p) => [p.bits, lastAddress(p)])) : anyAddress;
  const vpnIface = policy.vpn?.iface ?? "wg0";
  const iif = source?.viaVpn || random() < 0.2 ? vpnIface : "eth0";
  const oif = random() < 0.5 ? undefined : pick(random, ["eth0", vpnIface]);
  const forms = rule.services?.[family] ?? [];
  const l4 = forms.length > 0 ? pick(random, forms) : undefined;
  const base = { family, saddr, daddr, iif, oif, ct: "new" as const };
  if (l4?.kind === "ports") {
    const range = l4.ports ? pick(random, l4.ports) : { low: 1000, high: 1000 };
    return { ...base, proto: l4.proto, dport: pick(random, [range.low, range.high, range.low - 1, range.high + 1].filter((p) => p >= 1 && p <= 65535)) };
  }
  if (l4?.kind === "icmp") return { ...base, proto: l4.proto, icmpType: l4.types ? pick(random, l4.types) : 8, hopLimit: 64 };
  return { ...base, proto: pick(random, ["tcp", "udp"] as const), dport: pick(random, [22, 80, 1234]) };
}

export function packetGrid(policy: CheckedPolicy, hostName: string, count = 400, seed = 1): Packet[] {
  const random = seededRandom(seed);
  const host = policy.machines.get(hostName)!;
  const prefixes = policyPrefixes(policy);
  const ports = portCandidates(policy);
  const ifaces = [...new Set(["eth0", "lo", policy.vpn?.iface ?? "wg0", policy.masquerade?.via ?? "eth1", ...host.ifaces])];
  const addressesOf = (family: Family) => {
    const list = prefixes.filter((p) => p.family === family).flatMap(edges);
    return list.length > 0 ? list : [family === 4 ? 0xc0000201n : 0x20010db8000000000000000000000001n];
  };
  const out: Packet[] = [];
  for (let i = 0; i < count; i++) {
    const family: Family = random() < 0.5 ? 4 : 6;
    const addresses = addressesOf(family);
    const kind = pick(random, ["tcp", "udp", "sctp", "icmp", "other"] as const);
    const base = {
      family,
      saddr: pick(random, addresses),
      daddr: pick(random, addresses),
      ct: pick(random, ["new", "new", "established", "related", "invalid"] as const),
      iif: random() < 0.1 ? undefined : pick(random, ifaces),
      oif: random() < 0.3 ? undefined : pick(random, ifaces),
    };
    if (kind === "icmp") {
      const types = family === 4 ? [0, 3, 5, 8, 11, 12, 13] : [1, 2, 3, 4, 128, 129, 130, 133, 134, 135, 136, 137];
      out.push({ ...base, proto: family === 4 ? "icmp" : "icmpv6", icmpType: pick(random, types), hopLimit: pick(random, [255, 64]) });
    } else if (kind === "other") {
      out.push({ ...base, proto: "other" });
    } else {
      out.push({ ...base, proto: kind, dport: pick(random, ports) });
    }
  }
  // as many again aimed at the policy's rules
  const own = [...host.physical, ...host.overlay];
  if (policy.rules.length > 0) for (let i = 0; i < count; i++) out.push(aimedAt(policy, pick(random, policy.rules), own, random));
  return out;
}
