// The per-host IR: for each machine and address family, ordered rules per
// hook. Meaning is decided here once; backends only print it.
import type { Family, Prefix } from "../net/address.js";
import type { L4 } from "../net/services.js";
import type { XdpProgram } from "./early.js";
import type { WgConfig } from "./wireguard.js";

export type Hook = "input" | "forward" | "output" | "postrouting";
export const FILTER_HOOKS = ["input", "forward", "output"] as const;
export type FilterHook = (typeof FILTER_HOOKS)[number];

export type CtState = "established" | "related" | "invalid" | "new";

export interface IfaceMatch {
  readonly name: string;
  readonly negate: boolean;
}

/** All present fields must match (logical AND); an absent field matches anything. */
export interface Match {
  readonly iif?: IfaceMatch;
  readonly oif?: IfaceMatch;
  /** a set of prefixes of the chain's family, normalised (sorted, no overlap) */
  readonly saddr?: readonly Prefix[];
  readonly daddr?: readonly Prefix[];
  readonly l4?: L4;
  readonly ctState?: readonly CtState[];
  /** IPv6 hop limit, for neighbour discovery (must be 255) */
  readonly hopLimit?: number;
}

export type Verdict =
  | { readonly kind: "accept" }
  | { readonly kind: "drop" }
  /** tcp-reset for TCP, port unreachable otherwise */
  | { readonly kind: "reject"; readonly with: "tcp-reset" | "port-unreachable" }
  | { readonly kind: "masquerade" };

export interface RuleOrigin {
  /** policy order; baseline rules come before any policy statement */
  readonly seq: number;
  readonly kind: "baseline" | "policy" | "default";
  /** `policy.wgp:12` or the name of the baseline rule */
  readonly label: string;
  readonly comment?: string;
}

export interface IrRule {
  readonly match: Match;
  readonly verdict: Verdict;
  readonly origin: RuleOrigin;
}

export type SectionName = "base" | "rules";

/** A run of rules that backends print as one chain of their own. */
export interface Section {
  readonly name: SectionName;
  readonly rules: readonly IrRule[];
  /** rules equal to an earlier one: never printed, kept for the analysis */
  readonly repeats?: readonly IrRule[];
}

export interface Chain {
  readonly hook: Hook;
  /** what happens to a packet that no rule decided */
  readonly policy: "accept" | "drop";
  readonly sections: readonly Section[];
  /** rules after the sections (a terminal reject, when the default is reject) */
  readonly tail: readonly IrRule[];
}

export interface FamilyIr {
  readonly family: Family;
  readonly filter: Readonly<Record<FilterHook, Chain>>;
  /** source NAT; empty unless the machine masquerades */
  readonly postrouting: Chain;
}

/** What a shaping class hands its packets to. */
export type Leaf =
  | { readonly kind: "plain"; readonly qdisc: string }
  | { readonly kind: "netem"; readonly delay: number; readonly jitter?: number; readonly loss?: number };

export interface ShapeClass {
  /** the class's minor number, as tc writes it (hex) */
  readonly minor: string;
  /** where it came from, for the comment above it */
  readonly label: string;
  /** bits per second */
  readonly rate: number;
  readonly ceil: number;
  /** bytes at rate and at ceil */
  readonly burst: number;
  readonly cburst: number;
  readonly prio?: number;
  /** bytes: within 1514-200000 so that HTB neither warns nor clamps */
  readonly quantum: number;
  readonly leaf: Leaf;
  /** packets to (or, on an ifb, from) these addresses belong to the class */
  readonly matches: readonly Prefix[];
}

/** One device's HTB tree: an interface's egress, or an ifb fed from an interface's ingress. */
export interface ShapedDevice {
  readonly device: string;
  /** set on an ifb: the interface whose ingress is redirected to it */
  readonly redirectFrom?: string;
  /** which address a class matches: the destination on egress, the source on an ifb */
  readonly matchOn: "dst" | "src";
  /** link capacity, bits per second */
  readonly link: number;
  readonly r2q: number;
  readonly root: ShapeClass;
  readonly fallback: ShapeClass;
  readonly classes: readonly ShapeClass[];
}

export interface HostIr {
  readonly name: string;
  readonly families: Readonly<Record<Family, FamilyIr>>;
  /**
   * Policy rules (by seq) that have a place on this machine, counted before
   * repeated rules are dropped: a rule that only repeats another still has
   * a place, it just never decides.
   */
  readonly placed: ReadonlySet<number>;
  /** tc shaping on this machine's devices (the hub's), empty elsewhere */
  readonly shaping: readonly ShapedDevice[];
  /** XDP early-drop programs on this machine's interfaces (the hub's), empty elsewhere */
  readonly early: readonly XdpProgram[];
  /** the machine's WireGuard interface, when it is a VPN member */
  readonly wireguard?: WgConfig;
}
