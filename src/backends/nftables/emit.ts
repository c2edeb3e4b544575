// IR → one nft script per host with its own `table inet wgpc`, spelled as
// `nft list ruleset` prints it back. Both families share the inet table: a
// rule that does not depend on the family is printed once, a rule that does
// carries its family's matches (or `meta nfproto`).
import { formatBits, formatPrefixShort, prefixesToRanges, rangeAsPrefix, type Family, type Prefix } from "../../net/address.js";
import { icmpTypeName, type L4 } from "../../net/services.js";
import type { Chain, HostIr, IrRule, Match, Verdict } from "../../ir/types.js";
import type { Artifact, Backend, EmitContext } from "../types.js";
import { portText, quoted, ruleComment } from "../shared/text.js";

const HOOK_TYPE: Record<Chain["hook"], string> = {
  input: "type filter hook input priority filter",
  forward: "type filter hook forward priority filter",
  output: "type filter hook output priority filter",
  postrouting: "type nat hook postrouting priority srcnat",
};

function setOrSingle(items: readonly string[]): string {
  return items.length === 1 ? items[0]! : `{ ${items.join(", ")} }`;
}

/**
 * An address match as nft prints it back: nft joins touching elements of
 * an interval set into one range (a prefix when it is exactly one), and a
 * set left with one element is printed bare.
 */
function addressesText(prefixes: readonly Prefix[]): string {
  const elements = prefixesToRanges(prefixes).map((r) => {
    const asPrefix = rangeAsPrefix(r);
    return asPrefix ? formatPrefixShort(asPrefix) : `${formatBits(r.family, r.low)}-${formatBits(r.family, r.high)}`;
  });
  return setOrSingle(elements);
}

function l4Text(l4: L4): string {
  if (l4.kind === "ports") {
    if (!l4.ports) return `meta l4proto ${l4.proto}`;
    return `${l4.proto} dport ${setOrSingle(l4.ports.map((r) => portText(r, "-")))}`;
  }
  if (!l4.types) return `meta l4proto ${l4.proto === "icmp" ? "icmp" : "ipv6-icmp"}`;
  return `${l4.proto} type ${setOrSingle(l4.types.map((t) => icmpTypeName(l4.proto, t) ?? String(t)))}`;
}

function verdictText(v: Verdict, family: Family | undefined): string {
  switch (v.kind) {
    case "accept":
      return "accept";
    case "drop":
      return "drop";
    case "masquerade":
      return "masquerade";
    case "reject":
      // A bare reject in an inet table answers port-unreachable in the
      // packet's own family; nft prints the family's ICMP once the rule is
      // tied to one family.
      if (v.with === "tcp-reset") return "reject with tcp reset";
      if (family === undefined) return "reject";
      return family === 4 ? "reject with icmp port-unreachable" : "reject with icmpv6 port-unreachable";
  }
}

/** Whether the rule's text names its family (else it would match both). */
function namesFamily(m: Match): boolean {
  return m.saddr !== undefined || m.daddr !== undefined || m.hopLimit !== undefined || (m.l4?.kind === "icmp" && m.l4.types !== null);
}

function ruleText(rule: IrRule, family: Family, alsoInOtherFamily: boolean): string {
  const m = rule.match;
  const ip = family === 4 ? "ip" : "ip6";
  const parts = [
    !alsoInOtherFamily && !namesFamily(m) ? `meta nfproto ${family === 4 ? "ipv4" : "ipv6"}` : "",
    m.iif ? `iifname ${m.iif.negate ? "!= " : ""}${quoted(m.iif.name)}` : "",
    m.oif ? `oifname ${m.oif.negate ? "!= " : ""}${quoted(m.oif.name)}` : "",
    m.saddr ? `${ip} saddr ${addressesText(m.saddr)}` : "",
    m.daddr ? `${ip} daddr ${addressesText(m.daddr)}` : "",
    m.l4 ? l4Text(m.l4) : "",
    m.ctState ? `ct state ${m.ctState.join(",")}` : "",
    m.hopLimit !== undefined ? `ip6 hoplimit ${m.hopLimit}` : "",
    verdictText(rule.verdict, alsoInOtherFamily && !namesFamily(m) ? undefined : family),
    `comment ${quoted(ruleComment(rule))}`,
  ];
  return parts.filter((p) => p !== "").join(" ");
}

/** A family-independent key: the rule as it would print without `meta nfproto`. */
const sharedKey = (rule: IrRule, family: Family) => (namesFamily(rule.match) ? undefined : ruleText(rule, family, true));

/**
 * Interleaves the two families' rules of one chain, keeping each family's
 * order (rules of different families never match the same packet, so only
 * the order within a family matters) and printing a rule that both families
 * have, unchanged, once.
 */
export function mergeFamilies(v4: readonly IrRule[], v6: readonly IrRule[]): string[] {
  const lines: string[] = [];
  const emitted = new Set<string>();
  const push = (line: string) => {
    if (!emitted.has(line)) lines.push(line);
    emitted.add(line);
  };
  let i = 0;
  let j = 0;
  while (i < v4.length || j < v6.length) {
    const seq4 = v4[i]?.origin.seq ?? Infinity;
    const seq6 = v6[j]?.origin.seq ?? Infinity;
    const seq = Math.min(seq4, seq6);
    const group4: IrRule[] = [];
    const group6: IrRule[] = [];
    while (i < v4.length && v4[i]!.origin.seq === seq) group4.push(v4[i++]!);
    while (j < v6.length && v6[j]!.origin.seq === seq) group6.push(v6[j++]!);
    const shared6 = new Set(group6.map((r) => sharedKey(r, 6)).filter((k) => k !== undefined));
    const shared4 = new Set(group4.map((r) => sharedKey(r, 4)).filter((k) => k !== undefined));
    for (const r of group4) push(ruleText(r, 4, shared6.has(sharedKey(r, 4) ?? "")));
    for (const r of group6) push(ruleText(r, 6, shared4.has(sharedKey(r, 6) ?? "")));
  }
  return lines;
}

function chainBlocks(pick: (family: Family) => Chain): string[] {
  const c4 = pick(4);
  const c6 = pick(6);
  const blocks: string[] = [];
  const base: string[] = [`${HOOK_TYPE[c4.hook]}; policy ${c4.policy};`];
  c4.sections.forEach((section, index) => {
    const rules = mergeFamilies(section.rules, c6.sections[index]?.rules ?? []);
    if (rules.length === 0) return;
    const name = `${c4.hook}_${section.name}`;
    base.push(`jump ${name}`);
    blocks.push(chainBlock(name, rules));
  });
  base.push(...mergeFamilies(c4.tail, c6.tail));
  return [chainBlock(c4.hook, base), ...blocks];
}

function chainBlock(name: string, lines: readonly string[]): string {
  return [`\tchain ${name} {`, ...lines.map((l) => `\t\t${l}`), "\t}"].join("\n");
}

export function nftScript(host: HostIr, context: EmitContext): string {
  const hooks = ["input", "forward", "output"] as const;
  const blocks = hooks.flatMap((hook) => chainBlocks((f) => host.families[f].filter[hook]));
  const masquerades = [4, 6].some((f) => host.families[f as Family].postrouting.sections.some((s) => s.rules.length > 0));
  if (masquerades) blocks.push(...chainBlocks((f) => host.families[f].postrouting));
  return [
    `# nft -f input for ${host.name}, generated by wgpc ${context.version}`,
    "# Replaces the table inet wgpc as one transaction and touches no other table.",
    "table inet wgpc",
    "delete table inet wgpc",
    "table inet wgpc {",
    blocks.join("\n\n"),
    "}",
    "",
  ].join("\n");
}

export const nftablesBackend: Backend = {
  name: "nftables",
  description: "one nft script with its own table inet wgpc for both families",
  emit: (host, context): Artifact[] => [{ path: "ruleset.nft", text: nftScript(host, context) }],
};
