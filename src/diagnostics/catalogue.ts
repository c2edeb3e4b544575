// The one catalogue of diagnostics. A code never changes meaning once
// released; add new codes instead. Messages are lowercase, no trailing
// period, names in backticks; `help` is the only place that suggests a fix.

/** errors fail the command; warnings fail it under `--strict`; notes never do */
export type Severity = "error" | "warning" | "note";

interface Entry<P> {
  readonly code: string;
  readonly severity: Severity;
  readonly message: (p: P) => string;
  /** one sentence for `wgpc explain-code` and docs/diagnostics.md */
  readonly explanation: string;
}

function entry<P = Record<string, never>>(
  code: string,
  severity: Severity,
  message: (p: P) => string,
  explanation: string,
): Entry<P> {
  return { code, severity, message, explanation };
}

export const catalogue = {
  // --- usage, files, configuration (exit code 2 unless noted) ---
  usage: entry<{ detail: string }>("E0001", "error", (p) => p.detail, "The command line could not be understood; see `wgpc --help`."),
  "cannot-read-file": entry<{ path: string; reason: string }>(
    "E0002", "error", (p) => `cannot read \`${p.path}\`: ${p.reason}`,
    "A policy, import or configuration file could not be read.",
  ),
  "cannot-write-output": entry<{ path: string; reason: string }>(
    "E0003", "error", (p) => `cannot write \`${p.path}\`: ${p.reason}`,
    "The output directory could not be written; nothing was replaced.",
  ),
  "invalid-config": entry<{ detail: string }>(
    "E0004", "error", (p) => `invalid wgpc.toml: ${p.detail}`,
    "The project configuration file wgpc.toml is not valid TOML or has an unknown or mistyped key.",
  ),
  "unknown-target": entry<{ name: string; known: string }>(
    "E0005", "error", (p) => `unknown target \`${p.name}\` (known: ${p.known})`,
    "A backend named with --target or in wgpc.toml does not exist.",
  ),
  "unknown-host-selected": entry<{ name: string }>(
    "E0006", "error", (p) => `no machine called \`${p.name}\` in the policy`,
    "A machine named with --host is not defined by the policy.",
  ),
  "not-text": entry(
    "E0007", "error", () => "this is not a text file: it has a NUL byte or bytes that are not UTF-8 here",
    "Policy files are UTF-8 text; a binary file is refused before parsing, with the position of its first non-text byte.",
  ),

  // --- syntax ---
  "unexpected-character": entry<{ text: string }>(
    "E0101", "error", (p) => `unexpected character ${p.text}`,
    "The lexer found a character that starts no token of the language.",
  ),
  "unterminated-string": entry(
    "E0102", "error", () => "unterminated string",
    "A string opened with `\"` is not closed on the same line.",
  ),
  "unexpected-token": entry<{ expected: string; found: string }>(
    "E0103", "error", (p) => `expected ${p.expected}, found ${p.found}`,
    "The parser found a token where the grammar allows none of that kind.",
  ),
  "nesting-too-deep": entry<{ limit: number }>(
    "E0107", "error", (p) => `lists are nested more than ${p.limit} levels deep`,
    "Target and service lists may nest, but not without bound; flatten the list or use groups.",
  ),
  "file-too-large": entry<{ limit: string }>(
    "E0108", "error", (p) => `the file is larger than ${p.limit}`,
    "A policy file is read whole; files beyond the limit are refused (a device such as /dev/zero is refused as not a regular file).",
  ),
  "empty-query": entry(
    "E0109", "error", () => "the question is empty",
    "`wgpc explain FILE 'SOURCE -> DESTINATION[:SERVICE] [family N] [state S] [on IFACE]'` asks what the policy does with that traffic.",
  ),
  "empty-policy": entry(
    "E0104", "error", () => "the policy defines no machine",
    "A policy must define at least one host or VPN member; an empty file compiles to nothing and is refused.",
  ),
  "import-not-found": entry<{ path: string }>(
    "E0105", "error", (p) => `cannot find import \`${p.path}\``,
    "An import names neither a file next to the policy nor a file of wgpc's stdlib/.",
  ),

  // --- names ---
  "unknown-name": entry<{ name: string; kind: string }>(
    "E0201", "error", (p) => `unknown ${p.kind} \`${p.name}\``,
    "A name is used that no statement defines.",
  ),
  "duplicate-name": entry<{ name: string }>(
    "E0202", "error", (p) => `\`${p.name}\` is defined twice`,
    "Hosts, groups, the VPN and its members share one namespace, services have their own; each name is defined once in its namespace (a host and a VPN member may share a name: they are one machine).",
  ),
  "group-cycle": entry<{ kind: string; chain: string }>(
    "E0203", "error", (p) => `${p.kind} refers to itself: ${p.chain}`,
    "Groups and services expand recursively; one that contains itself through others has no meaning.",
  ),
  "definition-too-deep": entry<{ kind: string; limit: number }>(
    "E0206", "error", (p) => `${p.kind} definitions are nested more than ${p.limit} levels deep here`,
    "A group or service may refer to others, but not through an unbounded chain.",
  ),
  "invalid-machine-name": entry<{ name: string; reason: string }>(
    "E0207", "error", (p) => `\`${p.name}\` cannot name a machine: ${p.reason}`,
    "A machine's name is its bundle directory: at most 63 characters (a host name label), and not `manifest.json`. Nor a name `--emit ansible` uses: `ansible` (its directory), `all`, `ungrouped`, `wgpc`, `wgpc_hub`, `wgpc_peers` or `wgpc_hosts` (groups of the inventory, where a machine of that name would stand for the group).",
  ),
  "wrong-kind-of-name": entry<{ name: string; is: string; expected: string }>(
    "E0204", "error", (p) => `\`${p.name}\` is a ${p.is}, expected a ${p.expected}`,
    "A name is used where a different kind of thing is expected, e.g. a service as a source.",
  ),
  "reserved-name": entry<{ name: string }>(
    "E0205", "error", (p) => `\`${p.name}\` is built in and cannot be redefined`,
    "`any` and `vpn` are built-in names of machines and networks; tcp, udp, sctp, icmp and icmpv6 are built-in service names.",
  ),

  // --- addresses ---
  "invalid-address": entry<{ text: string; reason: string }>(
    "E0301", "error", (p) => `invalid address \`${p.text}\`: ${p.reason}`,
    "An IPv4 or IPv6 address or prefix is malformed.",
  ),
  "host-bits-set": entry<{ text: string; normalised: string }>(
    "W0302", "warning", (p) => `prefix \`${p.text}\` has host bits set; it means \`${p.normalised}\``,
    "A prefix whose address has bits set past the prefix length is read as the network that contains it.",
  ),
  "prefix-not-address": entry<{ text: string }>(
    "E0303", "error", (p) => `\`${p.text}\` is a prefix, but a single address is needed here`,
    "Machine addresses and endpoints are single addresses, not networks.",
  ),
  "family-mismatch": entry<{ source: string; destination: string }>(
    "E0304", "error",
    (p) => `source is ${p.source} only and destination is ${p.destination} only: no packet can match`,
    "A rule whose source and destination have no address family in common can never match.",
  ),
  "overlay-outside-network": entry<{ address: string; member: string }>(
    "E0305", "error", (p) => `overlay address \`${p.address}\` of \`${p.member}\` is outside the VPN networks`,
    "Every overlay address of a VPN member lies inside one of the VPN's `network` prefixes.",
  ),
  "duplicate-overlay-address": entry<{ address: string; first: string }>(
    "E0306", "error", (p) => `overlay address \`${p.address}\` is already used by \`${p.first}\``,
    "Two VPN members with the same overlay address make WireGuard keep only one of them.",
  ),

  // --- services and ports ---
  "port-out-of-range": entry<{ port: string }>(
    "E0401", "error", (p) => `port ${p.port} is out of range (1-65535)`,
    "Ports are whole numbers from 1 to 65535.",
  ),
  "reversed-port-range": entry<{ low: string; high: string }>(
    "E0402", "error", (p) => `port range ${p.low}-${p.high} is reversed`,
    "A port range is written low-high.",
  ),
  "ports-on-portless-protocol": entry<{ proto: string }>(
    "E0403", "error", (p) => `\`${p.proto}\` has no ports`,
    "Only tcp, udp and sctp have ports; ICMP is matched by type (`icmp/echo-request`).",
  ),
  "unknown-protocol": entry<{ name: string }>(
    "E0404", "error", (p) => `unknown protocol or service \`${p.name}\``,
    "A service item names neither a defined service nor a protocol wgpc knows (tcp, udp, sctp, icmp, icmpv6).",
  ),
  "unknown-icmp-type": entry<{ name: string; proto: string }>(
    "E0405", "error", (p) => `unknown ${p.proto} type \`${p.name}\``,
    "ICMP types are written by name (`echo-request`) or number (0-255).",
  ),
  "icmp-type-on-non-icmp": entry<{ name: string }>(
    "E0406", "error", (p) => `\`${p.name}\` is not an ICMP protocol; only icmp and icmpv6 take a type`,
    "`/type` after a name is only allowed for icmp and icmpv6.",
  ),

  // --- VPN and machines ---
  "no-vpn": entry(
    "E0501", "error", () => "`vpn` is used but the policy declares no VPN",
    "The built-in name `vpn` and `masquerade vpn` need a `vpn` block.",
  ),
  "second-vpn": entry(
    "E0502", "error", () => "only one VPN per policy is supported",
    "A policy describes one WireGuard hub and its peers.",
  ),
  "hub-count": entry<{ count: number }>(
    "E0503", "error", (p) => `a VPN needs exactly one hub, found ${p.count}`,
    "Every outside connection goes through one hub; declare it with `hub NAME ADDRESS endpoint HOST:PORT`.",
  ),
  "invalid-public-key": entry<{ reason: string }>(
    "E0504", "error", (p) => `invalid WireGuard public key: ${p.reason}`,
    "A WireGuard public key is 44 characters of base64 encoding 32 bytes. Never put a private key in a policy.",
  ),
  "invalid-interface-name": entry<{ name: string; reason: string }>(
    "E0505", "error", (p) => `invalid interface name \`${p.name}\`: ${p.reason}`,
    "Linux interface names are 1-15 characters without `/`, `:` or white space.",
  ),
  "hub-without-key": entry<{ name: string }>(
    "E0512", "error", (p) => `hub \`${p.name}\` has no public key, so its peers cannot be configured`,
    "Every peer's WireGuard config names the hub's public key; declare it with `key \"…\"` on the hub.",
  ),
  "tunnel-mtu-too-small": entry<{ mtu: number; underlay: number }>(
    "E0513", "error", (p) => `the tunnel's MTU would be ${p.mtu} (underlay ${p.underlay}), below the 1280 that IPv6 needs`,
    "WireGuard takes 60 (IPv4) or 80 (IPv6) bytes of the underlay's MTU; a VPN with an IPv6 network needs a tunnel MTU of at least 1280.",
  ),
  "duplicate-public-key": entry<{ first: string }>(
    "E0514", "error", (p) => `this public key is already \`${p.first}\`'s`,
    "Each VPN member has its own key pair: WireGuard merges peers with one key into one, and ignores a peer with the interface's own key.",
  ),
  "physical-is-vpn-interface": entry<{ iface: string }>(
    "E0515", "error", (p) => `\`${p.iface}\` is the VPN's interface, not a physical one`,
    "`host NAME ADDRESS on IFACE` names the machine's physical interfaces; the VPN interface is named in the `vpn` block.",
  ),
  "second-masquerade": entry(
    "E0510", "error", () => "the VPN is already masqueraded",
    "One `masquerade vpn` statement says how VPN traffic leaves the hub; a second one would silently replace it.",
  ),
  "masquerade-via-vpn": entry<{ iface: string }>(
    "E0511", "error", (p) => `cannot masquerade out of \`${p.iface}\`: it is the VPN's own interface`,
    "`masquerade vpn via IFACE` names the hub's outgoing, non-VPN interface.",
  ),
  "masquerade-without-hub-address": entry<{ hub: string }>(
    "W0512", "warning", (p) => `the hub \`${p.hub}\` has no physical address, so masqueraded traffic cannot be recognised at its destinations`,
    "With `masquerade vpn`, destinations see the hub's physical address as the source; declare it with `host HUB ADDRESS`.",
  ),
  "masquerade-source": entry<{ name: string }>(
    "E0506", "error", (p) => `cannot masquerade \`${p.name}\`: only the VPN (\`vpn\`) can be masqueraded`,
    "`masquerade vpn` rewrites VPN traffic leaving the hub by a non-VPN interface; other sources are not supported.",
  ),
  "invalid-number": entry<{ text: string; what: string; range: string }>(
    "E0507", "error", (p) => `invalid ${p.what} \`${p.text}\` (expected ${p.range})`,
    "A number is outside the range its field allows.",
  ),
  "member-without-address-family": entry<{ member: string; family: string }>(
    "E0508", "error", (p) => `\`${p.member}\` has an ${p.family} overlay address but the VPN has no ${p.family} network`,
    "Each overlay address needs a VPN network of its family.",
  ),
  "hub-without-endpoint": entry<{ name: string }>(
    "E0509", "error", (p) => `hub \`${p.name}\` has no endpoint`,
    "Peers connect to the hub's endpoint; its port is the hub's WireGuard listen port.",
  ),

  // --- rules ---
  "invalid-comment": entry<{ reason: string }>(
    "E0601", "error", (p) => `invalid rule comment: ${p.reason}`,
    "Rule comments end up in iptables and nftables comments after the rule's `file:line`: at most 72 bytes of UTF-8, no quotes, backslashes or control characters.",
  ),
  "rule-enforced-nowhere": entry(
    "W0602", "warning", () => "this rule is enforced on no machine of the policy",
    "Rules are enforced at the destination machines' input and, for traffic through the hub, on the hub's forward path; this rule names none of them.",
  ),
  "conflicting-default": entry<{ host: string }>(
    "E0604", "error", (p) => `a default for \`${p.host}\` is already set`,
    "Each machine has one default; the global default is written once without `on`.",
  ),
  "expectation-failed": entry<{ expected: string; actual: string; where: string }>(
    "E0605", "error", (p) => `expectation failed: expected ${p.expected}, got ${p.actual} at ${p.where}`,
    "An `expect` statement describes traffic the policy must allow or deny; the compiled rules decide otherwise.",
  ),
  "family-without-rule": entry<{ family: string }>(
    "W0606", "warning", (p) => `this rule has no ${p.family} form: its services do not exist in ${p.family}`,
    "The rule's source and destination have addresses of this family, but none of its services can be matched in it (e.g. an ICMP type number that only IPv4 has), so the rule is compiled for the other family only.",
  ),
  "invalid-option-value": entry<{ value: string; option: string; expected: string }>(
    "E0607", "error", (p) => `\`${p.value}\` is not a valid ${p.option} (expected ${p.expected})`,
    "An option of a statement takes one of a fixed set of values: `family 4|6`, `state new|established|related|invalid`, `acknowledge neighbour-discovery, wireguard`.",
  ),
  "unknown-interface": entry<{ iface: string; known: string }>(
    "E0608", "error", (p) => `no machine of the policy has an interface \`${p.iface}\` (known: ${p.known})`,
    "`expect … on IFACE` looks at the paths that arrive at the destination on IFACE: the VPN interface or one named with `host NAME ADDRESS on IFACE` (`eth0` when a host names none).",
  ),

  // --- analysis (src/analysis) ---
  "rule-shadowed": entry<{ covers: string }>(
    "W0620", "warning", (p) => `this rule never decides: all of its traffic is taken first by ${p.covers}`,
    "Every packet this rule matches is decided by earlier rules, on every machine where it is enforced; together they cover it even when no single one does. The related notes show, for each covering rule, one packet it takes first.",
  ),
  "rule-redundant": entry<{ later: string }>(
    "W0621", "warning", (p) => `this rule is redundant: all of its traffic is decided the same way later by ${p.later}`,
    "Every packet this rule decides would reach later rules with the same verdict, and no rule of another verdict in between; removing it changes nothing.",
  ),
  "order-decides": entry<{ earlier: string; verb: string; overlap: string }>(
    "N0622", "note", (p) => `${p.earlier} (${p.verb}) decides part of this rule's traffic first: ${p.overlap}`,
    "An earlier rule with the other verdict overlaps this one and is not simply an exception inside it, so their order decides the overlap. Check that the earlier rule is meant to win there.",
  ),
  "analysis-skipped": entry<{ limit: number }>(
    "N0623", "note", (p) => `rule analysis skipped chains of more than ${p.limit} rules`,
    "Shadowing and redundancy are computed exactly, which costs time with the square of a chain's length; very long chains are not analysed.",
  ),
  "unused-definition": entry<{ kind: string; name: string }>(
    "W0624", "warning", (p) => `${p.kind} \`${p.name}\` is never used`,
    "A host, group or service that no statement names is probably a leftover or a typo elsewhere. A host named by nothing still gets a bundle, with the defaults only.",
  ),
  "family-asymmetry": entry<{ allowed: string; name: string; other: string }>(
    "W0625", "warning", (p) => `this rule allows ${p.allowed} only, though \`${p.name}\` also has ${p.other} addresses`,
    "A host or group with addresses in both families is reached over both; a rule that opens only one of them leaves the other closed (or open through another rule), which is rarely what was meant. Name the other family's addresses too, or write the rule with literal addresses of one family to make the choice visible.",
  ),
  "spoofable-overlay-source": entry<{ host: string; hook: string; prefix: string; iface: string }>(
    "E0626", "error", (p) => `on \`${p.host}\` (${p.hook}) a rule accepts overlay addresses ${p.prefix} arriving on other interfaces than \`${p.iface}\``,
    "Overlay addresses mean VPN membership only together with the VPN interface; from anywhere else they can be spoofed. wgpc ties them to the interface itself, so this is a safety net over the IR and should never fire.",
  ),
  "essential-traffic-dropped": entry<{ what: string; host: string; by: string; acknowledge: string }>(
    "E0627", "error", (p) => `${p.what} to \`${p.host}\` is dropped by ${p.by}`,
    "Neighbour discovery (ICMPv6 133-136) keeps IPv6 working on a link and the WireGuard port keeps the VPN up; a policy that drops them cuts the machine off. Say `acknowledge neighbour-discovery` or `acknowledge wireguard` on the `drop … early` statement if that is really meant.",
  ),

  // --- shaping ---
  "invalid-quantity": entry<{ reason: string }>(
    "E0701", "error", (p) => p.reason,
    "Rates are written in bit, kbit, mbit, gbit, tbit (SI) or kibit…tibit (IEC), or as bytes per second spelt out (`mbyte/s`); `mbps`-style units are refused because tc reads them as bytes. Sizes are b, kb, mb; durations us, ms, s; loss a percentage.",
  ),
  "ceil-below-rate": entry<{ ceil: string; rate: string }>(
    "E0702", "error", (p) => `ceiling ${p.ceil} is below the guaranteed rate ${p.rate}`,
    "An HTB class's ceiling is the most it may use; it cannot be less than what it is guaranteed.",
  ),
  "link-oversubscribed": entry<{ iface: string; total: string; link: string; classes: string }>(
    "E0703", "error", (p) => `guaranteed rates on \`${p.iface}\` add up to ${p.total}, more than the link's ${p.link} (${p.classes})`,
    "The rates that `shape` guarantees on one interface cannot add up to more than its capacity (`link IFACE RATE`, 1gbit unless declared).",
  ),
  "burst-raised": entry<{ burst: string }>(
    "W0704", "warning", (p) => `burst ${p.burst} is below one full frame; raised to 1514 bytes`,
    "A burst smaller than the MTU plus the Ethernet header (1514 bytes) would stall the class.",
  ),
  "shaping-without-hub": entry(
    "E0705", "error", () => "shaping and delay happen on the VPN hub, and the policy declares no VPN",
    "`shape` and `delay` compile to tc on the hub's interfaces; declare a `vpn` block with a hub.",
  ),
  "target-not-crossing": entry<{ name: string }>(
    "W0706", "warning", (p) => `\`${p.name}\` is the hub itself: its traffic never leaves the hub's interfaces, so it is not shaped`,
    "Shaping applies to traffic that crosses the hub; the hub's own addresses are skipped.",
  ),
  "out-of-range": entry<{ what: string; value: string; range: string }>(
    "E0707", "error", (p) => `${p.what} ${p.value} is out of range (${p.range})`,
    "A shaping or delay parameter is outside what tc accepts.",
  ),
  "too-many-classes": entry<{ device: string; count: number; limit: number }>(
    "E0709", "error", (p) => `${p.count} shaping classes on \`${p.device}\`, more than ${p.limit}`,
    "Each class needs its own u32 filter priorities, of which a device has about 2000; group targets into fewer classes.",
  ),
  "unknown-link-interface": entry<{ iface: string; known: string }>(
    "E0710", "error", (p) => `the hub has no interface \`${p.iface}\` (it has ${p.known})`,
    "`link IFACE RATE` declares the capacity of one of the hub's interfaces: the VPN interface or one named with `host HUB ADDRESS on IFACE`.",
  ),
  "hub-interface-assumed": entry<{ hub: string }>(
    "W0711", "warning", (p) => `the hub \`${p.hub}\` names no physical interface; \`eth0\` is assumed`,
    "Shaping and early drop act on the hub's physical interface; name it with `host HUB ADDRESS on IFACE`.",
  ),
  "delay-partly-hidden": entry<{ delay: string; shape: string }>(
    "W0712", "warning", (p) => `part of the traffic of the delay at ${p.delay} is taken first by the shaping class at ${p.shape}, which gets no delay`,
    "Shaping classes match first; a delay reaches the traffic of a class only when it covers all of the class's addresses.",
  ),
  "duplicate-option": entry<{ option: string }>(
    "E0713", "error", (p) => `\`${p.option}\` is given twice`,
    "Each option of a statement is given at most once.",
  ),
  "burst-too-long": entry<{ burst: string; rate: string }>(
    "E0714", "error", (p) => `a burst of ${p.burst} lasts over 250 s at ${p.rate}; the kernel cannot hold it`,
    "HTB keeps a burst as time at the class's rate in 32 bits of 64 ns ticks (about 275 s).",
  ),
  "reserved-interface-name": entry<{ name: string }>(
    "E0715", "error", (p) => `\`${p.name}\` is a name wgpc gives its own ifb devices`,
    "Interfaces named wgpc-ifb… are created by the tc batch for shaping traffic that arrives; a real interface cannot have such a name.",
  ),
  "duplicate-link": entry<{ iface: string }>(
    "E0708", "error", (p) => `the capacity of \`${p.iface}\` is already declared`,
    "Each interface's capacity is declared once.",
  ),

  // --- early drop ---
  "early-without-hub": entry(
    "E0801", "error", () => "early drop happens on the VPN hub, and the policy declares no VPN",
    "`drop … early` compiles into the maps of the XDP program on the hub's interfaces; declare a `vpn` block with a hub.",
  ),
  "too-many-early-rules": entry<{ iface: string; count: number; limit: number }>(
    "E0802", "error", (p) => `${p.count} early rules on \`${p.iface}\`, more than the XDP program's ${p.limit}`,
    "The XDP program keeps one bit per rule; each protocol and port range of a `drop … early` is one rule. Put more addresses into one rule (a group) instead of more rules.",
  ),

  // --- deploy: wgpc apply and wgpc diff on a machine ---
  "bundle-not-verified": entry<{ dir: string; reason: string }>(
    "E1001", "error", (p) => `\`${p.dir}\` is not a bundle wgpc can apply: ${p.reason}`,
    "`wgpc apply` and `wgpc diff` take one host's directory of a `wgpc compile` output; every file must match its SHA256SUMS (and manifest.json beside it, when there is one). Nothing was changed.",
  ),
  "would-lock-out": entry<{ client: string; server: string; port: number; decided: string }>(
    "E1002", "error", (p) => `applying would cut this SSH session off: a new connection from ${p.client} to ${p.server} port ${p.port}/tcp ${p.decided}`,
    "`wgpc apply` run from an SSH session asks the reference semantics whether the new policy still lets that session's source open a new connection to the SSH port it came in on; it refuses the bundle otherwise (nothing was changed). Allow the source in the policy, or apply with --force and a confirmation timeout.",
  ),
  "apply-failed": entry<{ step: string; detail: string }>(
    "E1003", "error", (p) => `${p.step} failed: ${p.detail}`,
    "A step of `wgpc apply` failed half-way; wgpc restored the state it saved before applying and said whether the restore was exact.",
  ),
  "not-confirmed": entry<{ why: string }>(
    "E1004", "error", (p) => `not confirmed ${p.why}: the previous state was restored`,
    "`wgpc apply` waits for `wgpc apply --confirm` (or a `y` on its terminal) and puts back what it saved when nobody confirms in time, as when the new rules cut the admin off.",
  ),
  "nothing-pending": entry<{ stateDir: string }>(
    "E1005", "error", (p) => `no \`wgpc apply\` is waiting for confirmation (state in \`${p.stateDir}\`)`,
    "`wgpc apply --confirm` confirms an apply that is still waiting; there is none (it was confirmed, timed out, or never started with this --state-dir).",
  ),
  "apply-in-progress": entry<{ pid: number }>(
    "E1006", "error", (p) => `another \`wgpc apply\` (pid ${p.pid}) is waiting for confirmation`,
    "One apply at a time per machine: confirm the waiting one (`wgpc apply --confirm`) or let it time out before applying again.",
  ),
  "restore-inexact": entry<{ detail: string }>(
    "E1007", "error", (p) => `the previous state was restored, but not exactly: ${p.detail}`,
    "After a rollback wgpc reads the kernel state back and compares it with what it saved; this says which datapath differs (for example a qdisc that was not made by wgpc and cannot be rebuilt).",
  ),
  "no-ssh-check": entry<{ reason: string }>(
    "E1008", "error", (p) => `cannot check that this SSH session survives: ${p.reason}`,
    "From an SSH session `wgpc apply` must be able to evaluate the bundle's ir.json for the session's source; without it, apply with --force.",
  ),

  "internal-error": entry<{ detail: string }>(
    "E0901", "error", (p) => `internal error: ${p.detail}`,
    "wgpc hit a bug. Nothing was written. Please report it with the policy that caused it.",
  ),
} as const;

export type Slug = keyof typeof catalogue;
export type ParamsOf<S extends Slug> = Parameters<(typeof catalogue)[S]["message"]>[0];
