// AST → checked policy. Resolves every name, parses every address, checks
// ports, protocols, VPN membership and families, and reports each problem as
// a diagnostic at the smallest span that shows it.
import type * as A from "../syntax/ast.js";
import type { Sources } from "../syntax/source.js";
import { diagnostic, type Diagnostic, type DiagnosticExtras } from "../diagnostics/diagnostic.js";
import {
  normalisePrefixes,
  FAMILIES,
  familyWidth,
  formatPrefix,
  parseAddress,
  prefixContains,
  prefixesOverlap,
  subtractPrefix,
  type Family,
  type Prefix,
} from "../net/address.js";
import { ICMP_TYPES, mergeL4, PORT_PROTOCOLS, type L4, type PortProto } from "../net/services.js";
import { ACKNOWLEDGEABLE, CONNTRACK_STATES, NAMES_TAKEN_BY_ANSIBLE, type Acknowledgeable } from "./model.js";
import type {
  CheckedExpect,
  CheckedPolicy,
  Definition,
  CheckedRule,
  CheckedShaping,
  CheckedEarlyDrop,
  VpnMember,
  ShapeTarget,
  DestAtom,
  Machine,
  Origin,
  Services,
  SourceAtom,
  VpnModel,
} from "./model.js";
import { closestName } from "./suggest.js";
import { parseDuration, parsePercent, parseRate, parseSize, type UnitResult } from "../net/units.js";

const MIN_BURST = 1514;

const BUILTINS = new Set(["any", "vpn"]);
const BUILTIN_SERVICES = new Set(["tcp", "udp", "sctp", "icmp", "icmpv6"]);
// far below where recursion would exhaust the stack, far above real policies
const MAX_DEFINITION_DEPTH = 64;

/** A target as a source and as a destination. */
interface Resolved {
  readonly sources: readonly SourceAtom[];
  readonly dests: readonly DestAtom[];
}
const EMPTY: Resolved = { sources: [], dests: [] };

const sourceKey = (a: SourceAtom) => (a.kind === "any" ? "any" : `${formatPrefix(a.prefix)}:${a.viaVpn}`);
const destKey = (a: DestAtom) =>
  a.kind === "any" ? "any" : a.kind === "machine" ? `m:${a.name}` : `${formatPrefix(a.prefix)}:${a.viaVpn}`;

/** The union of targets, each atom once (groups of groups would otherwise repeat atoms exponentially). */
function union(parts: readonly Resolved[]): Resolved {
  const sources = new Map<string, SourceAtom>();
  const dests = new Map<string, DestAtom>();
  for (const p of parts) {
    for (const a of p.sources) sources.set(sourceKey(a), a);
    for (const a of p.dests) dests.set(destKey(a), a);
  }
  return { sources: [...sources.values()], dests: [...dests.values()] };
}
// nft keeps at most 128 bytes of comment, the `file:line ` label included
const MAX_COMMENT_BYTES = 72;
const MAX_LABEL_FILE = 40;

interface GroupDef {
  readonly stmt: Extract<A.Statement, { kind: "group" }>;
}
interface ServiceDef {
  readonly stmt: Extract<A.Statement, { kind: "service" }>;
}

interface MachineDraft {
  name: string;
  span: A.Span;
  hostSpan?: A.Span;
  memberSpan?: A.Span;
  physical: Prefix[];
  ifaces: string[];
  overlay: Prefix[];
  vpnRole?: "hub" | "peer";
}

/** Per-family expansion of one service item; `null` for a family it has no form in. */
type ServiceForms = Record<Family, L4[]>;

export interface CheckResult {
  readonly policy?: CheckedPolicy;
  readonly diagnostics: readonly Diagnostic[];
}

export function checkPolicy(files: readonly A.PolicyFile[], sources: Sources): CheckResult {
  return new Checker(sources).run(files);
}

class Checker {
  private readonly diagnostics: Diagnostic[] = [];
  private readonly machines = new Map<string, MachineDraft>();
  private readonly groups = new Map<string, GroupDef>();
  private readonly services = new Map<string, ServiceDef>();
  /** names that some statement refers to (for unused definitions) */
  private readonly used = new Set<string>();
  private vpn?: VpnModel;
  private vpnDecl?: Extract<A.Statement, { kind: "vpn" }>;
  private readonly groupCache = new Map<string, Resolved | "failed">();
  private readonly serviceCache = new Map<string, ServiceForms | "failed">();

  constructor(private readonly sources: Sources) {}

  private report<S extends Parameters<typeof diagnostic>[0]>(
    slug: S,
    params: Parameters<typeof diagnostic<S>>[1],
    span?: A.Span,
    extras?: DiagnosticExtras,
  ): void {
    this.diagnostics.push(diagnostic(slug, params, span, extras));
  }

  run(files: readonly A.PolicyFile[]): CheckResult {
    const statements = files.flatMap((f) => f.statements);
    for (const s of statements) this.declare(s);
    // every definition is checked, used or not
    for (const name of this.groups.keys()) this.groupValue(name, []);
    for (const [name, def] of this.services) this.namedService(name, def, []);
    if (this.machines.size === 0) {
      const first = files[files.length - 1];
      const file = first?.file ?? 0;
      const span = first?.statements[0]?.span ?? { file, start: 0, end: Math.min(1, this.sources.get(file).text.length) };
      this.report("empty-policy", {}, span, {
        help: "declare machines with `host NAME ADDRESS` or a `vpn` block with a hub and peers",
      });
    }
    const rules: CheckedRule[] = [];
    const expects: CheckedExpect[] = [];
    let masquerade: CheckedPolicy["masquerade"];
    let globalDefault: { verb: A.Verb; span: A.Span } | undefined;
    const perMachine = new Map<string, A.Verb>();
    const shapings: CheckedShaping[] = [];
    const earlyDrops: CheckedEarlyDrop[] = [];
    const links = new Map<string, { rate: number; span: A.Span }>();
    statements.forEach((s, seq) => {
      switch (s.kind) {
        case "rule": {
          const rule = this.rule(s, seq);
          if (rule) rules.push(rule);
          break;
        }
        case "expect": {
          const e = this.expect(s);
          if (e) expects.push(e);
          break;
        }
        case "masquerade": {
          if (s.source.text !== "vpn" && s.source.text !== this.vpn?.name) {
            this.report("masquerade-source", { name: s.source.text }, s.source.span);
          } else if (!this.vpnDecl) {
            this.report("no-vpn", {}, s.source.span);
          } else if (masquerade) {
            this.report("second-masquerade", {}, s.span, {
              related: [{ message: "the VPN is masqueraded here", span: masquerade.origin.span }],
            });
          } else if (s.via && s.via.text === this.vpnDecl.iface.text) {
            this.report("masquerade-via-vpn", { iface: s.via.text }, s.via.span);
          } else {
            if (s.via) this.checkIfaceName(s.via);
            masquerade = { via: s.via?.text, origin: this.origin(s.span, seq) };
            const hub = this.vpn ? this.machines.get(this.vpn.hub) : undefined;
            if (hub && hub.physical.length === 0) {
              this.report("masquerade-without-hub-address", { hub: hub.name }, s.span, {
                help: `declare \`host ${hub.name} ADDRESS\``,
              });
            }
          }
          break;
        }
        case "default": {
          if (s.hosts.length === 0) {
            if (globalDefault) this.report("conflicting-default", { host: "every machine" }, s.span);
            globalDefault = { verb: s.verb, span: s.span };
          }
          for (const h of s.hosts) {
            if (this.groups.has(h.text)) {
              this.report("wrong-kind-of-name", { name: h.text, is: "group", expected: "machine" }, h.span);
            } else if (!this.machines.has(h.text)) this.unknownName(h.text, h.span, "machine", [...this.machines.keys()]);
            else if (perMachine.has(h.text)) this.report("conflicting-default", { host: h.text }, h.span);
            else perMachine.set(h.text, s.verb);
            this.used.add(h.text);
          }
          break;
        }
        case "link":
          this.link(s, links);
          break;
        case "shape":
        case "delay": {
          const shaping = this.shaping(s, seq);
          if (shaping) shapings.push(shaping);
          break;
        }
        case "drop-early": {
          const drop = this.earlyDrop(s, seq);
          if (drop) earlyDrops.push(drop);
          break;
        }
        default:
          break;
      }
    });
    this.checkHubInterfaces(links, shapings.length > 0 || earlyDrops.length > 0, statements);
    const machines = new Map<string, Machine>();
    for (const [name, m] of this.machines) {
      machines.set(name, {
        name,
        span: m.span,
        physical: m.physical,
        ifaces: m.ifaces,
        overlay: m.overlay,
        vpnRole: m.vpnRole,
      });
    }
    return {
      policy: {
        machines,
        vpn: this.vpn,
        rules,
        masquerade,
        defaults: { global: globalDefault?.verb ?? "deny", perMachine },
        expects,
        shaping: shapings,
        earlyDrops,
        links: new Map([...links].map(([iface, l]) => [iface, l.rate])),
        definitions: this.definitions(),
      },
      diagnostics: this.diagnostics,
    };
  }

  private definitions(): Definition[] {
    const out: Definition[] = [];
    for (const [name, m] of this.machines) {
      // a VPN member is used by being one
      if (m.hostSpan) out.push({ kind: "host", name, span: m.hostSpan, used: this.used.has(name) || m.memberSpan !== undefined });
    }
    for (const [name, g] of this.groups) out.push({ kind: "group", name, span: g.stmt.name.span, used: this.used.has(name) });
    for (const [name, d] of this.services) out.push({ kind: "service", name, span: d.stmt.name.span, used: this.used.has(name) });
    return out;
  }

  private firstWordSpan(span: A.Span): A.Span {
    const text = this.sources.get(span.file).text.slice(span.start, span.end);
    const word = text.match(/^[A-Za-z-]+/)?.[0] ?? text;
    return { file: span.file, start: span.start, end: span.start + Math.max(1, word.length) };
  }

  private origin(span: A.Span, seq: number, comment?: string): Origin {
    const { line } = this.sources.position(span.file, span.start);
    const base = this.sources.get(span.file).path.split("/").pop() ?? "policy";
    const safe = base.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, MAX_LABEL_FILE);
    return { seq, span, label: `${safe}:${line}`, comment };
  }

  // ---------------------------------------------------------------- names

  private unknownName(name: string, span: A.Span, kind: string, candidates: Iterable<string>): void {
    const near = closestName(name, candidates);
    this.report("unknown-name", { name, kind }, span, near ? { help: `did you mean \`${near}\`?` } : {});
  }

  private definedSpan(name: string): A.Span | undefined {
    const m = this.machines.get(name);
    if (m) return m.hostSpan ?? m.memberSpan;
    return this.groups.get(name)?.stmt.name.span ?? this.services.get(name)?.stmt.name.span;
  }

  private duplicate(name: A.Word, first: A.Span | undefined): void {
    this.report("duplicate-name", { name: name.text }, name.span, {
      related: first ? [{ message: `\`${name.text}\` is first defined here`, span: first }] : [],
    });
  }

  private claimName(name: A.Word, kind: "machine" | "group" | "service"): boolean {
    if (BUILTINS.has(name.text) || (kind === "service" && BUILTIN_SERVICES.has(name.text))) {
      this.report("reserved-name", { name: name.text }, name.span);
      return false;
    }
    const clash =
      kind === "service"
        ? this.services.has(name.text)
        : (kind === "group" && this.machines.has(name.text)) || this.groups.has(name.text) ||
          (this.vpnDecl?.name.text === name.text);
    if (clash) {
      this.duplicate(name, this.definedSpan(name.text) ?? this.vpnDecl?.name.span);
      return false;
    }
    return true;
  }

  // --------------------------------------------------------- declarations

  private declare(s: A.Statement): void {
    switch (s.kind) {
      case "host":
        return this.declareHost(s);
      case "vpn":
        return this.declareVpn(s);
      case "group":
        if (this.claimName(s.name, "group")) this.groups.set(s.name.text, { stmt: s });
        return;
      case "service":
        if (this.claimName(s.name, "service")) this.services.set(s.name.text, { stmt: s });
        return;
      default:
        return;
    }
  }

  private machineDraft(name: A.Word): MachineDraft {
    let m = this.machines.get(name.text);
    if (!m) {
      // the name becomes the bundle's directory
      if (name.text.length > 63) this.report("invalid-machine-name", { name: `${name.text.slice(0, 20)}…`, reason: "longer than 63 characters" }, name.span);
      else if (name.text === "manifest.json") this.report("invalid-machine-name", { name: name.text, reason: "the output directory has a file of that name" }, name.span);
      else if (NAMES_TAKEN_BY_ANSIBLE.has(name.text)) this.report("invalid-machine-name", { name: name.text, reason: "`--emit ansible` uses it (a directory, or a group of the inventory)" }, name.span);
      m = { name: name.text, span: name.span, physical: [], ifaces: [], overlay: [] };
      this.machines.set(name.text, m);
    }
    return m;
  }

  private declareHost(s: Extract<A.Statement, { kind: "host" }>): void {
    const existing = this.machines.get(s.name.text);
    if (existing?.hostSpan || this.groups.has(s.name.text) || this.vpnDecl?.name.text === s.name.text) {
      this.duplicate(s.name, existing?.hostSpan ?? this.groups.get(s.name.text)?.stmt.name.span ?? this.vpnDecl?.name.span);
      return;
    }
    if (BUILTINS.has(s.name.text)) {
      this.report("reserved-name", { name: s.name.text }, s.name.span);
      return;
    }
    const m = this.machineDraft(s.name);
    m.hostSpan = s.name.span;
    m.span = s.name.span;
    m.physical.push(...this.singleAddresses(s.addresses));
    for (const iface of s.ifaces) {
      if (iface.text.startsWith("wgpc-ifb")) this.report("reserved-interface-name", { name: iface.text }, iface.span);
      else if (this.checkIfaceName(iface)) m.ifaces.push(iface.text);
    }
  }

  private declareVpn(s: Extract<A.Statement, { kind: "vpn" }>): void {
    if (this.vpnDecl) {
      this.report("second-vpn", {}, s.name.span, {
        related: [{ message: "the first VPN is declared here", span: this.vpnDecl.name.span }],
      });
      return;
    }
    if (this.machines.has(s.name.text) || this.groups.has(s.name.text)) {
      this.duplicate(s.name, this.definedSpan(s.name.text));
    }
    this.vpnDecl = s;
    this.checkIfaceName(s.iface);
    const networks = s.networks.map((a) => this.prefix(a)).filter((p): p is Prefix => p !== undefined);
    if (s.hubs.length !== 1) {
      this.report("hub-count", { count: s.hubs.length }, s.hubs[1]?.name.span ?? s.name.span);
    }
    const overlayOwners: { prefix: Prefix; member: string }[] = [];
    const members: (A.HubDecl | A.PeerDecl)[] = [...s.hubs.slice(0, 1), ...s.peers];
    for (const member of members) {
      const existing = this.machines.get(member.name.text);
      const clash = existing?.memberSpan ?? this.groups.get(member.name.text)?.stmt.name.span ?? (member.name.text === s.name.text ? s.name.span : undefined);
      if (clash || BUILTINS.has(member.name.text)) {
        if (BUILTINS.has(member.name.text)) this.report("reserved-name", { name: member.name.text }, member.name.span);
        else this.duplicate(member.name, clash);
        continue;
      }
      const m = this.machineDraft(member.name);
      m.memberSpan = member.name.span;
      m.vpnRole = member.kind;
      for (const [i, p] of this.singleAddresses(member.addresses).entries()) {
        const lit = member.addresses[i]!;
        const family = p.family === 4 ? "IPv4" : "IPv6";
        if (!networks.some((n) => n.family === p.family)) {
          this.report("member-without-address-family", { member: member.name.text, family }, lit.span);
        } else if (!networks.some((n) => prefixContains(n, p))) {
          this.report("overlay-outside-network", { address: lit.text, member: member.name.text }, lit.span, {
            help: `the VPN networks are ${networks.map((n) => `\`${formatPrefix(n)}\``).join(", ")}`,
          });
        }
        const owner = overlayOwners.find((o) => o.prefix.family === p.family && o.prefix.bits === p.bits);
        if (owner) this.report("duplicate-overlay-address", { address: lit.text, first: owner.member }, lit.span);
        else overlayOwners.push({ prefix: p, member: member.name.text });
        m.overlay.push(p);
      }
      if (member.kind === "hub" && member.key) this.checkPublicKey(member.key);
      if (member.kind === "peer") {
        this.checkPublicKey(member.key);
        if (member.endpoint) this.checkEndpoint(member.endpoint);
        if (member.keepalive) this.checkKeepalive(member.keepalive);
      }
    }
    const hub = s.hubs[0];
    if (hub) {
      const port = hub.endpoint ? this.checkEndpoint(hub.endpoint) : undefined;
      if (!hub.endpoint) {
        this.report("hub-without-endpoint", { name: hub.name.text }, hub.name.span, {
          help: "add `endpoint ADDRESS:PORT`: the address peers connect to and the UDP port the hub listens on",
        });
      }
      if (!hub.key && s.peers.length > 0) {
        this.report("hub-without-key", { name: hub.name.text }, hub.name.span, { help: "add `key \"…\"` with the hub's public key (`wg pubkey`)" });
      }
      const keyOwners = new Map<string, string>();
      for (const m of [hub, ...s.peers]) {
        if (!m.key) continue;
        const owner = keyOwners.get(m.key.text);
        if (owner) this.report("duplicate-public-key", { first: owner }, m.key.span);
        else keyOwners.set(m.key.text, m.name.text);
      }
      const members = [hub, ...s.peers].map((m): VpnMember => ({
        name: m.name.text,
        role: m.kind,
        overlay: this.machines.get(m.name.text)?.overlay ?? [],
        publicKey: m.key?.text,
        endpoint: m.endpoint ? this.endpointOf(m.endpoint) : undefined,
        keepalive: m.kind === "peer" && m.keepalive ? Number(m.keepalive.text.replace(/s$/, "")) : undefined,
        tunnel: m.kind === "peer" ? m.tunnel : "split",
      }));
      this.vpn = {
        name: s.name.text,
        iface: s.iface.text,
        networks,
        hub: hub.name.text,
        listenPort: port ?? 51820,
        members,
        mtu: this.tunnelMtu(s, members, networks),
        span: s.name.span,
      };
    } else if (s.mtu) this.checkNumber(s.mtu, "MTU", 576, 65535);
  }

  private endpointOf(ep: A.Endpoint): VpnMember["endpoint"] {
    const family = ep.hostKind === "ipv4" ? 4 : ep.hostKind === "ipv6" ? 6 : undefined;
    return { host: ep.host.text, port: Number(ep.port.text), family };
  }

  /**
   * WireGuard adds 60 bytes over IPv4 and 80 over IPv6. Peers reach the hub
   * at its endpoint, so the outer family is IPv4 only when the hub's
   * endpoint and every peer's own endpoint are IPv4 addresses.
   */
  private tunnelMtu(s: Extract<A.Statement, { kind: "vpn" }>, members: readonly VpnMember[], networks: readonly Prefix[]): number {
    const underlay = s.mtu ? (this.checkNumber(s.mtu, "MTU", 576, 65535) ?? 1500) : 1500;
    const allIpv4 = members.every((m) => (m.role === "hub" ? m.endpoint?.family === 4 : !m.endpoint || m.endpoint.family === 4));
    const mtu = underlay - (allIpv4 ? 60 : 80);
    if (mtu < 1280 && networks.some((n) => n.family === 6)) {
      this.report("tunnel-mtu-too-small", { mtu, underlay }, s.mtu?.span ?? s.name.span, {
        help: "IPv6 needs an MTU of at least 1280: raise the underlay MTU or drop the IPv6 network",
      });
    }
    return mtu;
  }

  private checkNumber(word: A.Word, what: string, low: number, high: number): number | undefined {
    const n = Number(word.text);
    if (!/^\d+$/.test(word.text) || n < low || n > high) {
      this.report("invalid-number", { text: word.text, what, range: `${low}-${high}` }, word.span);
      return undefined;
    }
    return n;
  }

  private checkKeepalive(word: A.Word): void {
    const m = word.text.match(/^(\d+)s$/);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) {
      this.report("invalid-number", { text: word.text, what: "keepalive", range: "1s-65535s" }, word.span);
    }
  }

  private checkEndpoint(ep: A.Endpoint): number | undefined {
    if (ep.hostKind !== "name") {
      const parsed = parseAddress(ep.host.text);
      if (!parsed.ok) this.report("invalid-address", { text: ep.host.text, reason: parsed.reason }, ep.host.span);
      else if (parsed.hadLength) this.report("prefix-not-address", { text: ep.host.text }, ep.host.span);
    }
    const port = Number(ep.port.text);
    if (port < 1 || port > 65535) {
      this.report("port-out-of-range", { port: ep.port.text }, ep.port.span);
      return undefined;
    }
    return port;
  }

  private checkPublicKey(key: A.Word): void {
    const text = key.text;
    let reason: string | undefined;
    if (text.length !== 44) reason = `it has ${text.length} characters, a key has 44`;
    else if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(text)) reason = "it is not the base64 form of 32 bytes";
    if (reason) this.report("invalid-public-key", { reason }, key.span, { help: "write the output of `wg pubkey`" });
  }

  private checkIfaceName(word: A.Word): boolean {
    let reason: string | undefined;
    if (word.text.length > 15) reason = "longer than 15 characters";
    else if (word.text === "." || word.text === "..") reason = "reserved";
    else if (/[\s/:"'\\]/.test(word.text)) reason = "contains a character Linux does not allow";
    if (reason) {
      this.report("invalid-interface-name", { name: word.text, reason }, word.span);
      return false;
    }
    return true;
  }

  // ------------------------------------------------------------ addresses

  private prefix(lit: A.AddressLit): Prefix | undefined {
    const parsed = parseAddress(lit.text);
    if (!parsed.ok) {
      this.report("invalid-address", { text: lit.text, reason: parsed.reason }, lit.span);
      return undefined;
    }
    const p: Prefix = { family: parsed.family, bits: parsed.bits, length: parsed.length };
    if (parsed.hostBitsSet) {
      this.report("host-bits-set", { text: lit.text, normalised: formatPrefix(p) }, lit.span, {
        help: `write \`${formatPrefix(p)}\`, or \`${lit.text.split("/")[0]}\` for the single address`,
      });
    }
    return p;
  }

  private singleAddresses(lits: readonly A.AddressLit[]): Prefix[] {
    const out: Prefix[] = [];
    for (const lit of lits) {
      const parsed = parseAddress(lit.text);
      if (!parsed.ok) {
        this.report("invalid-address", { text: lit.text, reason: parsed.reason }, lit.span);
      } else if (parsed.length !== familyWidth(parsed.family)) {
        this.report("prefix-not-address", { text: lit.text }, lit.span);
      } else {
        out.push({ family: parsed.family, bits: parsed.bits, length: parsed.length });
      }
    }
    return out;
  }

  /** Splits a literal source prefix into its overlay part (a VPN identity) and the rest. */
  private literalSourceAtoms(p: Prefix): SourceAtom[] {
    const networks = (this.vpn?.networks ?? []).filter((n) => n.family === p.family && prefixesOverlap(n, p));
    if (networks.length === 0) return [{ kind: "prefix", prefix: p, viaVpn: false }];
    let outside: Prefix[] = [p];
    const inside: Prefix[] = [];
    for (const n of networks) {
      inside.push(prefixContains(n, p) ? p : n);
      outside = outside.flatMap((o) => subtractPrefix(o, n));
    }
    return [
      ...outside.map((prefix): SourceAtom => ({ kind: "prefix", prefix, viaVpn: false })),
      ...inside.map((prefix): SourceAtom => ({ kind: "prefix", prefix, viaVpn: true })),
    ];
  }

  // -------------------------------------------------------------- targets

  private vpnMembers(span: A.Span): Resolved {
    if (!this.vpnDecl) {
      this.report("no-vpn", {}, span);
      return EMPTY;
    }
    return {
      sources: (this.vpn?.networks ?? []).map((prefix) => ({ kind: "prefix", prefix, viaVpn: true })),
      // as a destination: every member of the VPN, as machines
      dests: [...this.machines.values()].filter((m) => m.vpnRole).map((m) => ({ kind: "machine", name: m.name })),
    };
  }

  private machineTarget(m: MachineDraft): Resolved {
    return {
      sources: [
        ...m.physical.map((prefix): SourceAtom => ({ kind: "prefix", prefix, viaVpn: false })),
        ...m.overlay.map((prefix): SourceAtom => ({ kind: "prefix", prefix, viaVpn: true })),
      ],
      // a machine is enforced at the machine itself, whichever address is used
      dests: [{ kind: "machine", name: m.name }],
    };
  }

  private targetNameCandidates(): string[] {
    return ["any", "vpn", ...this.machines.keys(), ...this.groups.keys()];
  }

  /**
   * What a target means as a source and as a destination, resolved once
   * (so a mistake in it is reported once).
   */
  private resolveTarget(t: A.Target, chain: readonly string[] = []): Resolved {
    switch (t.kind) {
      case "address": {
        const p = this.prefix(t);
        if (!p) return EMPTY;
        const viaVpn = (this.vpn?.networks ?? []).some((n) => prefixContains(n, p));
        return { sources: this.literalSourceAtoms(p), dests: [{ kind: "prefix", prefix: p, viaVpn }] };
      }
      case "list":
        return union(t.items.map((item) => this.resolveTarget(item, chain)));
      case "name": {
        if (t.name === "any") return { sources: [{ kind: "any" }], dests: [{ kind: "any" }] };
        if (t.name === "vpn" || t.name === this.vpnDecl?.name.text) return this.vpnMembers(t.span);
        this.used.add(t.name);
        const m = this.machines.get(t.name);
        if (m) return this.machineTarget(m);
        if (this.groups.has(t.name)) return this.groupValue(t.name, chain);
        if (this.services.has(t.name)) {
          this.report("wrong-kind-of-name", { name: t.name, is: "service", expected: "machine, group or address" }, t.span);
          return EMPTY;
        }
        this.unknownName(t.name, t.span, "name", this.targetNameCandidates());
        return EMPTY;
      }
    }
  }

  /**
   * Expands a named definition once, however often it is used. A cycle or
   * an unbounded chain of definitions is one error, at the definition.
   */
  private expandOnce<T>(
    kind: "group" | "service",
    name: string,
    span: A.Span,
    chain: readonly string[],
    cache: Map<string, T | "failed">,
    expand: (chain: string[]) => T | undefined,
  ): T | undefined {
    const cached = cache.get(name);
    if (cached === "failed") return undefined;
    if (cached !== undefined) return cached;
    if (chain.includes(name)) {
      const cycle = [...chain.slice(chain.indexOf(name)), name].map((n) => `\`${n}\``).join(" → ");
      this.report("group-cycle", { kind, chain: cycle }, span);
      cache.set(name, "failed");
      return undefined;
    }
    if (chain.length >= MAX_DEFINITION_DEPTH) {
      this.report("definition-too-deep", { kind, limit: MAX_DEFINITION_DEPTH }, span);
      cache.set(name, "failed");
      return undefined;
    }
    const value = expand([...chain, name]);
    // a cycle back to this definition has marked it failed meanwhile
    if (cache.get(name) === "failed") return undefined;
    cache.set(name, value ?? "failed");
    return value;
  }

  private groupValue(name: string, chain: readonly string[]): Resolved {
    const g = this.groups.get(name)!;
    return (
      this.expandOnce("group", name, g.stmt.name.span, chain, this.groupCache, (inner) =>
        union(g.stmt.members.map((member) => this.resolveTarget(member, inner))),
      ) ?? EMPTY
    );
  }

  // ------------------------------------------------------------- services

  private serviceItemForms(item: A.ServiceItem, chain: string[]): ServiceForms | undefined {
    if (item.kind === "ports") {
      const proto = item.proto.text;
      if (proto === "icmp" || proto === "icmpv6") {
        this.report("ports-on-portless-protocol", { proto }, item.proto.span, {
          help: `match ICMP by type, e.g. \`${proto}/echo-request\``,
        });
        return undefined;
      }
      if (!(PORT_PROTOCOLS as readonly string[]).includes(proto)) {
        this.report("unknown-protocol", { name: proto }, item.proto.span, { help: "ports go with tcp, udp or sctp" });
        return undefined;
      }
      const low = this.port(item.low);
      const high = item.high ? this.port(item.high) : low;
      if (low === undefined || high === undefined) return undefined;
      if (high < low) {
        this.report("reversed-port-range", { low: item.low.text, high: item.high!.text }, item.span, {
          help: `write \`${high}-${low}/${proto}\``,
        });
        return undefined;
      }
      const l4: L4 = { kind: "ports", proto: proto as PortProto, ports: [{ low, high }] };
      return { 4: [l4], 6: [l4] };
    }
    const name = item.name.text;
    const defined = this.services.get(name);
    if (defined) this.used.add(name);
    if (defined && !item.icmpType) return this.namedService(name, defined, chain);
    if ((PORT_PROTOCOLS as readonly string[]).includes(name)) {
      if (item.icmpType) {
        this.report("icmp-type-on-non-icmp", { name }, item.icmpType.span);
        return undefined;
      }
      const l4: L4 = { kind: "ports", proto: name as PortProto, ports: null };
      return { 4: [l4], 6: [l4] };
    }
    if (name === "icmp" || name === "icmpv6") return this.icmpForms(name, item.icmpType);
    if (item.icmpType) {
      this.report("icmp-type-on-non-icmp", { name }, item.name.span);
      return undefined;
    }
    const near = closestName(name, [...this.services.keys(), ...PORT_PROTOCOLS, "icmp", "icmpv6"]);
    if (this.machines.has(name) || this.groups.has(name)) {
      this.report("wrong-kind-of-name", { name, is: this.machines.has(name) ? "machine" : "group", expected: "service" }, item.name.span);
    } else {
      this.report("unknown-protocol", { name }, item.name.span, near ? { help: `did you mean \`${near}\`?` } : {});
    }
    return undefined;
  }

  private icmpForms(proto: "icmp" | "icmpv6", type: A.Word | undefined): ServiceForms | undefined {
    // `icmp` means ICMP for IPv4 and ICMPv6 for IPv6; `icmpv6` only the latter.
    const families: Family[] = proto === "icmp" ? [4, 6] : [6];
    const forms: ServiceForms = { 4: [], 6: [] };
    if (!type) {
      for (const f of families) forms[f].push({ kind: "icmp", proto: f === 4 ? "icmp" : "icmpv6", types: null });
      return forms;
    }
    if (/^\d+$/.test(type.text)) {
      const n = Number(type.text);
      if (n > 255) {
        this.report("unknown-icmp-type", { name: type.text, proto }, type.span, { help: "ICMP types are 0-255" });
        return undefined;
      }
      // a number is one protocol's number: icmp/8 is IPv4's echo-request only
      const f: Family = proto === "icmp" ? 4 : 6;
      forms[f].push({ kind: "icmp", proto: f === 4 ? "icmp" : "icmpv6", types: [n] });
      return forms;
    }
    const numbers = ICMP_TYPES[type.text];
    if (!numbers || (proto === "icmpv6" && numbers.v6 === undefined)) {
      const names = Object.keys(ICMP_TYPES).filter((n) => proto === "icmp" || ICMP_TYPES[n]!.v6 !== undefined);
      const near = closestName(type.text, names);
      this.report("unknown-icmp-type", { name: type.text, proto }, type.span, near ? { help: `did you mean \`${near}\`?` } : {});
      return undefined;
    }
    for (const f of families) {
      const n = f === 4 ? numbers.v4 : numbers.v6;
      if (n !== undefined) forms[f].push({ kind: "icmp", proto: f === 4 ? "icmp" : "icmpv6", types: [n] });
    }
    return forms;
  }

  private port(word: A.Word): number | undefined {
    const n = Number(word.text);
    if (!/^\d+$/.test(word.text) || n < 1 || n > 65535) {
      this.report("port-out-of-range", { port: word.text }, word.span);
      return undefined;
    }
    return n;
  }

  private namedService(name: string, def: ServiceDef, chain: readonly string[]): ServiceForms | undefined {
    return this.expandOnce("service", name, def.stmt.name.span, chain, this.serviceCache, (inner) => {
      const forms: ServiceForms = { 4: [], 6: [] };
      let ok = true;
      for (const item of def.stmt.items) {
        const f = this.serviceItemForms(item, inner);
        if (!f) ok = false;
        else for (const fam of FAMILIES) forms[fam].push(...f[fam]);
      }
      return ok ? { 4: mergeL4(forms[4]), 6: mergeL4(forms[6]) } : undefined;
    });
  }

  private servicesOf(items: readonly A.ServiceItem[] | undefined): Services | undefined {
    if (!items) return null;
    const forms: ServiceForms = { 4: [], 6: [] };
    let ok = true;
    for (const item of items) {
      const f = this.serviceItemForms(item, []);
      if (!f) ok = false;
      else for (const fam of FAMILIES) forms[fam].push(...f[fam]);
    }
    if (!ok) return undefined;
    return { 4: mergeL4(forms[4]), 6: mergeL4(forms[6]) };
  }

  // -------------------------------------------------------------- shaping

  private quantity<T>(word: A.Word, parsed: UnitResult<T>): T | undefined {
    if (parsed.ok) return parsed.value;
    this.report("invalid-quantity", { reason: parsed.reason }, word.span, parsed.help ? { help: parsed.help } : {});
    return undefined;
  }

  /** `link` names a hub interface; shaping and early drop need the hub's physical one named. */
  private checkHubInterfaces(links: Map<string, { rate: number; span: A.Span }>, usesHub: boolean, statements: readonly A.Statement[]): void {
    const hub = this.vpn ? this.machines.get(this.vpn.hub) : undefined;
    if (!hub || !this.vpn) return;
    const iface = this.vpnDecl?.iface.text;
    for (const m of this.machines.values()) {
      if (iface && m.ifaces.includes(iface)) this.report("physical-is-vpn-interface", { iface }, m.hostSpan ?? m.span);
    }
    const known = [this.vpn.iface, ...(hub.ifaces.length > 0 ? hub.ifaces : ["eth0"])];
    for (const [iface, l] of links) {
      if (!known.includes(iface)) this.report("unknown-link-interface", { iface, known: known.map((k) => `\`${k}\``).join(", ") }, l.span);
    }
    if (usesHub && hub.ifaces.length === 0) {
      const first = statements.find((x) => x.kind === "shape" || x.kind === "delay" || x.kind === "drop-early")!;
      this.report("hub-interface-assumed", { hub: hub.name }, this.firstWordSpan(first.span), {
        help: `write \`host ${hub.name} ADDRESS on IFACE\``,
      });
    }
  }

  private link(s: Extract<A.Statement, { kind: "link" }>, links: Map<string, { rate: number; span: A.Span }>): void {
    if (!this.checkIfaceName(s.iface)) return;
    const rate = this.quantity(s.rate, parseRate(s.rate.text));
    if (rate === undefined) return;
    const known = links.get(s.iface.text);
    if (known) {
      this.report("duplicate-link", { iface: s.iface.text }, s.iface.span, { related: [{ message: "first declared here", span: known.span }] });
    } else links.set(s.iface.text, { rate, span: s.iface.span });
  }

  /** The classes of a shape or delay: one per member with `each`, else one. The hub itself is skipped. */
  private shapeTargets(targets: readonly A.Target[], each: boolean): ShapeTarget[] {
    const hub = this.vpn?.hub;
    const groups: ShapeTarget[] = [];
    for (const t of targets) {
      if (t.kind === "name" && (t.name === "vpn" || t.name === this.vpnDecl?.name.text)) {
        // the VPN is its overlay: traffic through the VPN interface only; `each` is per peer
        if (each) {
          for (const m of this.machines.values()) {
            if (m.vpnRole === "peer") groups.push({ name: m.name, prefixes: m.overlay });
          }
        } else groups.push({ name: t.name, prefixes: this.vpn?.networks ?? [] });
        continue;
      }
      for (const d of this.resolveTarget(t).dests) {
        if (d.kind === "machine" && d.name === hub) {
          this.report("target-not-crossing", { name: hub }, t.span);
          continue;
        }
        const name = d.kind === "any" ? "any" : d.kind === "machine" ? d.name : formatPrefix(d.prefix);
        const prefixes: Prefix[] =
          d.kind === "any"
            ? FAMILIES.map((family) => ({ family, bits: 0n, length: 0 }))
            : d.kind === "prefix"
              ? [d.prefix]
              : [...this.machines.get(d.name)!.physical, ...this.machines.get(d.name)!.overlay];
        groups.push({ name, prefixes });
      }
    }
    if (each || groups.length <= 1) return groups;
    return [{ name: groups.map((g) => g.name).join(", "), prefixes: groups.flatMap((g) => g.prefixes) }];
  }

  private shaping(s: Extract<A.Statement, { kind: "shape" | "delay" }>, seq: number): CheckedShaping | undefined {
    const before = this.diagnostics.length;
    if (!this.vpnDecl) {
      this.report("shaping-without-hub", {}, this.firstWordSpan(s.span));
      return undefined;
    }
    const targets = this.shapeTargets(s.targets, s.kind === "shape" && s.each);
    const origin = this.origin(s.span, seq);
    if (s.kind === "shape") {
      const rate = this.quantity(s.rate, parseRate(s.rate.text));
      const ceil = s.ceil ? this.quantity(s.ceil, parseRate(s.ceil.text)) : rate;
      let burst = s.burst ? this.quantity(s.burst, parseSize(s.burst.text)) : undefined;
      const prio = s.prio ? this.checkNumber(s.prio, "prio", 0, 7) : undefined;
      if (rate !== undefined && ceil !== undefined && ceil < rate) {
        this.report("ceil-below-rate", { ceil: s.ceil!.text, rate: s.rate.text }, s.ceil!.span);
      }
      if (burst !== undefined && burst < MIN_BURST) {
        this.report("burst-raised", { burst: s.burst!.text }, s.burst!.span);
        burst = MIN_BURST;
      }
      if (burst !== undefined && rate !== undefined && (burst * 8) / rate > 250) {
        this.report("burst-too-long", { burst: s.burst!.text, rate: s.rate.text }, s.burst!.span);
      }
      if (this.diagnostics.slice(before).some((d) => d.severity === "error") || rate === undefined || ceil === undefined) return undefined;
      return { kind: "shape", origin, direction: s.direction, targets, rate, ceil, burst, prio };
    }
    const delay = this.quantity(s.delay, parseDuration(s.delay.text));
    const jitter = s.jitter ? this.quantity(s.jitter, parseDuration(s.jitter.text)) : undefined;
    const loss = s.loss ? this.quantity(s.loss, parsePercent(s.loss.text)) : undefined;
    if (delay !== undefined && delay > 60_000) this.report("out-of-range", { what: "delay", value: s.delay.text, range: "0-60s" }, s.delay.span);
    if (jitter !== undefined && delay !== undefined && jitter > delay) {
      this.report("out-of-range", { what: "jitter", value: s.jitter!.text, range: `0-${s.delay.text}, the delay` }, s.jitter!.span);
    }
    if (loss !== undefined && loss > 100) this.report("out-of-range", { what: "loss", value: s.loss!.text, range: "0-100%" }, s.loss!.span);
    if (this.diagnostics.slice(before).some((d) => d.severity === "error") || delay === undefined) return undefined;
    return { kind: "delay", origin, direction: s.direction, targets, delay, jitter, loss };
  }

  // ----------------------------------------------------------- early drop

  private earlyDrop(s: Extract<A.Statement, { kind: "drop-early" }>, seq: number): CheckedEarlyDrop | undefined {
    const before = this.diagnostics.length;
    if (!this.vpnDecl) {
      this.report("early-without-hub", {}, this.firstWordSpan(s.span));
      return undefined;
    }
    const sources = s.sources.length > 0 ? union(s.sources.map((t) => this.resolveTarget(t))).sources : [{ kind: "any" as const }];
    const destination = s.destination ? this.destination(s.destination) : { dests: [{ kind: "any" as const }], services: null };
    if (this.diagnostics.slice(before).some((d) => d.severity === "error") || destination.services === undefined) return undefined;
    if (!this.checkFamilies(sources, destination.dests, s.span)) return undefined;
    let dests: Prefix[] | null = [];
    for (const d of destination.dests) {
      if (d.kind === "any") {
        dests = null;
        break;
      }
      dests.push(...(d.kind === "prefix" ? [d.prefix] : [...this.machines.get(d.name)!.physical, ...this.machines.get(d.name)!.overlay]));
    }
    const acknowledged = new Set<Acknowledgeable>();
    for (const word of s.acknowledged) {
      const known = ACKNOWLEDGEABLE.find((a) => a === word.text);
      if (known) acknowledged.add(known);
      else this.report("invalid-option-value", { value: word.text, option: "acknowledgement", expected: ACKNOWLEDGEABLE.join(" or ") }, word.span);
    }
    return { origin: this.origin(s.span, seq), sources, dests: dests && normalisePrefixes(dests), services: destination.services, acknowledged };
  }

  // ---------------------------------------------------------------- rules

  private destination(d: A.Destination): { dests: DestAtom[]; services: Services | undefined } {
    return { dests: [...this.resolveTarget(d.target).dests], services: this.servicesOf(d.services) };
  }

  private sourceFamilies(atoms: readonly SourceAtom[]): Set<Family> {
    return new Set(atoms.flatMap((a) => (a.kind === "any" ? FAMILIES : [a.prefix.family])));
  }

  private destFamilies(atoms: readonly DestAtom[]): Set<Family> {
    return new Set(
      atoms.flatMap((a) => {
        if (a.kind === "any") return FAMILIES;
        if (a.kind === "prefix") return [a.prefix.family];
        const m = this.machines.get(a.name)!;
        return [...m.physical, ...m.overlay].map((p) => p.family);
      }),
    );
  }

  private checkFamilies(sources: readonly SourceAtom[], dests: readonly DestAtom[], span: A.Span): boolean {
    const s = this.sourceFamilies(sources);
    const d = this.destFamilies(dests);
    if (s.size === 0 || d.size === 0) return true;
    if (![...s].some((f) => d.has(f))) {
      const name = (set: Set<Family>) => [...set].map((f) => (f === 4 ? "IPv4" : "IPv6")).join(" and ");
      this.report("family-mismatch", { source: name(s), destination: name(d) }, span);
      return false;
    }
    return true;
  }

  /** A rule that applies to a family but whose services have no form in it would vanish there. */
  private checkServiceFamilies(sources: SourceAtom[], dests: DestAtom[], services: Services, span: A.Span): void {
    if (services === null) return;
    const d = this.destFamilies(dests);
    for (const f of this.sourceFamilies(sources)) {
      if (d.has(f) && services[f].length === 0) {
        this.report("family-without-rule", { family: f === 4 ? "IPv4" : "IPv6" }, span, {
          help: "ICMP type numbers belong to one family; name the type (`icmp/echo-request`) to match it in both",
        });
      }
    }
  }

  private checkComment(word: A.Word): string | undefined {
    let reason: string | undefined;
    if (Buffer.byteLength(word.text, "utf8") > MAX_COMMENT_BYTES) reason = `longer than ${MAX_COMMENT_BYTES} bytes`;
    else if (/["\\]/.test(word.text)) reason = "quotes and backslashes cannot be carried into nft comments";
    else if (/[\u0000-\u001f\u007f]/.test(word.text)) reason = "control characters are not allowed";
    if (reason) {
      this.report("invalid-comment", { reason }, word.span);
      return undefined;
    }
    return word.text;
  }

  private rule(s: Extract<A.Statement, { kind: "rule" }>, seq: number): CheckedRule | undefined {
    const before = this.diagnostics.length;
    const sources = [...this.resolveTarget(s.source).sources];
    const { dests, services } = this.destination(s.destination);
    const comment = s.comment ? this.checkComment(s.comment) : undefined;
    if (this.diagnostics.slice(before).some((d) => d.severity === "error")) return undefined;
    if (services === undefined || !this.checkFamilies(sources, dests, s.span)) return undefined;
    this.checkServiceFamilies(sources, dests, services, s.destination.span);
    return { verb: s.verb, origin: this.origin(s.span, seq, comment), sources, dests, services };
  }

  private expect(s: Extract<A.Statement, { kind: "expect" }>): CheckedExpect | undefined {
    const before = this.diagnostics.length;
    const sources = [...this.resolveTarget(s.source).sources];
    const { dests, services } = this.destination(s.destination);
    if (this.diagnostics.slice(before).some((d) => d.severity === "error")) return undefined;
    if (services === undefined || !this.checkFamilies(sources, dests, s.span)) return undefined;
    const options = this.expectOptions(s);
    return options && { verdict: s.verdict, span: s.span, sources, dests, services, ...options };
  }

  private expectOptions(s: Extract<A.Statement, { kind: "expect" }>): Pick<CheckedExpect, "family" | "state" | "iface"> | undefined {
    let ok = true;
    const family = s.family && (s.family.text === "4" ? 4 : s.family.text === "6" ? 6 : undefined);
    if (s.family && family === undefined) {
      this.report("invalid-option-value", { value: s.family.text, option: "family", expected: "4 or 6" }, s.family.span);
      ok = false;
    }
    const state = s.state ? CONNTRACK_STATES.find((x) => x === s.state!.text) : "new";
    if (s.state && state === undefined) {
      this.report("invalid-option-value", { value: s.state.text, option: "state", expected: CONNTRACK_STATES.join(", ") }, s.state.span);
      ok = false;
    }
    if (s.iface) {
      const known = new Set<string>(this.vpnDecl ? [this.vpnDecl.iface.text] : []);
      for (const m of this.machines.values()) for (const i of m.ifaces.length > 0 ? m.ifaces : ["eth0"]) known.add(i);
      if (!known.has(s.iface.text)) {
        this.report("unknown-interface", { iface: s.iface.text, known: [...known].sort().join(", ") }, s.iface.span);
        ok = false;
      }
    }
    return ok ? { family, state: state ?? "new", iface: s.iface?.text } : undefined;
  }
}
