// IR → iptables-restore files (one per family), spelled as iptables-save
// prints them back: `-s -d -i -o -p`, then matches, then `-j`; and the ipset
// restore file with the sets they use. iptables has no address sets of its
// own: compacted lookups and long address lists become ipsets, so the
// kernel does one hash lookup where it would walk one rule per element.
import { familyWidth, formatPrefix, formatPrefixShort, type Family, type Prefix } from "../../net/address.js";
import type { L4, PortRange } from "../../net/services.js";
import { compactRules, lookupVerdicts, type Lookup } from "../../ir/compact.js";
import { verdictKey } from "../../ir/passes.js";
import type { Chain, FamilyIr, HostIr, IrRule, Verdict } from "../../ir/types.js";
import type { Artifact, Backend, EmitContext } from "../types.js";
import { chunkByWeight, lookupComment, portText, quoted, ruleComment } from "../shared/text.js";
import { artifact, linePieces } from "../shared/pieces.js";

// multiport takes at most 15 ports, a range counting as two
const MULTIPORT_SLOTS = 15;
// an address list longer than this goes to an ipset instead of one line per address
export const IPSET_MIN_ADDRESSES = 8;
// hash:net,port stores every port of a range: wider ranges stay on their own lines
const IPSET_MAX_PORTS_PER_ELEMENT = 64;

export interface IpSet {
  readonly name: string;
  readonly type: "hash:net" | "hash:net,port";
  readonly family: Family;
  readonly members: readonly string[];
}

const SHORT_HOOK: Record<Chain["hook"], string> = { input: "in", forward: "fwd", output: "out", postrouting: "post" };

/**
 * The sets of one chain and family. A name says its type (n: hash:net, p:
 * hash:net,port) so that a set of one name can always be swapped for its
 * successor, which must have the same type.
 */
class SetPlan {
  readonly sets: IpSet[] = [];
  constructor(
    private readonly hook: Chain["hook"],
    private readonly family: Family,
  ) {}
  add(type: IpSet["type"], members: readonly string[]): string {
    const name = `wgpc-${SHORT_HOOK[this.hook]}${this.family}-${type === "hash:net" ? "n" : "p"}${this.sets.length + 1}`;
    this.sets.push({ name, type, family: this.family, members });
    return name;
  }
}

// a list shared among machines (a blocklist) is spelled once
const membersOf = new WeakMap<readonly Prefix[], readonly string[]>();
function netMembers(prefixes: readonly Prefix[]): readonly string[] {
  let known = membersOf.get(prefixes);
  if (!known) {
    known = prefixes.flatMap(ipsetPrefixes).map(formatPrefixShort);
    membersOf.set(prefixes, known);
  }
  return known;
}

/** hash:net takes prefix lengths from 1: the whole space is its two halves. */
function ipsetPrefixes(p: Prefix): Prefix[] {
  if (p.length > 0) return [p];
  const width = familyWidth(p.family);
  return [
    { family: p.family, bits: 0n, length: 1 },
    { family: p.family, bits: 1n << BigInt(width - 1), length: 1 },
  ];
}

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

/**
 * The lines of one rule. `setMatch` is a set lookup that stands for part of
 * the match; an address list longer than IPSET_MIN_ADDRESSES becomes a set
 * of its own when a plan is given.
 */
function ruleLines(chain: string, rule: IrRule, family: Family, plan?: SetPlan, setMatch?: string, comment = ruleComment(rule)): string[] {
  const m = rule.match;
  const setMatches = setMatch ? [setMatch] : [];
  const addressLines = (prefixes: readonly Prefix[] | undefined, flag: "-s" | "-d", direction: "src" | "dst"): string[] => {
    if (!prefixes) return [""];
    if (plan && prefixes.length > IPSET_MIN_ADDRESSES) {
      setMatches.push(`-m set --match-set ${plan.add("hash:net", netMembers(prefixes))} ${direction}`);
      return [""];
    }
    return prefixes.map((p) => `${flag} ${formatPrefix(p)}`);
  };
  const sources = addressLines(m.saddr, "-s", "src");
  const dests = addressLines(m.daddr, "-d", "dst");
  const ifaces = [
    m.iif ? `${m.iif.negate ? "! " : ""}-i ${m.iif.name}` : "",
    m.oif ? `${m.oif.negate ? "! " : ""}-o ${m.oif.name}` : "",
  ];
  const after = [
    ...setMatches,
    m.ctState ? `-m conntrack --ctstate ${CT_ORDER.filter((s) => m.ctState!.includes(s)).map((s) => s.toUpperCase()).join(",")}` : "",
    m.hopLimit !== undefined ? `-m hl --hl-eq ${m.hopLimit}` : "",
    `-m comment --comment ${quoted(comment)}`,
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

/**
 * A compacted lookup: its elements in one ipset per verdict, each with a
 * line that looks it up (a map's elements are disjoint, so the order of
 * those lines does not matter); elements with a port range too wide for
 * hash:net,port keep lines of their own, for the same reason.
 */
function lookupLines(chain: string, lookup: Lookup, plan: SetPlan): string[] {
  const inSet = lookup.elements.filter((e) => !e.ports || e.ports.high - e.ports.low < IPSET_MAX_PORTS_PER_ELEMENT);
  const alone = lookup.elements.filter((e) => !inSet.includes(e));
  const comment = lookupComment(lookup.rules);
  const origin = lookup.rules[0]!.origin;
  const direction = lookup.address === "saddr" ? "src" : "dst";
  const lines: string[] = [];
  for (const verdict of lookupVerdicts(lookup)) {
    const mine = inSet.filter((e) => verdictKey(e.verdict) === verdictKey(verdict));
    if (mine.length === 0) continue;
    const members = lookup.portProto
      ? mine.flatMap((e) => ipsetPrefixes(e.address).map((a) => `${formatPrefixShort(a)},${lookup.portProto}:${portText(e.ports!, "-")}`))
      : netMembers(mine.map((e) => e.address));
    const name = plan.add(lookup.portProto ? "hash:net,port" : "hash:net", members);
    // the protocol first, as nft's `tcp dport` does: other packets skip the lookup
    // (its elements hold the protocol, so this changes no verdict)
    const match = lookup.portProto ? { ...lookup.common, l4: { kind: "ports" as const, proto: lookup.portProto, ports: null } } : lookup.common;
    const rule: IrRule = { match, verdict, origin };
    lines.push(...ruleLines(chain, rule, lookup.family, plan, `-m set --match-set ${name} ${direction}${lookup.portProto ? ",dst" : ""}`, comment));
  }
  // the rest by address and verdict, their ranges in multiport chunks
  const byAddress = new Map<string, { address: Prefix; verdict: Verdict; ports: PortRange[] }>();
  for (const e of alone) {
    const key = `${formatPrefix(e.address)} ${verdictKey(e.verdict)}`;
    byAddress.set(key, { address: e.address, verdict: e.verdict, ports: [...(byAddress.get(key)?.ports ?? []), e.ports!] });
  }
  for (const { address, verdict, ports } of byAddress.values()) {
    // iptables-save prints no address for the whole space
    const match = { ...lookup.common, [lookup.address]: address.length === 0 ? undefined : [address], l4: { kind: "ports" as const, proto: lookup.portProto!, ports } };
    lines.push(...ruleLines(chain, { match, verdict, origin }, lookup.family, plan, undefined, comment));
  }
  return lines;
}

interface TableParts {
  /** rules of the built-in chains, in the table's chain order */
  builtinRules: string[];
  /** wgpc's own chains by name */
  own: Map<string, string[]>;
}

function addChain(parts: TableParts, chain: Chain, family: Family, plan: SetPlan | undefined): void {
  const builtin = BUILTIN_CHAIN[chain.hook];
  for (const section of chain.sections) {
    if (section.rules.length === 0) continue;
    const name = `wgpc-${chain.hook}-${section.name}`;
    parts.builtinRules.push(`-A ${builtin} -j ${name}`);
    parts.own.set(
      name,
      plan
        ? compactRules(section.rules, family).flatMap((item) => (item.kind === "rule" ? ruleLines(name, item.rule, family, plan) : lookupLines(name, item, plan)))
        : section.rules.flatMap((rule) => ruleLines(name, rule, family)),
    );
  }
  for (const rule of chain.tail) parts.builtinRules.push(...ruleLines(builtin, rule, family));
}

/** A table in iptables-save's order: own chains sorted by name, after the built-in chains' rules. */
function tableText(name: string, builtins: readonly string[], chains: readonly Chain[], family: Family, sets: IpSet[], compact: boolean): string {
  const parts: TableParts = { builtinRules: [], own: new Map() };
  for (const chain of chains) {
    const plan = compact ? new SetPlan(chain.hook, family) : undefined;
    addChain(parts, chain, family, plan);
    sets.push(...(plan?.sets ?? []));
  }
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

/** Whether the family's restore file has a nat table: the machine masquerades. */
export const masquerades = (ir: FamilyIr): boolean => ir.postrouting.sections.some((s) => s.rules.length > 0) || ir.postrouting.tail.length > 0;

/** The restore file of one family, and the ipsets its rules use. */
export function restoreFileAndSets(host: HostIr, family: Family, context: EmitContext): { text: string; sets: IpSet[] } {
  const ir: FamilyIr = host.families[family];
  const sets: IpSet[] = [];
  const filter = [ir.filter.input, ir.filter.forward, ir.filter.output];
  // The nat table only where the machine masquerades: an empty one would
  // still put the kernel's NAT hooks in every packet's path. apply.sh
  // removes the chains an older bundle's masquerade left (masqueradeCleanup).
  const natHeaders = [":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", header(ir.postrouting)];
  const tables = [
    tableText("filter", filter.map(header), filter, family, sets, context.compact !== false),
    ...(masquerades(ir) ? [tableText("nat", natHeaders, [ir.postrouting], family, sets, context.compact !== false)] : []),
  ];
  const tool = family === 4 ? "iptables-restore" : "ip6tables-restore";
  return { text: `# ${tool} input for ${host.name}, generated by wgpc ${context.version}\n${tables.join("\n")}\n`, sets };
}

export const restoreFile = (host: HostIr, family: Family, context: EmitContext): string => restoreFileAndSets(host, family, context).text;

/**
 * `ipset restore` input: every set under its name with IPSET_SUFFIX, which
 * apply.sh swaps in for the set in use (or renames), so that rules never
 * see a set missing or half filled.
 */
export const IPSET_SUFFIX = "-n";

// a blocklist's set has the same name and members on every machine: its lines are built once
const addLinesOf = new WeakMap<readonly string[], Map<string, string>>();
function addLines(name: string, members: readonly string[]): string {
  const byName = addLinesOf.get(members) ?? new Map<string, string>();
  addLinesOf.set(members, byName);
  let text = byName.get(name);
  if (text === undefined) byName.set(name, (text = members.map((m) => `add ${name} ${m}`).join("\n")));
  return text;
}

/** The file as pieces: a shared set's lines are one piece, the same string on every machine. */
export function ipsetFile(host: HostIr, sets: readonly IpSet[], context: EmitContext): string[] {
  const lines = [`# ipset restore input for ${host.name}, generated by wgpc ${context.version}`];
  for (const set of sets) {
    const temporary = `${set.name}${IPSET_SUFFIX}`;
    const maxelem = Math.max(65536, 2 ** Math.ceil(Math.log2(set.members.length * 2)));
    lines.push(`create ${temporary} ${set.type} family ${set.family === 4 ? "inet" : "inet6"} hashsize 1024 maxelem ${maxelem}`);
    lines.push(`flush ${temporary}`);
    if (set.members.length > 0) lines.push(addLines(temporary, set.members));
  }
  return linePieces(lines);
}

export const iptablesBackend: Backend = {
  name: "iptables",
  description: "iptables-restore and ip6tables-restore files (filter and nat tables)",
  emit: (host, context): Artifact[] => {
    const v4 = restoreFileAndSets(host, 4, context);
    const v6 = restoreFileAndSets(host, 6, context);
    const sets = [...v4.sets, ...v6.sets];
    return [
      artifact("iptables.rules", v4.text),
      artifact("ip6tables.rules", v6.text),
      ...(sets.length > 0 ? [artifact("ipset.rules", ipsetFile(host, sets, context))] : []),
    ];
  },
};
