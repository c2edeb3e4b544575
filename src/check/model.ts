// The checked policy: every name resolved, every address parsed, every
// service turned into per-family L4 matches. This is what src/ir lowers.
import type { Direction, Span, Verb } from "../syntax/ast.js";
import type { Family, Prefix } from "../net/address.js";
import type { L4 } from "../net/services.js";

export interface Machine {
  readonly name: string;
  readonly span: Span;
  /** physical (underlay) addresses, each a full-length prefix */
  readonly physical: readonly Prefix[];
  readonly ifaces: readonly string[];
  /** overlay addresses on the VPN interface (empty when not a VPN member) */
  readonly overlay: readonly Prefix[];
  readonly vpnRole?: "hub" | "peer";
}

export interface VpnMember {
  readonly name: string;
  readonly role: "hub" | "peer";
  readonly overlay: readonly Prefix[];
  /** base64, validated; absent only for a hub of a VPN without peers */
  readonly publicKey?: string;
  /** where it can be reached: the hub always, a peer when it has a fixed address */
  readonly endpoint?: { readonly host: string; readonly port: number; readonly family?: Family };
  /** seconds; for peers behind NAT */
  readonly keepalive?: number;
  readonly tunnel: "full" | "split";
}

export interface VpnModel {
  readonly name: string;
  readonly iface: string;
  readonly networks: readonly Prefix[];
  readonly hub: string;
  readonly listenPort: number;
  readonly members: readonly VpnMember[];
  /** the tunnel's MTU: the underlay's less WireGuard's overhead */
  readonly mtu: number;
  readonly span: Span;
}

/**
 * Where traffic may come from. `viaVpn` sources are VPN identities: the
 * packet arrived on the VPN interface AND its source is in `prefix`.
 */
export type SourceAtom =
  | { readonly kind: "any" }
  | { readonly kind: "prefix"; readonly prefix: Prefix; readonly viaVpn: boolean };

export type DestAtom =
  | { readonly kind: "any" }
  | { readonly kind: "machine"; readonly name: string }
  | { readonly kind: "prefix"; readonly prefix: Prefix; readonly viaVpn: boolean };

/** Per-family L4 matches of a rule; `null` means all traffic. */
export type Services = Readonly<Record<Family, readonly L4[]>> | null;

export interface Origin {
  /** position in policy order across all files */
  readonly seq: number;
  readonly span: Span;
  /** `policy.wgp:12`, for comments in the artifacts */
  readonly label: string;
  readonly comment?: string;
}

export interface CheckedRule {
  readonly verb: Verb;
  readonly origin: Origin;
  readonly sources: readonly SourceAtom[];
  readonly dests: readonly DestAtom[];
  readonly services: Services;
}

export type ConntrackState = "new" | "established" | "related" | "invalid";
export const CONNTRACK_STATES: readonly ConntrackState[] = ["new", "established", "related", "invalid"];

export interface CheckedExpect {
  readonly verdict: Verb;
  readonly span: Span;
  readonly sources: readonly SourceAtom[];
  readonly dests: readonly DestAtom[];
  readonly services: Services;
  /** only this family (`family 4|6`); both when absent */
  readonly family?: Family;
  /** the packets' conntrack state; `new` unless written */
  readonly state: ConntrackState;
  /** only paths arriving at the destination on this interface */
  readonly iface?: string;
}

/** What an early drop may knowingly cut off. */
export type Acknowledgeable = "neighbour-discovery" | "wireguard";
/**
 * Names a machine cannot have: `--emit ansible` writes its files in the
 * directory `ansible` beside the machines', and in the inventory a machine
 * named like a group (Ansible's own, or the ones wgpc makes) would stand for
 * it, so that the playbook ran on that one machine only.
 */
export const INVENTORY_GROUPS = { all: "wgpc", hub: "wgpc_hub", peers: "wgpc_peers", hosts: "wgpc_hosts" } as const;
export const ANSIBLE_DIR = "ansible";
export const NAMES_TAKEN_BY_ANSIBLE: ReadonlySet<string> = new Set([ANSIBLE_DIR, "all", "ungrouped", ...Object.values(INVENTORY_GROUPS)]);

export const ACKNOWLEDGEABLE: readonly Acknowledgeable[] = ["neighbour-discovery", "wireguard"];

/** What one shaping class is about: a name for comments and the addresses it classifies. */
export interface ShapeTarget {
  readonly name: string;
  readonly prefixes: readonly Prefix[];
}

export type CheckedShaping =
  | {
      readonly kind: "shape";
      readonly origin: Origin;
      readonly direction: Direction;
      /** one class each (`shape each`), or one class for all */
      readonly targets: readonly ShapeTarget[];
      /** bits per second */
      readonly rate: number;
      readonly ceil: number;
      /** bytes */
      readonly burst?: number;
      readonly prio?: number;
    }
  | {
      readonly kind: "delay";
      readonly origin: Origin;
      readonly direction: Direction;
      readonly targets: readonly ShapeTarget[];
      /** milliseconds */
      readonly delay: number;
      readonly jitter?: number;
      /** percent */
      readonly loss?: number;
    };

/** `drop … early`: stateless, compiled into the maps of the XDP program on the hub. */
export interface CheckedEarlyDrop {
  readonly origin: Origin;
  /** `any`, or prefixes; a VPN identity source is matched on the VPN interface */
  readonly sources: readonly SourceAtom[];
  /** destination addresses, or null for any */
  readonly dests: readonly Prefix[] | null;
  readonly services: Services;
  readonly acknowledged: ReadonlySet<Acknowledgeable>;
}

/** A named definition of the policy, and whether any statement refers to it. */
export interface Definition {
  readonly kind: "host" | "group" | "service";
  readonly name: string;
  readonly span: Span;
  readonly used: boolean;
}

export interface CheckedPolicy {
  readonly machines: ReadonlyMap<string, Machine>;
  readonly vpn?: VpnModel;
  readonly rules: readonly CheckedRule[];
  readonly masquerade?: { readonly via?: string; readonly origin: Origin };
  readonly defaults: { readonly global: Verb; readonly perMachine: ReadonlyMap<string, Verb> };
  readonly expects: readonly CheckedExpect[];
  readonly shaping: readonly CheckedShaping[];
  /** declared capacity per interface of the hub, bits per second */
  readonly links: ReadonlyMap<string, number>;
  readonly earlyDrops: readonly CheckedEarlyDrop[];
  readonly definitions: readonly Definition[];
}
