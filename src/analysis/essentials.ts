// Traffic a machine cannot live without, checked against what was compiled:
// IPv6 neighbour discovery on every machine with IPv6, the WireGuard port on
// the hub from every peer, and overlay sources only with the VPN interface.
// The always-there rules make the first two hold unless an early drop (XDP,
// before the firewall) cuts them; the third is a safety net over the IR.
import type { CheckedPolicy } from "../check/model.js";
import { containsAddress, formatBits, formatPrefix, parseAddress, prefixesOverlap, type Family, type Prefix } from "../net/address.js";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import { evaluate, type Packet } from "../ir/evaluate.js";
import { earlyVerdict, IP_PROTOCOL, type EarlyPacket } from "../ir/early.js";
import type { HostIr } from "../ir/types.js";

const LINK_LOCAL = 0xfe80n << 112n;
const NEIGHBOUR_SOLICITATION = 135;

function firstOf(prefixes: readonly Prefix[], family: Family): Prefix | undefined {
  return prefixes.find((p) => p.family === family);
}

export function essentialTraffic(policy: CheckedPolicy, hosts: readonly HostIr[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const dropBy = (label: string) => policy.earlyDrops.find((d) => d.origin.label === label);
  for (const host of hosts) {
    const machine = policy.machines.get(host.name)!;
    const iface = machine.ifaces[0] ?? "eth0";
    const xdp = host.early.find((p) => p.iface === iface);
    const probe = (what: string, acknowledge: "neighbour-discovery" | "wireguard", packet: Packet) => {
      const early: EarlyPacket = { family: packet.family, saddr: packet.saddr, daddr: packet.daddr, proto: IP_PROTOCOL[packet.proto as keyof typeof IP_PROTOCOL] ?? 0, l4: true, dport: packet.dport, icmpType: packet.icmpType };
      const atXdp = xdp ? earlyVerdict(xdp, early) : { verdict: "pass" as const };
      if (atXdp.verdict === "drop") {
        const drop = dropBy(xdp!.rules[atXdp.rule!]!.label);
        if (drop?.acknowledged.has(acknowledge)) return;
        out.push(diagnostic("essential-traffic-dropped", { what, host: host.name, by: `this early drop (XDP on \`${iface}\`)`, acknowledge }, drop?.origin.span, { help: `add \`acknowledge ${acknowledge}\` to this statement if that is meant` }));
        return;
      }
      const decision = evaluate(host, "input", packet);
      if (decision.verdict !== "accept") {
        out.push(diagnostic("essential-traffic-dropped", { what, host: host.name, by: decision.rule ? `the rule ${decision.rule.origin.label}` : "the default", acknowledge }));
      }
    };
    const own6 = firstOf(machine.physical, 6);
    if (own6) {
      probe("neighbour discovery", "neighbour-discovery", {
        family: 6, iif: iface, saddr: LINK_LOCAL | 1n, daddr: own6.bits, proto: "icmpv6", icmpType: NEIGHBOUR_SOLICITATION, hopLimit: 255, ct: "new",
      });
    }
    const vpn = policy.vpn;
    if (vpn && vpn.hub === host.name) {
      const peers = vpn.members.filter((m) => m.role === "peer");
      for (const peer of peers) {
        for (const from of policy.machines.get(peer.name)?.physical ?? []) {
          const to = firstOf(machine.physical, from.family);
          if (!to) continue;
          probe(`WireGuard (udp/${vpn.listenPort}) from \`${peer.name}\` (${formatPrefix(from)})`, "wireguard", {
            family: from.family, iif: iface, saddr: from.bits, daddr: to.bits, proto: "udp", dport: vpn.listenPort, ct: "new",
          });
        }
      }
      // peers without a known address (laptops on the road) come from anywhere: from an
      // address the policy names nowhere, the port must be open
      const roaming = peers.filter((p) => (policy.machines.get(p.name)?.physical ?? []).length === 0).map((p) => `\`${p.name}\``);
      for (const to of roaming.length > 0 ? machine.physical : []) {
        const from = unnamedAddress(policy, to.family);
        if (from === undefined) continue;
        probe(`WireGuard (udp/${vpn.listenPort}) from ${roaming.join(", ")}, which may come from any address (e.g. ${formatBits(to.family, from)})`, "wireguard", {
          family: to.family, iif: iface, saddr: from, daddr: to.bits, proto: "udp", dport: vpn.listenPort, ct: "new",
        });
      }
    }
    out.push(...spoofableOverlaySources(policy, host));
  }
  return out;
}

const SOMEWHERE: Record<Family, readonly string[]> = {
  4: ["203.0.113.77", "198.51.100.77", "192.0.2.77", "100.64.7.7", "198.18.7.7", "11.7.7.7", "45.7.7.7"],
  6: ["2001:db8:ffff:ffff::77", "2001:db8:7777::7", "2a00:7777::7", "fd77:7777::7"],
};

/** An address of the family that no prefix of the policy contains: "somewhere else on the internet". */
function unnamedAddress(policy: CheckedPolicy, family: Family): bigint | undefined {
  const named: Prefix[] = [...(policy.vpn?.networks ?? [])];
  for (const m of policy.machines.values()) named.push(...m.physical, ...m.overlay);
  for (const r of [...policy.rules, ...policy.earlyDrops]) {
    for (const s of r.sources) if (s.kind === "prefix") named.push(s.prefix);
  }
  for (const text of SOMEWHERE[family]) {
    const parsed = parseAddress(text);
    if (parsed.ok && !named.some((p) => containsAddress(p, family, parsed.bits))) return parsed.bits;
  }
  return undefined;
}

/** An accepting rule whose sources include overlay addresses must also require the VPN interface. */
function spoofableOverlaySources(policy: CheckedPolicy, host: HostIr): Diagnostic[] {
  const vpn = policy.vpn;
  if (!vpn) return [];
  const out: Diagnostic[] = [];
  for (const family of [4, 6] as const) {
    for (const hook of ["input", "forward"] as const) {
      for (const rule of host.families[family].filter[hook].sections.flatMap((s) => s.rules)) {
        if (rule.verdict.kind !== "accept" || !rule.match.saddr) continue;
        const overlay = rule.match.saddr.filter((s) => vpn.networks.some((n) => prefixesOverlap(n, s)));
        const onVpn = rule.match.iif && !rule.match.iif.negate && rule.match.iif.name === vpn.iface;
        if (overlay.length > 0 && !onVpn) {
          out.push(diagnostic("spoofable-overlay-source", { host: host.name, hook, prefix: overlay.map(formatPrefix).join(", "), iface: vpn.iface }, policy.rules.find((r) => r.origin.seq === rule.origin.seq)?.origin.span));
        }
      }
    }
  }
  return out;
}
