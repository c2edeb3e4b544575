// IR → one nft script per host with its own `table inet wgpc`, spelled as
// `nft list ruleset` prints it back. Both families share the inet table: a
// rule that does not depend on the family is printed once, a rule that does
// carries its family's matches (or `meta nfproto`).
import { familyWidth, formatBits, formatPrefixShort, prefixesToRanges, rangeAsPrefix, type Family, type Prefix } from "../../net/address.js";
import { icmpTypeName, type L4 } from "../../net/services.js";
import { compactRules, lookupVerdicts, type CompactItem, type Lookup } from "../../ir/compact.js";
import type { Chain, HostIr, IrRule, Match, Verdict } from "../../ir/types.js";
import type { Artifact, Backend, EmitContext } from "../types.js";
import { lookupComment, portText, quoted, ruleComment } from "../shared/text.js";
import { artifact, SharedPieces } from "../shared/pieces.js";

const HOOK_TYPE: Record<Chain["hook"], string> = {
  input: "type filter hook input priority filter",
  forward: "type filter hook forward priority filter",
  output: "type filter hook output priority filter",
  postrouting: "type nat hook postrouting priority srcnat",
};

const setTexts = new WeakMap<readonly string[], string>();
function setOrSingle(items: readonly string[], shared?: SharedPieces): string {
  if (items.length === 1) return items[0]!;
  // lists shared among machines (a blocklist's spelling) are joined once,
  // and a long one stands in its line as a mark until the file is assembled
  let text = setTexts.get(items);
  if (text === undefined) setTexts.set(items, (text = `{ ${items.join(", ")} }`));
  return shared ? shared.mark(text) : text;
}

/**
 * An address match as nft prints it back: nft joins touching elements of
 * an interval set into one range (a prefix when it is exactly one), and a
 * set left with one element is printed bare.
 */
function addressesText(prefixes: readonly Prefix[], shared: SharedPieces): string {
  return setOrSingle(addressElements(prefixes), shared);
}

// a list shared among machines (a blocklist) is spelled once
const elementsOf = new WeakMap<readonly Prefix[], readonly string[]>();

function addressElements(prefixes: readonly Prefix[]): readonly string[] {
  const known = elementsOf.get(prefixes);
  if (known) return known;
  const elements = prefixesToRanges(prefixes).map((r) => {
    const asPrefix = rangeAsPrefix(r);
    return asPrefix ? formatPrefixShort(asPrefix) : `${formatBits(r.family, r.low)}-${formatBits(r.family, r.high)}`;
  });
  elementsOf.set(prefixes, elements);
  return elements;
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

/** A match's expressions in nft's order; `lookup` (a set lookup) goes where the addresses go. */
function matchParts(m: Match, family: Family, nfproto: boolean, shared: SharedPieces, lookup?: string): string[] {
  const ip = family === 4 ? "ip" : "ip6";
  return [
    nfproto ? `meta nfproto ${family === 4 ? "ipv4" : "ipv6"}` : "",
    m.iif ? `iifname ${m.iif.negate ? "!= " : ""}${quoted(m.iif.name)}` : "",
    m.oif ? `oifname ${m.oif.negate ? "!= " : ""}${quoted(m.oif.name)}` : "",
    lookup ?? "",
    m.saddr ? `${ip} saddr ${addressesText(m.saddr, shared)}` : "",
    m.daddr ? `${ip} daddr ${addressesText(m.daddr, shared)}` : "",
    m.l4 ? l4Text(m.l4) : "",
    m.ctState ? `ct state ${m.ctState.join(",")}` : "",
    m.hopLimit !== undefined ? `ip6 hoplimit ${m.hopLimit}` : "",
  ];
}

function ruleText(rule: IrRule, family: Family, alsoInOtherFamily: boolean, shared: SharedPieces): string {
  const m = rule.match;
  const parts = [
    ...matchParts(m, family, !alsoInOtherFamily && !namesFamily(m), shared),
    verdictText(rule.verdict, alsoInOtherFamily && !namesFamily(m) ? undefined : family),
    `comment ${quoted(ruleComment(rule))}`,
  ];
  return parts.filter((p) => p !== "").join(" ");
}

/**
 * A named set (one verdict) or verdict map: what a lookup's elements look
 * like to nft, one element per line as nft prints them.
 */
function setBlock(name: string, lookup: Lookup): string {
  const addressType = lookup.family === 4 ? "ipv4_addr" : "ipv6_addr";
  const width = familyWidth(lookup.family);
  const map = lookupVerdicts(lookup).length > 1;
  const key = (e: Lookup["elements"][number]) => `${formatPrefixShort(e.address)}${e.ports ? ` . ${portText(e.ports, "-")}` : ""}`;
  const elements = map
    ? lookup.elements.map((e) => `${key(e)} : ${e.verdict.kind}`)
    : lookup.portProto
      ? lookup.elements.map(key)
      : addressElements(lookup.elements.map((e) => e.address));
  // a hash when every element is one address (and one port); intervals only where needed
  // (addresses alone are printed as nft prints them, touching ones joined into a range)
  const interval = lookup.elements.some((e) => e.address.length < width || (e.ports && e.ports.low !== e.ports.high)) || elements.some((e) => e.includes("-"));
  return [
    `\t${map ? "map" : "set"} ${name} {`,
    `\t\ttype ${addressType}${lookup.portProto ? " . inet_service" : ""}${map ? " : verdict" : ""}`,
    ...(interval ? ["\t\tflags interval"] : []),
    `\t\telements = { ${elements.join(",\n\t\t\t     ")} }`,
    "\t}",
  ].join("\n");
}

function lookupText(lookup: Lookup, setName: string, shared: SharedPieces): string {
  const ip = lookup.family === 4 ? "ip" : "ip6";
  const verdicts = lookupVerdicts(lookup);
  const key = `${ip} ${lookup.address}${lookup.portProto ? ` . ${lookup.portProto} dport` : ""}`;
  // a set matches and the rule gives its verdict; a map gives the element's
  const lookupAndVerdict = verdicts.length === 1 ? [`${key} @${setName}`, verdictText(verdicts[0]!, lookup.family)] : [`${key} vmap @${setName}`];
  return [...matchParts(lookup.common, lookup.family, false, shared, lookupAndVerdict[0]), ...lookupAndVerdict.slice(1), `comment ${quoted(lookupComment(lookup.rules))}`]
    .filter((p) => p !== "")
    .join(" ");
}

/** A family-independent key: the rule as it would print without `meta nfproto`. */
const sharedKey = (rule: IrRule, family: Family, shared: SharedPieces) => (namesFamily(rule.match) ? undefined : ruleText(rule, family, true, shared));

/**
 * Interleaves the two families' rules of one chain, keeping each family's
 * order (rules of different families never match the same packet, so only
 * the order within a family matters) and printing a rule that both families
 * have, unchanged, once.
 */
export function mergeFamilies(v4: readonly IrRule[], v6: readonly IrRule[], shared: SharedPieces): string[] {
  return mergeItems(v4.map(asItem), v6.map(asItem), new SetNamer("unused"), shared);
}

const asItem = (rule: IrRule): CompactItem => ({ kind: "rule", rule });
const itemSeq = (item: CompactItem | undefined) => (item === undefined ? Infinity : item.kind === "rule" ? item.rule.origin.seq : item.rules[0]!.origin.seq);

/** Names the sets of one chain: `<chain>_v4_1`, … */
class SetNamer {
  readonly sets: string[] = [];
  private readonly count = { 4: 0, 6: 0 };
  constructor(private readonly chain: string) {}
  add(lookup: Lookup): string {
    const name = `${this.chain}_v${lookup.family}_${++this.count[lookup.family]}`;
    this.sets.push(setBlock(name, lookup));
    return name;
  }
}

/**
 * Interleaves the two families' items of one chain, keeping each family's
 * order (items of different families never match the same packet, so only
 * the order within a family matters) and printing a rule that both families
 * have, unchanged, once. A lookup is always of one family.
 */
function mergeItems(v4: readonly CompactItem[], v6: readonly CompactItem[], namer: SetNamer, shared: SharedPieces): string[] {
  const lines: string[] = [];
  const emitted = new Set<string>();
  const push = (line: string) => {
    if (!emitted.has(line)) lines.push(line);
    emitted.add(line);
  };
  let i = 0;
  let j = 0;
  const print = (item: CompactItem, family: Family, both: Set<string | undefined>) =>
    push(item.kind === "lookup" ? lookupText(item, namer.add(item), shared) : ruleText(item.rule, family, both.has(sharedKey(item.rule, family, shared) ?? ""), shared));
  const sharedKeys = (group: CompactItem[], family: Family) =>
    new Set(group.flatMap((item) => (item.kind === "rule" ? [sharedKey(item.rule, family, shared)] : [])).filter((k) => k !== undefined));
  while (i < v4.length || j < v6.length) {
    const seq = Math.min(itemSeq(v4[i]), itemSeq(v6[j]));
    const group4: CompactItem[] = [];
    const group6: CompactItem[] = [];
    while (i < v4.length && itemSeq(v4[i]) === seq) group4.push(v4[i++]!);
    while (j < v6.length && itemSeq(v6[j]) === seq) group6.push(v6[j++]!);
    const shared6 = sharedKeys(group6, 6);
    const shared4 = sharedKeys(group4, 4);
    for (const item of group4) print(item, 4, shared6);
    for (const item of group6) print(item, 6, shared4);
  }
  return lines;
}

/** The hook's base chain and one chain per section, after the named sets they look up. */
function chainBlocks(pick: (family: Family) => Chain, compact: boolean, shared: SharedPieces): string[] {
  const c4 = pick(4);
  const c6 = pick(6);
  const sets: string[] = [];
  const blocks: string[] = [];
  const base: string[] = [`${HOOK_TYPE[c4.hook]}; policy ${c4.policy};`];
  c4.sections.forEach((section, index) => {
    const name = `${c4.hook}_${section.name}`;
    const namer = new SetNamer(name);
    const items = (rules: readonly IrRule[], family: Family) => (compact ? compactRules(rules, family) : rules.map(asItem));
    const lines = mergeItems(items(section.rules, 4), items(c6.sections[index]?.rules ?? [], 6), namer, shared);
    if (lines.length === 0) return;
    sets.push(...namer.sets);
    base.push(`jump ${name}`);
    blocks.push(chainBlock(name, lines));
  });
  base.push(...mergeFamilies(c4.tail, c6.tail, shared));
  return [...sets, chainBlock(c4.hook, base), ...blocks];
}

function chainBlock(name: string, lines: readonly string[]): string {
  return [`\tchain ${name} {`, ...lines.map((l) => `\t\t${l}`), "\t}"].join("\n");
}

/** The script as pieces (see shared/pieces.ts); `nftScript(...).join("")` is its text. */
export function nftScript(host: HostIr, context: EmitContext): string[] {
  const hooks = ["input", "forward", "output"] as const;
  const compact = context.compact !== false;
  const shared = new SharedPieces();
  const blocks = hooks.flatMap((hook) => chainBlocks((f) => host.families[f].filter[hook], compact, shared));
  const masquerades = [4, 6].some((f) => host.families[f as Family].postrouting.sections.some((s) => s.rules.length > 0));
  if (masquerades) blocks.push(...chainBlocks((f) => host.families[f].postrouting, compact, shared));
  const text = [
    `# nft -f input for ${host.name}, generated by wgpc ${context.version}`,
    "# Replaces the table inet wgpc as one transaction and touches no other table.",
    "table inet wgpc",
    "delete table inet wgpc",
    "table inet wgpc {",
    blocks.join("\n\n"),
    "}",
    "",
  ].join("\n");
  return shared.splice(text);
}

export const nftablesBackend: Backend = {
  name: "nftables",
  description: "one nft script with its own table inet wgpc for both families",
  emit: (host, context): Artifact[] => [artifact("ruleset.nft", nftScript(host, context))],
};
