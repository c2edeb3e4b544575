// Shape and delay statements → HTB trees on the hub's devices. Traffic to a
// target leaves by the interface that reaches it (the VPN interface for
// overlay addresses, the hub's physical interface otherwise) and is shaped
// there on egress; traffic from a target is redirected from that
// interface's ingress to an ifb device and shaped there.
//
// Shaping classes match first, in policy order; then each delay gets a class
// for what remains, and its netem also becomes the leaf of every shaping
// class whose addresses it covers.
import type { CheckedPolicy, CheckedShaping, Origin } from "../check/model.js";
import { normalisePrefixes, prefixContains, prefixesOverlap, type Prefix } from "../net/address.js";
import { formatRate } from "../net/units.js";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import type { Leaf, ShapeClass, ShapedDevice } from "./types.js";

/** Capacity of an interface whose `link` is not declared. */
export const DEFAULT_LINK = 1e9;
const R2Q = 10;
const MIN_QUANTUM = 1514;
const MAX_QUANTUM = 200_000;
const FIRST_CLASS = 0x10;

export interface ShapingOptions {
  /** the leaf qdisc of classes without delay (fq_codel unless configured) */
  readonly leafQdisc: string;
}

const quantumFor = (rate: number) => Math.min(MAX_QUANTUM, Math.max(MIN_QUANTUM, Math.floor(rate / 8 / R2Q)));
// Bursts are always written: tc's own default comes out as 0 bytes at 8gbit
// and more. One millisecond at the rate, and never less than a frame.
const MIN_BURST = 1600;
const burstFor = (rate: number) => Math.max(MIN_BURST, Math.ceil(rate / 8 / 1000));
// each class takes two filter priorities, and u32 has about 2000 per device
export const MAX_CLASSES = 1000;
const MIN_RATE = 8;

interface DraftClass {
  readonly origin: Origin;
  readonly label: string;
  readonly shaping: CheckedShaping;
  readonly matches: Prefix[];
}

interface DraftDevice {
  readonly device: string;
  readonly redirectFrom?: string;
  readonly matchOn: "dst" | "src";
  readonly iface: string;
  readonly shapes: DraftClass[];
  readonly delays: DraftClass[];
}

export interface ShapingResult {
  readonly devices: readonly ShapedDevice[];
  readonly diagnostics: readonly Diagnostic[];
}

export function lowerShaping(policy: CheckedPolicy, host: string, options: ShapingOptions): ShapingResult {
  const vpn = policy.vpn;
  if (!vpn || vpn.hub !== host || policy.shaping.length === 0) return { devices: [], diagnostics: [] };
  const hub = policy.machines.get(host)!;
  const physical = hub.ifaces[0] ?? "eth0";
  const ifaces = [...new Set([vpn.iface, physical])].sort();
  const ifbName = (iface: string) => `wgpc-ifb${ifaces.indexOf(iface)}`;

  /** The hub interfaces that carry traffic to or from a prefix. */
  const ifacesFor = (p: Prefix): string[] => {
    if (vpn.networks.some((n) => prefixContains(n, p))) return [vpn.iface];
    if (vpn.networks.some((n) => prefixesOverlap(n, p))) return [vpn.iface, physical];
    return [physical];
  };

  const devices = new Map<string, DraftDevice>();
  const deviceFor = (iface: string, direction: "to" | "from"): DraftDevice => {
    const key = direction === "to" ? iface : ifbName(iface);
    let d = devices.get(key);
    if (!d) {
      d = direction === "to"
        ? { device: iface, matchOn: "dst", iface, shapes: [], delays: [] }
        : { device: key, redirectFrom: iface, matchOn: "src", iface, shapes: [], delays: [] };
      devices.set(key, d);
    }
    return d;
  };

  for (const s of policy.shaping) {
    const directions: ("to" | "from")[] = s.direction === "both" ? ["to", "from"] : [s.direction];
    for (const target of s.targets) {
      const byIface = new Map<string, Prefix[]>();
      for (const p of target.prefixes) for (const i of ifacesFor(p)) byIface.set(i, [...(byIface.get(i) ?? []), p]);
      for (const [iface, prefixes] of byIface) {
        for (const direction of directions) {
          const draft: DraftClass = { origin: s.origin, label: `${s.origin.label} ${s.kind} ${direction} ${target.name}`, shaping: s, matches: normalisePrefixes(prefixes) };
          const device = deviceFor(iface, direction);
          (s.kind === "shape" ? device.shapes : device.delays).push(draft);
        }
      }
    }
  }

  const diagnostics: Diagnostic[] = [];
  const result: ShapedDevice[] = [];
  for (const d of [...devices.values()].sort((a, b) => a.device.localeCompare(b.device))) {
    const link = policy.links.get(d.iface) ?? DEFAULT_LINK;
    const guaranteed = d.shapes.reduce((sum, c) => sum + (c.shaping.kind === "shape" ? c.shaping.rate : 0), 0);
    const count = d.shapes.length + d.delays.length;
    if (count > MAX_CLASSES) {
      diagnostics.push(diagnostic("too-many-classes", { device: d.device, count, limit: MAX_CLASSES }, (d.shapes[0] ?? d.delays[0])!.origin.span));
      continue;
    }
    if (guaranteed > link) {
      diagnostics.push(
        diagnostic(
          "link-oversubscribed",
          { iface: d.device, total: formatRate(guaranteed), link: formatRate(link), classes: d.shapes.map((c) => c.origin.label).join(", ") },
          d.shapes[0]!.origin.span,
          {
            related: d.shapes
              .filter((c, i) => i > 0 && c.origin.span !== d.shapes[0]!.origin.span)
              .map((c) => ({ message: "also guaranteed here", span: c.origin.span })),
          },
        ),
      );
      continue;
    }
    const covering = (c: DraftClass): Leaf | undefined => {
      const delay = d.delays.find((x) => c.matches.every((m) => x.matches.some((p) => prefixContains(p, m))));
      return delay && delay.shaping.kind === "delay"
        ? { kind: "netem", delay: delay.shaping.delay, jitter: delay.shaping.jitter, loss: delay.shaping.loss }
        : undefined;
    };
    for (const delay of d.delays) {
      for (const c of d.shapes) {
        const overlaps = delay.matches.some((p) => c.matches.some((m) => prefixesOverlap(p, m)));
        const covered = c.matches.every((m) => delay.matches.some((p) => prefixContains(p, m)));
        if (overlaps && !covered) {
          diagnostics.push(diagnostic("delay-partly-hidden", { delay: delay.origin.label, shape: c.origin.label }, delay.origin.span));
        }
      }
    }
    const plain: Leaf = { kind: "plain", qdisc: options.leafQdisc };
    // a delay guarantees nothing: its class gets a small share, and may use up to the whole link
    const delayShare = Math.max(MIN_RATE, Math.floor(link / 100));
    const minor = (i: number) => (FIRST_CLASS + i).toString(16);
    const classes: ShapeClass[] = [
      ...d.shapes.map((c, i): ShapeClass => {
        const s = c.shaping as Extract<CheckedShaping, { kind: "shape" }>;
        return {
          minor: minor(i),
          label: c.label,
          rate: s.rate,
          ceil: s.ceil,
          burst: s.burst ?? burstFor(s.rate),
          cburst: burstFor(s.ceil),
          prio: s.prio,
          quantum: quantumFor(s.rate),
          leaf: covering(c) ?? plain,
          matches: c.matches,
        };
      }),
      ...d.delays.map((c, i): ShapeClass => {
        const s = c.shaping as Extract<CheckedShaping, { kind: "delay" }>;
        const rate = delayShare;
        return {
          minor: minor(d.shapes.length + i),
          label: c.label,
          rate,
          ceil: link,
          burst: burstFor(rate),
          cburst: burstFor(link),
          quantum: quantumFor(rate),
          leaf: { kind: "netem", delay: s.delay, jitter: s.jitter, loss: s.loss },
          matches: c.matches,
        };
      }),
    ];
    // the fallback gets what the shapes and the delays' small shares leave, so that the
    // children's rates never add up to more than the link
    const fallbackRate = Math.max(link - guaranteed - d.delays.length * delayShare, Math.floor(link / 100), MIN_RATE);
    result.push({
      device: d.device,
      redirectFrom: d.redirectFrom,
      matchOn: d.matchOn,
      link,
      r2q: R2Q,
      root: { minor: "1", label: "link", rate: link, ceil: link, burst: burstFor(link), cburst: burstFor(link), quantum: quantumFor(link), leaf: plain, matches: [] },
      fallback: {
        minor: "2",
        label: "everything else",
        rate: fallbackRate,
        ceil: link,
        burst: burstFor(fallbackRate),
        cburst: burstFor(link),
        quantum: quantumFor(fallbackRate),
        leaf: plain,
        matches: [],
      },
      classes,
    });
  }
  return { devices: result, diagnostics };
}
