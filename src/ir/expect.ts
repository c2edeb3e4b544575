// `expect S -> D:svc allow|deny`, decided by the reference semantics along
// every path a packet can take: straight to the destination, or through the
// hub (forward, then masqueraded or over the VPN) to it.
import { familyWidth, formatBits, prefixContains, type Family, type Prefix } from "../net/address.js";
import type { CheckedExpect, CheckedPolicy, Machine, SourceAtom } from "../check/model.js";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import { evaluate, type Decision, type Packet, type PacketProto } from "./evaluate.js";
import type { HostIr } from "./types.js";

interface Hop {
  readonly host: string;
  readonly hook: "input" | "forward";
  readonly packet: Packet;
}

// documentation addresses stand for "anywhere" when `any` is the source
const ANYWHERE: Record<Family, bigint> = { 4: 0xc6336401n, 6: 0x20010db8ffff00000000000000000001n };

const representative = (p: Prefix): bigint =>
  p.length >= familyWidth(p.family) - 1 ? p.bits : p.bits + 1n;

function l4Probes(e: CheckedExpect, family: Family): Pick<Packet, "proto" | "dport" | "icmpType">[] {
  if (e.services === null) return [{ proto: "other" }];
  return e.services[family].map((l4) =>
    l4.kind === "ports"
      ? { proto: l4.proto as PacketProto, dport: l4.ports?.[0]?.low ?? 1 }
      : { proto: l4.proto as PacketProto, icmpType: l4.types?.[0] ?? 8 },
  );
}

const physicalIface = (m: Machine) => m.ifaces[0] ?? "eth0";

function paths(policy: CheckedPolicy, src: SourceAtom, dest: Machine, daddr: Prefix, viaOverlay: boolean, base: Omit<Packet, "saddr" | "daddr" | "iif" | "oif">): Hop[][] {
  const family = daddr.family;
  const vpn = policy.vpn;
  const hub = vpn ? policy.machines.get(vpn.hub) : undefined;
  const saddr = src.kind === "any" ? ANYWHERE[family] : representative(src.prefix);
  const fromVpn = src.kind === "prefix" && src.viaVpn;
  const to = daddr.bits;
  if (fromVpn) {
    if (!vpn || !hub) return [];
    const atHub: Packet = { ...base, saddr, daddr: to, iif: vpn.iface };
    if (dest.name === hub.name) return viaOverlay ? [[{ host: hub.name, hook: "input", packet: atHub }]] : [];
    const forward: Hop = { host: hub.name, hook: "forward", packet: { ...atHub, oif: viaOverlay ? vpn.iface : physicalIface(hub) } };
    if (viaOverlay) return [[forward, { host: dest.name, hook: "input", packet: { ...atHub } }]];
    const masqueraded = policy.masquerade ? hub.physical.find((p) => p.family === family) : undefined;
    const arriving: Packet = { ...base, saddr: masqueraded ? masqueraded.bits : saddr, daddr: to, iif: physicalIface(dest) };
    return [[forward, { host: dest.name, hook: "input", packet: arriving }]];
  }
  if (!viaOverlay) return [[{ host: dest.name, hook: "input", packet: { ...base, saddr, daddr: to, iif: physicalIface(dest) } }]];
  // from outside into the VPN, through the hub
  if (!vpn || !hub || dest.name === hub.name) return [];
  const forward: Hop = { host: hub.name, hook: "forward", packet: { ...base, saddr, daddr: to, iif: physicalIface(hub), oif: vpn.iface } };
  return [[forward, { host: dest.name, hook: "input", packet: { ...base, saddr, daddr: to, iif: vpn.iface } }]];
}

function describe(host: string, hook: string, d: Decision): string {
  const by = d.rule ? (d.rule.origin.kind === "policy" ? `the rule at ${d.rule.origin.label}` : `the ${d.rule.origin.label} rule`) : "the default";
  return `\`${host}\` ${hook} (${d.verdict} by ${by})`;
}

function destinations(policy: CheckedPolicy, e: CheckedExpect): { machine: Machine; address: Prefix; overlay: boolean }[] {
  const out: { machine: Machine; address: Prefix; overlay: boolean }[] = [];
  for (const m of policy.machines.values()) {
    const named = e.dests.some(
      (d) => d.kind === "any" || (d.kind === "machine" && d.name === m.name),
    );
    for (const [address, overlay] of [...m.physical.map((p) => [p, false] as const), ...m.overlay.map((p) => [p, true] as const)]) {
      const byPrefix = e.dests.some((d) => d.kind === "prefix" && prefixContains(d.prefix, address));
      if (named || byPrefix) out.push({ machine: m, address, overlay });
    }
  }
  return out;
}

function evaluateOne(policy: CheckedPolicy, byName: Map<string, HostIr>, e: CheckedExpect): Diagnostic | undefined {
  let accepted: string | undefined;
  let refused: string | undefined;
  for (const dest of destinations(policy, e)) {
    const family = dest.address.family;
    for (const src of e.sources) {
      if (src.kind === "prefix" && src.prefix.family !== family) continue;
      for (const l4 of l4Probes(e, family)) {
        for (const path of paths(policy, src, dest.machine, dest.address, dest.overlay, { family, ct: "new", ...l4 })) {
          const decisions = path.map((hop) => ({ hop, decision: evaluate(byName.get(hop.host)!, hop.hook, hop.packet) }));
          const blocked = decisions.find((d) => d.decision.verdict !== "accept");
          const where = `${formatBits(family, dest.address.bits)}`;
          if (!blocked) accepted ??= `${where}: ${decisions.map((d) => describe(d.hop.host, d.hop.hook, d.decision)).join(", then ")}`;
          else refused ??= `${where}: ${describe(blocked.hop.host, blocked.hop.hook, blocked.decision)}`;
        }
      }
    }
  }
  if (e.verdict === "allow" && !accepted) {
    return diagnostic("expectation-failed", { expected: "allow", actual: "deny", where: refused ?? "no path reaches the destination" }, e.span);
  }
  if (e.verdict !== "allow" && accepted) {
    return diagnostic("expectation-failed", { expected: e.verdict, actual: "allow", where: accepted }, e.span);
  }
  return undefined;
}

export function evaluateExpectations(policy: CheckedPolicy, hosts: readonly HostIr[]): Diagnostic[] {
  const byName = new Map(hosts.map((h) => [h.name, h]));
  return policy.expects.map((e) => evaluateOne(policy, byName, e)).filter((d): d is Diagnostic => d !== undefined);
}
