// Checked policy → per-host IR. The passes here decide meaning once for every
// backend: where a rule is enforced, VPN identity (interface AND overlay
// source), the source rewrite that masquerading implies, the always-there
// rules, family expansion and defaults.
import { normalisePrefixes, prefixContains, samePrefix, type Family, type Prefix } from "../net/address.js";
import { icmpProtoOf, type L4 } from "../net/services.js";
import type { CheckedPolicy, CheckedRule, DestAtom, Machine } from "../check/model.js";
import type { Chain, FamilyIr, HostIr, IfaceMatch, IrRule, Match, RuleOrigin, Section, ShapedDevice, Verdict } from "./types.js";
import { mergeMatchesBy, splitRepeatedRules } from "./passes.js";
import type { XdpProgram } from "./early.js";
import { lowerWireguard } from "./wireguard.js";

const ESSENTIAL_ICMP: Record<Family, number[]> = {
  // destination-unreachable (incl. fragmentation-needed), time-exceeded, parameter-problem
  4: [3, 11, 12],
  // destination-unreachable, packet-too-big, time-exceeded, parameter-problem
  6: [1, 2, 3, 4],
};
// router solicit/advert, neighbour solicit/advert: only valid with hop limit 255
const NEIGHBOUR_DISCOVERY = [133, 134, 135, 136];

// Baseline rules get fixed, negative sequence numbers so that the same rule
// has the same place in both families (backends that merge families rely on it).
const BASELINE_ORDER = ["loopback", "established and related", "invalid", "essential icmp", "neighbour discovery", "wireguard"];
const baselineOrigin = (label: string): RuleOrigin => ({
  seq: BASELINE_ORDER.indexOf(label) - BASELINE_ORDER.length,
  kind: "baseline",
  label,
});

const accept: Verdict = { kind: "accept" };
const drop: Verdict = { kind: "drop" };

function baselineRules(family: Family, hook: "input" | "forward", listenPort: number | undefined): IrRule[] {
  const rules: IrRule[] = [];
  const add = (label: string, match: Match, verdict: Verdict) => rules.push({ match, verdict, origin: baselineOrigin(label) });
  if (hook === "input") add("loopback", { iif: { name: "lo", negate: false } }, accept);
  add("established and related", { ctState: ["established", "related"] }, accept);
  add("invalid", { ctState: ["invalid"] }, drop);
  add("essential icmp", { l4: { kind: "icmp", proto: icmpProtoOf(family), types: ESSENTIAL_ICMP[family] } }, accept);
  if (family === 6 && hook === "input") {
    add("neighbour discovery", { l4: { kind: "icmp", proto: "icmpv6", types: NEIGHBOUR_DISCOVERY }, hopLimit: 255 }, accept);
  }
  if (listenPort !== undefined) {
    add("wireguard", { l4: { kind: "ports", proto: "udp", ports: [{ low: listenPort, high: listenPort }] } }, accept);
  }
  return rules;
}

function verdictOf(rule: CheckedRule, l4: L4 | undefined): Verdict {
  switch (rule.verb) {
    case "allow":
      return accept;
    case "deny":
      return drop;
    case "reject":
      return { kind: "reject", with: l4?.kind === "ports" && l4.proto === "tcp" ? "tcp-reset" : "port-unreachable" };
  }
}

function ruleOrigin(rule: CheckedRule): RuleOrigin {
  return { seq: rule.origin.seq, kind: "policy", label: rule.origin.label, comment: rule.origin.comment };
}

/** One IR rule per L4 form of the rule's services in this family (or one without L4). */
function withServices(rule: CheckedRule, family: Family, matches: readonly Match[]): IrRule[] {
  const forms: (L4 | undefined)[] = rule.services === null ? [undefined] : [...rule.services[family]];
  return matches.flatMap((match) =>
    forms.map((l4) => ({ match: l4 ? { ...match, l4 } : match, verdict: verdictOf(rule, l4), origin: ruleOrigin(rule) })),
  );
}

const ofFamily = (prefixes: readonly Prefix[], family: Family) => prefixes.filter((p) => p.family === family);

interface SourcesByKind {
  readonly fromAnywhere: boolean;
  /** normalised; shared by every machine */
  readonly plain: readonly Prefix[];
  /** VPN members' overlay addresses, normalised; shared by every machine */
  readonly overlay: readonly Prefix[];
}

// Every machine a rule reaches sees the same sources: they are sorted out
// once per rule and family and the lists shared, so a long blocklist is
// normalised once, not once per machine, and later stages can cache what
// they derive from a list.
const sourcesOf = new WeakMap<CheckedRule, Partial<Record<Family, SourcesByKind>>>();
function sourcesByKind(rule: CheckedRule, family: Family): SourcesByKind {
  const known = sourcesOf.get(rule) ?? {};
  sourcesOf.set(rule, known);
  const cached = known[family];
  if (cached) return cached;
  const plain: Prefix[] = [];
  const overlay: Prefix[] = [];
  let fromAnywhere = false;
  for (const s of rule.sources) {
    if (s.kind === "any") fromAnywhere = true;
    else if (s.prefix.family !== family) continue;
    else (s.viaVpn ? overlay : plain).push(s.prefix);
  }
  return (known[family] = { fromAnywhere, plain: normalisePrefixes(plain), overlay: normalisePrefixes(overlay) });
}

class HostLowering {
  private readonly hub?: Machine;
  private readonly vpnIface?: string;
  private readonly placed = new Set<number>();

  constructor(
    private readonly policy: CheckedPolicy,
    private readonly machine: Machine,
    private readonly shaping: readonly ShapedDevice[],
    private readonly early: readonly XdpProgram[],
  ) {
    this.hub = policy.vpn ? policy.machines.get(policy.vpn.hub) : undefined;
    this.vpnIface = policy.vpn?.iface;
  }

  private get isHub(): boolean {
    return this.hub?.name === this.machine.name;
  }

  private vpnIn(): IfaceMatch {
    return { name: this.vpnIface!, negate: false };
  }

  /**
   * Which of this machine's addresses a rule's destinations name: "all" when
   * the machine itself (or `any`) is named, else the addresses inside a named
   * prefix; undefined when the rule does not concern this machine.
   */
  private destinationHere(dests: readonly DestAtom[], family: Family): "all" | Prefix[] | undefined {
    const own = [...this.machine.physical, ...this.machine.overlay].filter((p) => p.family === family);
    let found: Prefix[] | undefined;
    for (const d of dests) {
      if (d.kind === "any" || (d.kind === "machine" && d.name === this.machine.name)) return "all";
      if (d.kind === "prefix") {
        const inside = own.filter((a) => prefixContains(d.prefix, a));
        if (inside.length > 0) found = [...(found ?? []), ...inside];
      }
    }
    return found;
  }

  private inputRules(rule: CheckedRule, family: Family): IrRule[] {
    const here = this.destinationHere(rule.dests, family);
    if (!here) return [];
    const daddr = here === "all" ? undefined : normalisePrefixes(here);
    const matches: Match[] = [];
    const sources = sourcesByKind(rule, family);
    if (sources.fromAnywhere) return withServices(rule, family, [{ daddr }]);
    if (sources.plain.length > 0) matches.push({ saddr: sources.plain, daddr });
    if (sources.overlay.length > 0 && this.machine.overlay.length > 0) matches.push({ iif: this.vpnIn(), saddr: sources.overlay, daddr });
    const masqueraded = sources.overlay.length > 0;
    const rewrite = this.masqueradedSource(rule, family, daddr);
    if (masqueraded && rewrite) matches.push(rewrite);
    return withServices(rule, family, matches);
  }

  /**
   * With `masquerade vpn`, VPN traffic reaches this machine's physical
   * addresses with the hub's physical address as its source. Only an allow
   * is carried over: the hub cannot tell peers apart after the rewrite, so a
   * deny of some peers is enforced on the hub's forward path instead.
   */
  private masqueradedSource(rule: CheckedRule, family: Family, daddr: Prefix[] | undefined): Match | undefined {
    if (!this.policy.masquerade || !this.hub || this.isHub || rule.verb !== "allow") return undefined;
    const hubAddresses = ofFamily(this.hub.physical, family);
    const physical = ofFamily(this.machine.physical, family);
    if (hubAddresses.length === 0 || physical.length === 0) return undefined;
    const physicalDaddr = daddr?.filter((d) => physical.some((p) => prefixContains(d, p)));
    if (physicalDaddr && physicalDaddr.length === 0) return undefined;
    return { saddr: normalisePrefixes(hubAddresses), daddr: physicalDaddr };
  }

  /** Rules for traffic crossing the hub to or from the VPN. */
  private forwardRules(rule: CheckedRule, family: Family): IrRule[] {
    const vpnIn = this.vpnIn();
    type Side = { kind: "any" } | { kind: "vpn" | "outside"; prefixes: Prefix[] };
    const sources: Side[] = rule.sources.flatMap((s): Side[] => {
      if (s.kind === "any") return [{ kind: "any" }];
      if (s.prefix.family !== family) return [];
      return [{ kind: s.viaVpn ? "vpn" : "outside", prefixes: [s.prefix] }];
    });
    const dests: Side[] = rule.dests.flatMap((d): Side[] => {
      if (d.kind === "any") return [{ kind: "any" }];
      if (d.kind === "prefix") {
        if (d.prefix.family !== family) return [];
        // the hub's own addresses are its input, not its forward path
        if ([...this.machine.physical, ...this.machine.overlay].some((own) => samePrefix(own, d.prefix))) return [];
        return [{ kind: d.viaVpn ? "vpn" : "outside", prefixes: [d.prefix] }];
      }
      if (d.name === this.hub!.name) return [];
      const m = this.policy.machines.get(d.name)!;
      const sides: Side[] = [];
      const overlay = ofFamily(m.overlay, family);
      const physical = ofFamily(m.physical, family);
      if (overlay.length > 0) sides.push({ kind: "vpn", prefixes: overlay });
      if (physical.length > 0) sides.push({ kind: "outside", prefixes: physical });
      return sides;
    });
    const matches: Match[] = [];
    for (const s of sources) {
      for (const d of dests) {
        const saddr = s.kind === "any" ? undefined : s.prefixes;
        const daddr = d.kind === "any" ? undefined : d.prefixes;
        const iif = s.kind === "vpn" || (s.kind === "any" && d.kind === "outside") ? vpnIn : undefined;
        const oif = d.kind === "vpn" || (s.kind === "outside" && d.kind === "any") ? vpnIn : undefined;
        // outside → outside never crosses the VPN: not the hub's business here
        if (s.kind === "outside" && d.kind === "outside") continue;
        matches.push({ iif, oif, saddr, daddr });
      }
    }
    const merged = mergeMatchesBy(mergeMatchesBy(matches, "saddr"), "daddr");
    return withServices(rule, family, merged);
  }

  private defaultVerb(): "allow" | "deny" | "reject" {
    return this.policy.defaults.perMachine.get(this.machine.name) ?? this.policy.defaults.global;
  }

  private chain(hook: Chain["hook"], base: IrRule[], rules: IrRule[]): Chain {
    for (const r of rules) this.placed.add(r.origin.seq);
    const verb = this.defaultVerb();
    const sections: Section[] = (["base", "rules"] as const).map((name) => {
      const { kept, repeats } = splitRepeatedRules(name === "base" ? base : rules);
      return repeats.length > 0 ? { name, rules: kept, repeats } : { name, rules: kept };
    });
    const origin: RuleOrigin = { seq: Number.MAX_SAFE_INTEGER, kind: "default", label: "default reject" };
    const tail: IrRule[] =
      verb === "reject"
        ? [
            { match: { l4: { kind: "ports", proto: "tcp", ports: null } }, verdict: { kind: "reject", with: "tcp-reset" }, origin },
            { match: {}, verdict: { kind: "reject", with: "port-unreachable" }, origin },
          ]
        : [];
    return { hook, policy: verb === "allow" ? "accept" : "drop", sections, tail };
  }

  private family(family: Family): FamilyIr {
    const hubListens =
      this.isHub && this.policy.vpn && this.machine.physical.some((p) => p.family === family)
        ? this.policy.vpn.listenPort
        : undefined;
    const input = this.policy.rules.flatMap((r) => this.inputRules(r, family));
    const forward = this.isHub && this.vpnIface ? this.policy.rules.flatMap((r) => this.forwardRules(r, family)) : [];
    const filter = {
      input: this.chain("input", baselineRules(family, "input", hubListens), input),
      forward: this.chain("forward", baselineRules(family, "forward", undefined), forward),
      output: { hook: "output", policy: "accept", sections: [], tail: [] } satisfies Chain,
    };
    return { family, filter, postrouting: this.postrouting(family) };
  }

  private postrouting(family: Family): Chain {
    const masq = this.policy.masquerade;
    const vpn = this.policy.vpn;
    const empty: Chain = { hook: "postrouting", policy: "accept", sections: [], tail: [] };
    if (!masq || !vpn || !this.isHub) return empty;
    const networks = ofFamily(vpn.networks, family);
    if (networks.length === 0 || !this.machine.physical.some((p) => p.family === family)) return empty;
    const oif: IfaceMatch = masq.via ? { name: masq.via, negate: false } : { name: vpn.iface, negate: true };
    const rule: IrRule = {
      match: { saddr: normalisePrefixes(networks), oif },
      verdict: { kind: "masquerade" },
      origin: { seq: masq.origin.seq, kind: "policy", label: masq.origin.label },
    };
    return { ...empty, sections: [{ name: "rules", rules: [rule] }] };
  }

  lower(): HostIr {
    const families = { 4: this.family(4), 6: this.family(6) };
    return {
      name: this.machine.name,
      families,
      placed: this.placed,
      shaping: this.shaping,
      early: this.early,
      wireguard: lowerWireguard(this.policy, this.machine.name),
    };
  }
}

/**
 * One machine's IR. Its shaping (src/ir/shaping.ts) and early-drop programs
 * (src/ir/early.ts) are lowered by their own passes; only the hub has any.
 */
export function lowerHost(policy: CheckedPolicy, name: string, shaping: readonly ShapedDevice[] = [], early: readonly XdpProgram[] = []): HostIr {
  const machine = policy.machines.get(name);
  if (!machine) throw new Error(`no machine ${name}`);
  return new HostLowering(policy, machine, shaping, early).lower();
}

