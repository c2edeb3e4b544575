// `expect S -> D:svc allow|deny`, decided by the reference semantics along
// every path a packet can take: straight to the destination, or through the
// hub (forward, then masqueraded or over the VPN) to it.
//
// `allow` holds when the traffic gets through on at least one path; `deny`
// (and `reject`) when no packet of it gets through on any path. The check is
// exact, not sampled: every rule matches whole prefixes and port ranges, so
// the verdict is constant between the policy's own boundaries, and one
// packet per region (a boundary inside the expectation's range) decides.
import { containsAddress, familyWidth, formatBits, lastAddress, prefixContains, type Family, type Prefix } from "../net/address.js";
import type { CheckedExpect, CheckedPolicy, Machine, SourceAtom } from "../check/model.js";
import type { L4, PortProto } from "../net/services.js";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import { evaluate, type Decision, type Packet, type PacketProto } from "./evaluate.js";
import { earlyVerdict, IP_PROTOCOL } from "./early.js";
import type { HostIr, IrRule } from "./types.js";

interface Hop {
  readonly host: string;
  readonly hook: "input" | "forward";
  readonly packet: Packet;
}

type L4Probe = Pick<Packet, "proto" | "dport" | "icmpType">;

/** Every prefix the policy names: the boundaries of the regions its rules can tell apart. */
function policyPrefixes(policy: CheckedPolicy): Prefix[] {
  const out: Prefix[] = [...(policy.vpn?.networks ?? [])];
  for (const m of policy.machines.values()) out.push(...m.physical, ...m.overlay);
  for (const r of policy.rules) {
    for (const s of r.sources) if (s.kind === "prefix") out.push(s.prefix);
    for (const d of r.dests) if (d.kind === "prefix") out.push(d.prefix);
  }
  return out;
}

/** One source address per region of `within` (all of the family when undefined). */
function sourceAddresses(boundaries: readonly Prefix[], family: Family, within?: Prefix): bigint[] {
  const inside = (bits: bigint) => (within ? containsAddress(within, family, bits) : true);
  const max = (1n << BigInt(familyWidth(family))) - 1n;
  const out = new Set<bigint>([within ? within.bits : 1n]);
  for (const p of boundaries) {
    if (p.family !== family) continue;
    const after = lastAddress(p) + 1n;
    if (inside(p.bits)) out.add(p.bits);
    if (after <= max && inside(after)) out.add(after);
  }
  return [...out];
}

/** One port per region of each range, bounded by the policy's own port ranges. */
function portProbes(policy: CheckedPolicy, proto: PortProto, ranges: L4 & { kind: "ports" }): number[] {
  const cuts = new Set<number>();
  for (const r of policy.rules) {
    if (r.services === null) continue;
    for (const l4 of [...r.services[4], ...r.services[6]]) {
      if (l4.kind !== "ports" || l4.proto !== proto || !l4.ports) continue;
      for (const range of l4.ports) cuts.add(range.low).add(range.high + 1);
    }
  }
  const wanted = ranges.ports ?? [{ low: 1, high: 65535 }];
  const out = new Set<number>();
  for (const w of wanted) {
    out.add(w.low);
    for (const c of cuts) if (c >= w.low && c <= w.high) out.add(c);
  }
  return [...out];
}

function icmpProbes(policy: CheckedPolicy, l4: L4 & { kind: "icmp" }): number[] {
  if (l4.types) return [...l4.types];
  const used = new Set<number>([0]);
  for (const r of policy.rules) {
    if (r.services === null) continue;
    for (const x of [...r.services[4], ...r.services[6]]) if (x.kind === "icmp" && x.proto === l4.proto && x.types) x.types.forEach((t) => used.add(t));
  }
  return [...used];
}

function l4Probes(policy: CheckedPolicy, e: CheckedExpect, family: Family): L4Probe[] {
  const forms: L4[] =
    e.services === null
      ? [
          { kind: "ports", proto: "tcp", ports: null },
          { kind: "ports", proto: "udp", ports: null },
          { kind: "ports", proto: "sctp", ports: null },
          { kind: "icmp", proto: family === 4 ? "icmp" : "icmpv6", types: null },
        ]
      : [...e.services[family]];
  const probes: L4Probe[] = forms.flatMap((l4): L4Probe[] =>
    l4.kind === "ports"
      ? portProbes(policy, l4.proto, l4).map((dport) => ({ proto: l4.proto as PacketProto, dport }))
      : icmpProbes(policy, l4).map((icmpType) => ({ proto: l4.proto as PacketProto, icmpType })),
  );
  return e.services === null ? [...probes, { proto: "other" }] : probes;
}

const physicalIface = (m: Machine) => m.ifaces[0] ?? "eth0";

type Base = Omit<Packet, "saddr" | "daddr" | "iif" | "oif">;

function paths(policy: CheckedPolicy, fromVpn: boolean, saddr: bigint, dest: Machine, daddr: Prefix, viaOverlay: boolean, base: Base): Hop[][] {
  const family = daddr.family;
  const vpn = policy.vpn;
  const hub = vpn ? policy.machines.get(vpn.hub) : undefined;
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

function describe(hop: Trace["hops"][number]): string {
  const d = hop.decision;
  const by = d.rule ? (d.rule.origin.kind === "policy" ? `the rule at ${d.rule.origin.label}` : `the ${d.rule.origin.label} rule`) : "the default";
  const where = hop.early ? `early drop on ${hop.early.iface}` : hop.hook;
  return `\`${hop.host}\` ${where} (${d.verdict} by ${by})`;
}

// an IP protocol number no rule names, for packets of "other" protocols
const OTHER_PROTOCOL = 253;

/**
 * The hub's XDP program sees a packet before its firewall does: the early
 * drop that takes it, if any, on the interface it arrives by.
 */
function earlyDrop(host: HostIr, p: Packet): { iface: string; label: string } | undefined {
  const program = p.iif === undefined ? undefined : host.early.find((x) => x.iface === p.iif);
  if (!program) return undefined;
  const proto = p.proto === "other" ? OTHER_PROTOCOL : IP_PROTOCOL[p.proto];
  const v = earlyVerdict(program, { family: p.family, saddr: p.saddr, daddr: p.daddr, proto, l4: true, dport: p.dport, icmpType: p.icmpType });
  return v.verdict === "drop" ? { iface: program.iface, label: program.rules[v.rule!]!.label } : undefined;
}

function destinations(policy: CheckedPolicy, e: CheckedExpect): { machine: Machine; address: Prefix; overlay: boolean }[] {
  const out: { machine: Machine; address: Prefix; overlay: boolean }[] = [];
  for (const m of policy.machines.values()) {
    const named = e.dests.some((d) => d.kind === "any" || (d.kind === "machine" && d.name === m.name));
    for (const [address, overlay] of [...m.physical.map((p) => [p, false] as const), ...m.overlay.map((p) => [p, true] as const)]) {
      const byPrefix = e.dests.some((d) => d.kind === "prefix" && prefixContains(d.prefix, address));
      if (named || byPrefix) out.push({ machine: m, address, overlay });
    }
  }
  return out;
}

/** The sources of an expectation as (VPN identity?, address) pairs; `any` includes the VPN's members. */
function sources(policy: CheckedPolicy, boundaries: readonly Prefix[], atoms: readonly SourceAtom[], family: Family): { fromVpn: boolean; saddr: bigint }[] {
  const out: { fromVpn: boolean; saddr: bigint }[] = [];
  for (const a of atoms) {
    if (a.kind === "any") {
      for (const saddr of sourceAddresses(boundaries, family)) out.push({ fromVpn: false, saddr });
      for (const n of policy.vpn?.networks ?? []) {
        if (n.family === family) for (const saddr of sourceAddresses(boundaries, family, n)) out.push({ fromVpn: true, saddr });
      }
    } else if (a.prefix.family === family) {
      for (const saddr of sourceAddresses(boundaries, family, a.prefix)) out.push({ fromVpn: a.viaVpn, saddr });
    }
  }
  return out;
}

const earlyRule = (label: string): IrRule => ({ match: {}, verdict: { kind: "drop" }, origin: { seq: -1, kind: "policy", label } });

/** One path a packet of an expectation can take, and what each machine on it decided. */
export interface Trace {
  readonly packet: Packet;
  readonly viaVpn: boolean;
  readonly hops: readonly {
    readonly host: string;
    readonly hook: "input" | "forward";
    readonly packet: Packet;
    readonly decision: Decision;
    /** set when the hub's XDP program dropped the packet before this hook saw it */
    readonly early?: { readonly iface: string; readonly label: string };
  }[];
  /** every hop accepted */
  readonly delivered: boolean;
}

/** Every representative packet of the expectation along every path it can take. */
export function* traces(policy: CheckedPolicy, hosts: readonly HostIr[], e: CheckedExpect): Generator<Trace> {
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const boundaries = policyPrefixes(policy);
  for (const dest of destinations(policy, e)) {
    const family = dest.address.family;
    if (e.family !== undefined && e.family !== family) continue;
    for (const src of sources(policy, boundaries, e.sources, family)) {
      for (const l4 of l4Probes(policy, e, family)) {
        const packet: Packet = { family, ct: e.state, ...l4, saddr: src.saddr, daddr: dest.address.bits };
        for (const path of paths(policy, src.fromVpn, src.saddr, dest.machine, dest.address, dest.overlay, { family, ct: e.state, ...l4 })) {
          if (e.iface !== undefined && path[path.length - 1]!.packet.iif !== e.iface) continue;
          const hops = path.map((hop) => {
            const host = byName.get(hop.host)!;
            const early = earlyDrop(host, hop.packet);
            // the early drop decides as a rule would; it is no rule of the firewall's chains
            const decision: Decision = early ? { verdict: "drop", rule: earlyRule(early.label) } : evaluate(host, hop.hook, hop.packet);
            return early ? { ...hop, decision, early } : { ...hop, decision };
          });
          yield { packet, viaVpn: src.fromVpn, hops, delivered: hops.every((h) => h.decision.verdict === "accept") };
        }
      }
    }
  }
}

export function describeFlow(p: Packet): string {
  return `${formatBits(p.family, p.saddr)} → ${formatBits(p.family, p.daddr)}${p.dport !== undefined ? ` port ${p.dport}` : ""}`;
}

function evaluateOne(policy: CheckedPolicy, hosts: readonly HostIr[], e: CheckedExpect): Diagnostic | undefined {
  let refused: string | undefined;
  const wantAllow = e.verdict === "allow";
  for (const t of traces(policy, hosts, e)) {
    const what = describeFlow(t.packet);
    if (t.delivered) {
      if (wantAllow) return undefined;
      // one packet through is enough to fail a deny: no need to look further
      return diagnostic("expectation-failed", { expected: e.verdict, actual: "allow", where: `${what}: ${t.hops.map(describe).join(", then ")}` }, e.span);
    } else {
      const blocked = t.hops.find((h) => h.decision.verdict !== "accept")!;
      refused ??= `${what}: ${describe(blocked)}`;
    }
  }
  if (wantAllow) {
    return diagnostic("expectation-failed", { expected: "allow", actual: "deny", where: refused ?? "no path reaches the destination" }, e.span);
  }
  return undefined;
}

export function evaluateExpectations(policy: CheckedPolicy, hosts: readonly HostIr[]): Diagnostic[] {
  return policy.expects.map((e) => evaluateOne(policy, hosts, e)).filter((d): d is Diagnostic => d !== undefined);
}
