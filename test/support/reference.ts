// The reference verdict in the interpreters' vocabulary, and a packet
// printed for people.
import { evaluate, type Packet } from "../../src/ir/evaluate.js";
import { formatBits } from "../../src/net/address.js";
import type { HostIr } from "../../src/ir/types.js";
import type { TextVerdict } from "./iptables-interp.js";

export type Hook = "input" | "forward" | "output" | "postrouting";
export const HOOKS: readonly Hook[] = ["input", "forward", "output", "postrouting"];

export function referenceVerdict(host: HostIr, hook: Hook, p: Packet): TextVerdict {
  const d = evaluate(host, hook, p);
  if (d.verdict === "reject") {
    const v = d.rule?.verdict;
    return v?.kind === "reject" && v.with === "tcp-reset" ? "reject:tcp-reset" : "reject:port-unreachable";
  }
  return d.verdict;
}

export function describePacket(p: Packet): string {
  const parts = [
    `IPv${p.family}`,
    `${formatBits(p.family, p.saddr)} -> ${formatBits(p.family, p.daddr)}`,
    p.proto,
    p.dport !== undefined ? `dport ${p.dport}` : "",
    p.icmpType !== undefined ? `type ${p.icmpType}` : "",
    p.hopLimit !== undefined ? `hoplimit ${p.hopLimit}` : "",
    `ct ${p.ct}`,
    p.iif !== undefined ? `in ${p.iif}` : "",
    p.oif !== undefined ? `out ${p.oif}` : "",
  ];
  return parts.filter((x) => x !== "").join(" ");
}
