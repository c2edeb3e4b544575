// Protocols, ports and ICMP types, independent of any backend's spelling.
import type { Family } from "./address.js";

export interface PortRange {
  readonly low: number;
  readonly high: number;
}

export type PortProto = "tcp" | "udp" | "sctp";
export const PORT_PROTOCOLS: readonly PortProto[] = ["tcp", "udp", "sctp"];
export type IcmpProto = "icmp" | "icmpv6";

/** What one service item means in one address family. */
export type L4 =
  | { readonly kind: "ports"; readonly proto: PortProto; readonly ports: readonly PortRange[] | null }
  | { readonly kind: "icmp"; readonly proto: IcmpProto; readonly types: readonly number[] | null };

export const icmpProtoOf = (family: Family): IcmpProto => (family === 4 ? "icmp" : "icmpv6");

/** ICMP type names as nft spells them, with numbers per family. */
export const ICMP_TYPES: Readonly<Record<string, { v4?: number; v6?: number }>> = {
  "echo-reply": { v4: 0, v6: 129 },
  "destination-unreachable": { v4: 3, v6: 1 },
  "source-quench": { v4: 4 },
  redirect: { v4: 5 },
  "echo-request": { v4: 8, v6: 128 },
  "router-advertisement": { v4: 9 },
  "router-solicitation": { v4: 10 },
  "time-exceeded": { v4: 11, v6: 3 },
  "parameter-problem": { v4: 12, v6: 4 },
  "timestamp-request": { v4: 13 },
  "timestamp-reply": { v4: 14 },
  "packet-too-big": { v6: 2 },
  "mld-listener-query": { v6: 130 },
  "mld-listener-report": { v6: 131 },
  "mld-listener-done": { v6: 132 },
  "nd-router-solicit": { v6: 133 },
  "nd-router-advert": { v6: 134 },
  "nd-neighbor-solicit": { v6: 135 },
  "nd-neighbor-advert": { v6: 136 },
  "nd-redirect": { v6: 137 },
  "mld2-listener-report": { v6: 143 },
};

/** nft's name for a type number, where it has one. */
export function icmpTypeName(proto: IcmpProto, type: number): string | undefined {
  const key = proto === "icmp" ? "v4" : "v6";
  for (const [name, numbers] of Object.entries(ICMP_TYPES)) if (numbers[key] === type) return name;
  return undefined;
}

export const comparePortRanges = (a: PortRange, b: PortRange): number => a.low - b.low || a.high - b.high;

/** Sorted, with overlapping and adjacent ranges joined. */
export function normalisePortRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort(comparePortRanges);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.low <= last.high + 1) out[out.length - 1] = { low: last.low, high: Math.max(last.high, r.high) };
    else out.push(r);
  }
  return out;
}

export const portInRanges = (port: number, ranges: readonly PortRange[]): boolean =>
  ranges.some((r) => r.low <= port && port <= r.high);

/**
 * Joins the L4 matches of one rule that share a protocol into one match, so a
 * rule with `{ssh, http}` becomes one multiport/set match, not two rules. A
 * match without ports (all of tcp) absorbs the port lists of its protocol.
 */
export function mergeL4(items: readonly L4[]): L4[] {
  const ports = new Map<PortProto, PortRange[] | null>();
  const icmp = new Map<IcmpProto, number[] | null>();
  for (const item of items) {
    if (item.kind === "ports") {
      const known = ports.get(item.proto);
      if (known === null) continue;
      ports.set(item.proto, item.ports === null ? null : [...(known ?? []), ...item.ports]);
    } else {
      const known = icmp.get(item.proto);
      if (known === null) continue;
      icmp.set(item.proto, item.types === null ? null : [...(known ?? []), ...item.types]);
    }
  }
  const out: L4[] = [];
  for (const proto of PORT_PROTOCOLS) {
    if (!ports.has(proto)) continue;
    const list = ports.get(proto)!;
    out.push({ kind: "ports", proto, ports: list === null ? null : normalisePortRanges(list) });
  }
  for (const proto of ["icmp", "icmpv6"] as const) {
    if (!icmp.has(proto)) continue;
    const list = icmp.get(proto)!;
    out.push({ kind: "icmp", proto, types: list === null ? null : [...new Set(list)].sort((a, b) => a - b) });
  }
  return out;
}
