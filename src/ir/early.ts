// `drop … early` → the rules of the XDP program on each hub interface, and
// the reference semantics of that program. Every rule is on the physical
// interface (where an overlay source can only be spoofed, and is dropped
// as well); rules from overlay sources or `any` are on the VPN interface
// too, where only overlay sources arrive.
import type { CheckedEarlyDrop, CheckedPolicy } from "../check/model.js";
import { containsAddress, FAMILIES, normalisePrefixes, type Family, type Prefix } from "../net/address.js";
import type { L4 } from "../net/services.js";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";

/** The program keeps one bit per rule (bpf-runtime/wgpc_xdp.h). */
export const MAX_XDP_RULES = 64;

export const IP_PROTOCOL = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58 } as const;

export interface XdpRule {
  readonly label: string;
  /** per family: null when the family is not matched at all; otherwise source and destination sets (null = any) */
  readonly match: Readonly<Record<Family, { readonly src: readonly Prefix[] | null; readonly dst: readonly Prefix[] | null } | null>>;
  /** IP protocol number, 0 for any */
  readonly proto: number;
  readonly ports?: { readonly low: number; readonly high: number };
  readonly icmpType?: number;
}

export interface XdpProgram {
  readonly iface: string;
  /** the device has no Ethernet header (the VPN interface) */
  readonly l3: boolean;
  readonly rules: readonly XdpRule[];
}

interface L4Form {
  readonly proto: number;
  readonly ports?: { low: number; high: number };
  readonly icmpType?: number;
}

function forms(l4s: readonly L4[] | null): L4Form[] {
  if (l4s === null) return [{ proto: 0 }];
  return l4s.flatMap((l4): L4Form[] => {
    const proto = IP_PROTOCOL[l4.proto];
    if (l4.kind === "ports") return l4.ports === null ? [{ proto }] : l4.ports.map((r) => ({ proto, ports: { low: r.low, high: r.high } }));
    return l4.types === null ? [{ proto }] : l4.types.map((t) => ({ proto, icmpType: t }));
  });
}

const formKey = (f: L4Form) => `${f.proto}:${f.ports?.low ?? ""}-${f.ports?.high ?? ""}:${f.icmpType ?? ""}`;

/** The rules one `drop … early` gives on one interface, from the given sources. */
function rulesOf(drop: CheckedEarlyDrop, sources: CheckedEarlyDrop["sources"]): XdpRule[] {
  const perFamily = new Map<string, { form: L4Form; match: Record<Family, XdpRule["match"][Family]> }>();
  for (const family of FAMILIES) {
    const anySource = sources.some((s) => s.kind === "any");
    const src = anySource ? null : normalisePrefixes(sources.flatMap((s) => (s.kind === "prefix" && s.prefix.family === family ? [s.prefix] : [])));
    const dst = drop.dests === null ? null : drop.dests.filter((p) => p.family === family);
    if ((src && src.length === 0) || (dst && dst.length === 0)) continue;
    for (const form of forms(drop.services === null ? null : drop.services[family])) {
      const key = formKey(form);
      const entry = perFamily.get(key) ?? { form, match: { 4: null, 6: null } };
      entry.match[family] = { src, dst };
      perFamily.set(key, entry);
    }
  }
  return [...perFamily.values()].map(({ form, match }) => ({ label: drop.origin.label, match, ...form }));
}

export interface EarlyResult {
  readonly programs: readonly XdpProgram[];
  readonly diagnostics: readonly Diagnostic[];
}

export function lowerEarly(policy: CheckedPolicy, host: string): EarlyResult {
  const vpn = policy.vpn;
  if (!vpn || vpn.hub !== host || policy.earlyDrops.length === 0) return { programs: [], diagnostics: [] };
  const hub = policy.machines.get(host)!;
  const physical = hub.ifaces[0] ?? "eth0";
  const perIface = new Map<string, XdpRule[]>([
    [physical, []],
    [vpn.iface, []],
  ]);
  const firstOn = new Map<string, CheckedEarlyDrop>();
  for (const drop of policy.earlyDrops) {
    // Only overlay sources arrive through the tunnel; any source may arrive
    // on the physical interface, overlay ones spoofed: a drop covers those too.
    const viaVpn = drop.sources.filter((s) => s.kind === "any" || s.viaVpn);
    const outside = drop.sources;
    for (const [iface, sources] of [[physical, outside], [vpn.iface, viaVpn]] as const) {
      if (sources.length === 0) continue;
      const rules = rulesOf(drop, sources);
      if (rules.length > 0 && !firstOn.has(iface)) firstOn.set(iface, drop);
      perIface.get(iface)!.push(...rules);
    }
  }
  const diagnostics: Diagnostic[] = [];
  const programs: XdpProgram[] = [];
  for (const [iface, rules] of [...perIface].sort(([a], [b]) => a.localeCompare(b))) {
    if (rules.length === 0) continue;
    if (rules.length > MAX_XDP_RULES) {
      diagnostics.push(diagnostic("too-many-early-rules", { iface, count: rules.length, limit: MAX_XDP_RULES }, firstOn.get(iface)!.origin.span));
      continue;
    }
    programs.push({ iface, l3: iface === vpn.iface, rules });
  }
  return { programs, diagnostics };
}

/** A packet as the XDP program sees it once parsed. */
export interface EarlyPacket {
  readonly family: Family;
  readonly saddr: bigint;
  readonly daddr: bigint;
  readonly proto: number;
  /** the L4 header is there: a whole packet or a first fragment */
  readonly l4: boolean;
  readonly dport?: number;
  readonly icmpType?: number;
}

/** The reference verdict of a program's rules for a parsed packet, and the rule that decided. */
export function earlyVerdict(program: XdpProgram, p: EarlyPacket): { verdict: "drop" | "pass"; rule?: number } {
  if (p.family === 6 && p.proto === IP_PROTOCOL.icmpv6 && p.l4 && p.icmpType !== undefined && p.icmpType >= 133 && p.icmpType <= 137) {
    return { verdict: "pass" };
  }
  const inside = (set: readonly Prefix[] | null, bits: bigint) => set === null || set.some((x) => containsAddress(x, p.family, bits));
  for (const [i, r] of program.rules.entries()) {
    const m = r.match[p.family];
    if (!m || !inside(m.src, p.saddr) || !inside(m.dst, p.daddr)) continue;
    if (r.proto !== 0 && r.proto !== p.proto) continue;
    if (r.ports && (!p.l4 || p.dport === undefined || p.dport < r.ports.low || p.dport > r.ports.high)) continue;
    if (r.icmpType !== undefined && (!p.l4 || p.icmpType !== r.icmpType)) continue;
    return { verdict: "drop", rule: i };
  }
  return { verdict: "pass" };
}
