// IR → iptables-restore files (one per family), spelled as iptables-save
// prints them back: `-s -d -i -o -p`, then matches, then `-j`.
import { formatPrefix, type Family } from "../../net/address.js";
import type { L4 } from "../../net/services.js";
import type { Chain, FamilyIr, HostIr, IrRule, Verdict } from "../../ir/types.js";
import type { Artifact, Backend, EmitContext } from "../types.js";
import { chunkByWeight, portText, quoted, ruleComment } from "../shared/text.js";

// multiport takes at most 15 ports, a range counting as two
const MULTIPORT_SLOTS = 15;

const BUILTIN_CHAIN: Record<Chain["hook"], string> = {
  input: "INPUT",
  forward: "FORWARD",
  output: "OUTPUT",
  postrouting: "POSTROUTING",
};

function verdictText(v: Verdict, family: Family): string {
  switch (v.kind) {
    case "accept":
      return "-j ACCEPT";
    case "drop":
      return "-j DROP";
    case "masquerade":
      return "-j MASQUERADE";
    case "reject":
      if (v.with === "tcp-reset") return "-j REJECT --reject-with tcp-reset";
      return family === 4 ? "-j REJECT --reject-with icmp-port-unreachable" : "-j REJECT --reject-with icmp6-port-unreachable";
  }
}

/** The protocol and its match, one alternative per line it needs. */
function l4Alternatives(l4: L4 | undefined): string[] {
  if (!l4) return [""];
  if (l4.kind === "ports") {
    if (!l4.ports) return [`-p ${l4.proto}`];
    if (l4.ports.length === 1) return [`-p ${l4.proto} -m ${l4.proto} --dport ${portText(l4.ports[0]!, ":")}`];
    return chunkByWeight(l4.ports, (r) => (r.low === r.high ? 1 : 2), MULTIPORT_SLOTS).map(
      (chunk) => `-p ${l4.proto} -m multiport --dports ${chunk.map((r) => portText(r, ":")).join(",")}`,
    );
  }
  const [proto, module, option] = l4.proto === "icmp" ? ["icmp", "icmp", "--icmp-type"] : ["ipv6-icmp", "icmp6", "--icmpv6-type"];
  if (!l4.types) return [`-p ${proto}`];
  // iptables matches one ICMP type per rule
  return l4.types.map((t) => `-p ${proto} -m ${module} ${option} ${t}`);
}

const CT_ORDER = ["invalid", "new", "related", "established"] as const;

function ruleLines(chain: string, rule: IrRule, family: Family): string[] {
  const m = rule.match;
  const sources = m.saddr ? m.saddr.map((p) => `-s ${formatPrefix(p)}`) : [""];
  const dests = m.daddr ? m.daddr.map((p) => `-d ${formatPrefix(p)}`) : [""];
  const ifaces = [
    m.iif ? `${m.iif.negate ? "! " : ""}-i ${m.iif.name}` : "",
    m.oif ? `${m.oif.negate ? "! " : ""}-o ${m.oif.name}` : "",
  ];
  const after = [
    m.ctState ? `-m conntrack --ctstate ${CT_ORDER.filter((s) => m.ctState!.includes(s)).map((s) => s.toUpperCase()).join(",")}` : "",
    m.hopLimit !== undefined ? `-m hl --hl-eq ${m.hopLimit}` : "",
    `-m comment --comment ${quoted(ruleComment(rule))}`,
    verdictText(rule.verdict, family),
  ];
  const lines: string[] = [];
  // iptables has no address sets: one line per source, destination and port chunk
  for (const s of sources) {
    for (const d of dests) {
      for (const l4 of l4Alternatives(m.l4)) {
        lines.push(["-A", chain, s, d, ...ifaces, l4, ...after].filter((part) => part !== "").join(" "));
      }
    }
  }
  return lines;
}

interface TableParts {
  /** rules of the built-in chains, in the table's chain order */
  builtinRules: string[];
  /** wgpc's own chains by name */
  own: Map<string, string[]>;
}

function addChain(parts: TableParts, chain: Chain, family: Family): void {
  const builtin = BUILTIN_CHAIN[chain.hook];
  for (const section of chain.sections) {
    if (section.rules.length === 0) continue;
    const name = `wgpc-${chain.hook}-${section.name}`;
    parts.builtinRules.push(`-A ${builtin} -j ${name}`);
    parts.own.set(name, section.rules.flatMap((rule) => ruleLines(name, rule, family)));
  }
  for (const rule of chain.tail) parts.builtinRules.push(...ruleLines(builtin, rule, family));
}

/** A table in iptables-save's order: own chains sorted by name, after the built-in chains' rules. */
function tableText(name: string, builtins: readonly string[], chains: readonly Chain[], family: Family): string {
  const parts: TableParts = { builtinRules: [], own: new Map() };
  for (const chain of chains) addChain(parts, chain, family);
  const ownNames = [...parts.own.keys()].sort();
  return [
    `*${name}`,
    ...builtins,
    ...ownNames.map((n) => `:${n} - [0:0]`),
    ...parts.builtinRules,
    ...ownNames.flatMap((n) => parts.own.get(n)!),
    "COMMIT",
  ].join("\n");
}

const header = (chain: Chain) => `:${BUILTIN_CHAIN[chain.hook]} ${chain.policy.toUpperCase()} [0:0]`;

export function restoreFile(host: HostIr, family: Family, context: EmitContext): string {
  const ir: FamilyIr = host.families[family];
  const filter = [ir.filter.input, ir.filter.forward, ir.filter.output];
  // The nat table is always written, empty when nothing is masqueraded, so
  // that restoring replaces a masquerade an older bundle installed.
  const natHeaders = [":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", header(ir.postrouting)];
  const tables = [
    tableText("filter", filter.map(header), filter, family),
    tableText("nat", natHeaders, [ir.postrouting], family),
  ];
  const tool = family === 4 ? "iptables-restore" : "ip6tables-restore";
  return `# ${tool} input for ${host.name}, generated by wgpc ${context.version}\n${tables.join("\n")}\n`;
}

export const iptablesBackend: Backend = {
  name: "iptables",
  description: "iptables-restore and ip6tables-restore files (filter and nat tables)",
  emit: (host, context): Artifact[] => [
    { path: "iptables.rules", text: restoreFile(host, 4, context) },
    { path: "ip6tables.rules", text: restoreFile(host, 6, context) },
  ],
};
