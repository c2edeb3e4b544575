// The reference semantics: what the IR does with one packet. Later stages
// (expectations, property tests, the lockout check) ask this, not a backend.
import { containsAddress, type Family } from "../net/address.js";
import { portInRanges } from "../net/services.js";
import type { Chain, CtState, FilterHook, HostIr, IfaceMatch, IrRule, Match } from "./types.js";

export type PacketProto = "tcp" | "udp" | "sctp" | "icmp" | "icmpv6" | "other";

export interface Packet {
  readonly family: Family;
  /** absent on locally generated packets */
  readonly iif?: string;
  /** absent before routing (input) */
  readonly oif?: string;
  readonly saddr: bigint;
  readonly daddr: bigint;
  readonly proto: PacketProto;
  readonly dport?: number;
  readonly icmpType?: number;
  readonly ct: CtState;
  readonly hopLimit?: number;
}

export interface Decision {
  readonly verdict: "accept" | "drop" | "reject" | "masquerade";
  /** the rule that decided, or undefined when the chain's policy did */
  readonly rule?: IrRule;
}

function ifaceMatches(want: IfaceMatch | undefined, have: string | undefined): boolean {
  if (!want) return true;
  if (have === undefined) return false;
  return (want.name === have) !== want.negate;
}

export function matches(m: Match, p: Packet): boolean {
  if (!ifaceMatches(m.iif, p.iif) || !ifaceMatches(m.oif, p.oif)) return false;
  if (m.saddr && !m.saddr.some((x) => containsAddress(x, p.family, p.saddr))) return false;
  if (m.daddr && !m.daddr.some((x) => containsAddress(x, p.family, p.daddr))) return false;
  if (m.ctState && !m.ctState.includes(p.ct)) return false;
  if (m.hopLimit !== undefined && p.hopLimit !== m.hopLimit) return false;
  if (m.l4) {
    if (p.proto !== m.l4.proto) return false;
    if (m.l4.kind === "ports" && m.l4.ports && (p.dport === undefined || !portInRanges(p.dport, m.l4.ports))) return false;
    if (m.l4.kind === "icmp" && m.l4.types && (p.icmpType === undefined || !m.l4.types.includes(p.icmpType))) return false;
  }
  return true;
}

export function evaluateChain(chain: Chain, p: Packet): Decision {
  for (const rule of [...chain.sections.flatMap((s) => s.rules), ...chain.tail]) {
    if (matches(rule.match, p)) return { verdict: rule.verdict.kind, rule };
  }
  return { verdict: chain.policy };
}

export function evaluate(host: HostIr, hook: FilterHook | "postrouting", p: Packet): Decision {
  const ir = host.families[p.family];
  return evaluateChain(hook === "postrouting" ? ir.postrouting : ir.filter[hook], p);
}
