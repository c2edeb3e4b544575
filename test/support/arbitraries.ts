// fast-check generators: random but valid policies over a small topology
// (a hub, a few hosts and peers, both families), written as .wgp source so
// that a shrunk counterexample can be pasted into test/cases/.
import fc from "fast-check";

const HUB = { name: "hub", physical: ["192.0.2.1", "2001:db8:1::1"], overlay: ["10.8.0.1", "fd00:8::1"] };
const HOSTS = [
  { name: "h1", physical: ["192.0.2.11", "2001:db8:1::11"] },
  { name: "h2", physical: ["192.0.2.12"] },
  { name: "h3", physical: ["2001:db8:1::13"] },
];
const PEERS = [
  { name: "p1", overlay: ["10.8.0.2", "fd00:8::2"], physical: ["192.0.2.21"] },
  { name: "p2", overlay: ["10.8.0.3"], physical: [] as string[] },
];
const KEY = "GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I=";
/** a distinct, well-formed public key per peer (each member has its own) */
export const peerKey = (i: number) => Buffer.alloc(32, i + 1).toString("base64");

/** Prefixes around the topology's addresses, at and across its edges. */
export const PREFIX_POOL = [
  "192.0.2.0/24", "192.0.2.0/28", "192.0.2.8/29", "192.0.2.11", "192.0.2.12/31", "198.51.100.0/24",
  "10.8.0.0/24", "10.8.0.2/31", "10.8.0.3", "10.0.0.0/8",
  "2001:db8:1::/64", "2001:db8:1::10/124", "2001:db8::/32", "fd00:8::/64", "fd00:8::2", "fd00::/8",
];

const portItem = fc
  .tuple(fc.constantFrom(20, 22, 53, 80, 443, 1000, 65534), fc.constantFrom(0, 0, 1, 10, 1000), fc.constantFrom("tcp", "udp", "sctp"))
  .map(([low, width, proto]) => (width === 0 ? `${low}/${proto}` : `${low}-${Math.min(65535, low + width)}/${proto}`));

const serviceItem = fc.oneof(
  { weight: 5, arbitrary: portItem },
  { weight: 1, arbitrary: fc.constantFrom("tcp", "udp", "icmp", "icmpv6") },
  { weight: 2, arbitrary: fc.constantFrom("icmp/echo-request", "icmp/destination-unreachable", "icmpv6/nd-neighbor-solicit", "icmp/13", "icmpv6/packet-too-big") },
);

export interface PolicyShape {
  readonly withVpn: boolean;
  /** a hub without an IPv6 address makes some baseline rules one-family */
  readonly hubIpv6: boolean;
  readonly masquerade: "no" | "yes" | "via";
  readonly defaultVerb: "allow" | "deny" | "reject";
  readonly hostDefault?: { host: string; verb: "allow" | "deny" | "reject" };
  readonly services: readonly string[][];
  readonly groups: readonly string[][];
  readonly rules: readonly { verb: string; source: string; dest: string; services?: string[] }[];
}

function names(withVpn: boolean): string[] {
  return [HUB.name, ...HOSTS.map((h) => h.name), ...(withVpn ? PEERS.map((p) => p.name) : [])];
}

const familyOf = (prefix: string) => (prefix.includes(":") ? 6 : 4);

export const policyShape: fc.Arbitrary<PolicyShape> = fc.boolean().chain((withVpn) => {
  const machine = fc.constantFrom(...names(withVpn));
  const prefix = fc.constantFrom(...PREFIX_POOL);
  // a rule's literal prefixes and single-family machines share one family,
  // so that most generated rules can match something
  const atomOf = (family: 4 | 6) =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...names(withVpn).filter((n) => n !== (family === 4 ? "h3" : "h2") && !(family === 6 && n === "p2"))) },
      { weight: 3, arbitrary: fc.constantFrom(...PREFIX_POOL.filter((p) => familyOf(p) === family)) },
      { weight: 1, arbitrary: fc.constant("any") },
      { weight: withVpn ? 2 : 0, arbitrary: fc.constant("vpn") },
      { weight: 1, arbitrary: fc.constantFrom("g0", "g1") },
    );
  const rule = fc.constantFrom<4 | 6>(4, 6).chain((family) =>
    fc.record({
      verb: fc.constantFrom("allow", "allow", "deny", "reject"),
      source: atomOf(family),
      dest: atomOf(family),
      services: fc.option(
        fc.array(fc.oneof({ weight: 4, arbitrary: serviceItem }, { weight: 1, arbitrary: fc.constantFrom("s0", "s1") }), { minLength: 1, maxLength: 3 }),
        { nil: undefined },
      ),
    }),
  );
  // rules with one verb and destination in a row, as admins write them: what compaction merges
  const run = fc.constantFrom<4 | 6>(4, 6).chain((family) =>
    fc
      .record({
        verb: fc.constantFrom("allow", "allow", "deny"),
        // a mixed run (allows and denies of one shape) is what a verdict map takes
        mixed: fc.boolean(),
        dest: atomOf(family),
        // groups may hold one family only; a run of rules that cannot meet would prove little
        members: fc.array(
          fc.record({
            verb: fc.constantFrom("allow", "deny"),
            source: atomOf(family).filter((a) => a !== "g0" && a !== "g1"),
            services: fc.option(portItem.map((p) => [p]), { nil: undefined, freq: 4 }),
          }),
          { minLength: 3, maxLength: 7 },
        ),
      })
      .map(({ verb, mixed, dest, members }) => members.map((m) => ({ verb: mixed ? m.verb : verb, dest, source: m.source, services: m.services }))),
  );
  return fc.record({
    withVpn: fc.constant(withVpn),
    hubIpv6: fc.boolean(),
    masquerade: withVpn ? fc.constantFrom<PolicyShape["masquerade"]>("no", "yes", "via") : fc.constant<PolicyShape["masquerade"]>("no"),
    defaultVerb: fc.constantFrom<PolicyShape["defaultVerb"]>("deny", "deny", "allow", "reject"),
    hostDefault: fc.option(fc.record({ host: machine, verb: fc.constantFrom<"allow" | "deny" | "reject">("allow", "deny", "reject") }), { nil: undefined }),
    services: fc.array(fc.array(serviceItem, { minLength: 1, maxLength: 3 }), { maxLength: 2 }),
    groups: fc.array(fc.array(fc.oneof(machine, prefix), { minLength: 1, maxLength: 3 }), { maxLength: 2 }),
    rules: fc
      .array(fc.oneof({ weight: 3, arbitrary: rule.map((r) => [r]) }, { weight: 1, arbitrary: run }), { minLength: 1, maxLength: 6 })
      .map((parts) => parts.flat()),
  });
});

/** An IPv6 literal with a port must be bracketed; other targets are written as they are. */
const destination = (dest: string, services?: string[]) => {
  const target = dest.includes(":") && services ? `[${dest}]` : dest;
  if (!services) return target;
  return services.length === 1 ? `${target}:${services[0]}` : `${target}:{${services.join(", ")}}`;
};

export function policySource(shape: PolicyShape): string {
  const lines: string[] = [];
  if (shape.withVpn) {
    lines.push("vpn lab on wg0 {", "  network 10.8.0.0/24, fd00:8::/64");
    lines.push(`  hub ${HUB.name} ${HUB.overlay.join(", ")} endpoint ${HUB.physical[0]}:51820 key "${KEY}"`);
    PEERS.forEach((p, i) => lines.push(`  peer ${p.name} ${p.overlay.join(", ")} key "${peerKey(i)}"`));
    lines.push("}");
  }
  lines.push(`host ${HUB.name} ${(shape.hubIpv6 ? HUB.physical : HUB.physical.slice(0, 1)).join(", ")} on eth0`);
  for (const h of HOSTS) lines.push(`host ${h.name} ${h.physical.join(", ")}`);
  if (shape.withVpn) for (const p of PEERS) if (p.physical.length > 0) lines.push(`host ${p.name} ${p.physical.join(", ")}`);
  // every group and service name a rule may use exists, possibly empty of meaning
  const groups = [0, 1].map((i) => shape.groups[i] ?? ["198.51.100.0/24"]);
  groups.forEach((members, i) => lines.push(`group g${i} = ${members.join(", ")}`));
  const services = [0, 1].map((i) => shape.services[i] ?? ["9/udp"]);
  services.forEach((items, i) => lines.push(`service s${i} = ${items.join(", ")}`));
  if (shape.masquerade === "yes") lines.push("masquerade vpn");
  if (shape.masquerade === "via") lines.push("masquerade vpn via eth0");
  lines.push(`default ${shape.defaultVerb}`);
  if (shape.hostDefault) lines.push(`default ${shape.hostDefault.verb} on ${shape.hostDefault.host}`);
  for (const r of shape.rules) lines.push(`${r.verb} ${r.source} -> ${destination(r.dest, r.services)}`);
  return `${lines.join("\n")}\n`;
}

export const policyText: fc.Arbitrary<string> = policyShape.map(policySource);
