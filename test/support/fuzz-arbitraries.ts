// fast-check generators of hostile policy text: soups of the language's own
// tokens (well-formed or nearly so), statements built from the grammar with
// wrong leaves, and valid policies with a few mutations. Every value is the
// text of one file, so a shrunk counterexample can be pasted into a test.
import * as fs from "node:fs";
import fc from "fast-check";
import { keywords, wgpLexer } from "../../grammar/tokens.js";
import { policyText } from "./arbitraries.js";
import { allPolicies } from "./compile.js";

/** Every keyword of the lexer, statement words and contextual words alike. */
export const KEYWORDS: readonly string[] = Object.keys(keywords);

const DEFINED_NAMES = [
  "any", "vpn", "lab", "hub", "h1", "h2", "p1", "vpn-core", "client-a", "client-b", "gate", "nas", "alice",
  "admins", "storage", "blocklist", "g0", "s0", "ssh", "web", "nc", "ping", "dns", "tcp", "udp", "sctp", "icmp", "icmpv6",
  "echo-request", "nd-neighbor-solicit", "wg0", "eth0", "eth0.100", "uplink0", "wgpc-ifb0", "manifest.json", "_",
];

/** A defined name, slightly wrong: the kind of typo "did you mean" is for. */
const nearMiss: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...DEFINED_NAMES), fc.constantFrom("drop", "double", "swap", "upper", "dash", "dot", "digit", "homoglyph"), fc.nat())
  .map(([name, how, n]) => {
    const i = n % name.length;
    switch (how) {
      case "drop":
        return name.slice(0, i) + name.slice(i + 1);
      case "double":
        return name.slice(0, i + 1) + name.slice(i);
      case "swap":
        return name.slice(0, i) + (name[i + 1] ?? "") + name[i] + name.slice(i + 2);
      case "upper":
        return name.toUpperCase();
      case "dash":
        return `${name}-`;
      case "dot":
        return `${name}.`;
      case "digit":
        return `${n % 10}${name}`;
      default:
        // a Cyrillic `а` where a Latin `a` was
        return name.replace("a", "\u0430");
    }
  });

const names = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...DEFINED_NAMES) },
  { weight: 2, arbitrary: nearMiss },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,12}$/) },
);

const octet = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(256, 999, 4294967296));
const ipv4 = fc.oneof(
  fc.constantFrom(
    "192.0.2.1", "10.0.0.0/8", "0.0.0.0/0", "255.255.255.255/32", "192.0.2.0/24", "192.0.2.1/24", "10.8.0.2",
    "256.1.1.1", "1.2.3.4/33", "01.2.3.4", "1.2.3.4/", "1.2.3", "1.2.3.4.5", "999999999999999999999.1.1.1", "1.2.3.4/99999999999",
  ),
  fc.tuple(octet, octet, octet, octet, fc.option(fc.integer({ min: 0, max: 40 }))).map(
    ([a, b, c, d, len]) => `${a}.${b}.${c}.${d}${len === null ? "" : `/${len}`}`,
  ),
);
const ipv6 = fc.oneof(
  fc.constantFrom(
    "::", "::1", "::/0", "2001:db8::/32", "2001:db8::1/128", "fd00:8::2", "1:2:3:4:5:6:7:8", "::ffff:192.0.2.1", "fe80::1",
    "1:2:3:4:5:6:7:8:9", ":::", "1::2::3", "2001:db8::/129", "12345::", "::ffff:999.0.2.1", "1:2:3:4:5:6:7::8", "2001:db8::/0001",
  ),
  fc.array(fc.oneof(fc.constant(""), fc.stringMatching(/^[0-9a-f]{1,5}$/)), { minLength: 2, maxLength: 10 }).map((groups) => groups.join(":")),
);
const address = fc.oneof(ipv4, ipv6, ipv6.map((a) => `[${a}]`));

const port = fc.oneof(fc.integer({ min: 0, max: 65536 }), fc.constantFrom(0, 1, 65535, 65536, 4294967296, 99999999999999999999));
const services = fc.oneof(
  fc.tuple(port, fc.constantFrom("tcp", "udp", "sctp", "icmp", "xyz", "ssh")).map(([p, proto]) => `${p}/${proto}`),
  fc.tuple(port, port, fc.constantFrom("tcp", "udp")).map(([a, b, proto]) => `${a}-${b}/${proto}`),
  fc.constantFrom("ssh", "icmp/echo-request", "icmpv6/echo-request", "icmp/256", "icmp/8", "icmpv6/router-advertisement", "tcp/8", "icmp/nosuch", "icmpv6/3"),
);

const quantity = fc.oneof(
  fc.constantFrom(
    "100mbit", "1gbit", "1500kbit", "10mibit", "10mbyte/s", "500ms", "25s", "100us", "1%", "0.1%", "64kb", "1mb", "1514b",
    "10mbps", "10MBIT", "0bit", "0ms", "61s", "101%", "1.5.5mbit", "1e9", "99999999999999999999999gbit", "1kb/s", "0.000001bit", "100%%",
  ),
  fc.tuple(fc.oneof(fc.nat(), fc.constantFrom(0, 65535, 65536, 4294967296, 1e21)), fc.constantFrom("bit", "kbit", "mbit", "gbit", "tbit", "ms", "s", "us", "%", "b", "kb", "mb", "min", "h", "mbps", "byte/s")).map(
    ([n, unit]) => `${n}${unit}`,
  ),
);

const KEY = '"GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I="';
const strings = fc.oneof(
  fc.constantFrom(KEY, '"services"', '"icmp"', '"lab"', '""', '"a\\"b"', '"\\\\"', '"ü 😀"', '"tab\there"', '"unterminated', '"ends in escape\\', '"ab\\'),
  fc.string({ maxLength: 20 }).map((s) => `"${s}"`),
);
const comments = fc.constantFrom("# a comment", "#", '# "quote', "# 😀", "#\t#");
const punctuation = fc.constantFrom("->", ":", ",", "{", "}", "[", "]", "=", "/", "-", ">", "<-", ";", "@", "!", "*", "..", "\\", "'", "$", "(", ")");
const unicode = fc.constantFrom("é", "😀", "\u0301", "\u200b", "\ud800", "\udc00", "\ufb01", "\u00a0", "\u2028", "\ufeff", "\u0430", "\u0000", "\u0001", "\u007f", "\u0085");
const longToken = fc.tuple(fc.constantFrom("a", "1", "1:", "{", "a.", "-", "é", '"'), fc.integer({ min: 100, max: 5000 })).map(([unit, n]) => unit.repeat(n));

/** One token of the language, valid or close to valid. */
export const token: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KEYWORDS) },
  { weight: 5, arbitrary: names },
  { weight: 4, arbitrary: address },
  { weight: 3, arbitrary: services },
  { weight: 2, arbitrary: port.map(String) },
  { weight: 3, arbitrary: quantity },
  { weight: 2, arbitrary: strings },
  { weight: 1, arbitrary: comments },
  { weight: 5, arbitrary: punctuation },
  { weight: 1, arbitrary: unicode },
  { weight: 1, arbitrary: longToken },
);

const space = fc.constantFrom(" ", " ", " ", "  ", "\n", "\n", "\r\n", "\r", "\t", "\f", "\v", "", "\n\n");

function joined(parts: readonly (readonly [string, string])[]): string {
  return parts.map(([t, s]) => t + s).join("");
}

/** Tokens in any order, joined with random white space. */
const rawSoup = fc.array(fc.tuple(token, space), { maxLength: 40 }).map(joined);

/** Lines that start with a statement word and go on with random tokens: these reach further into the parser. */
const lineSoup = fc
  .array(fc.tuple(fc.constantFrom(...KEYWORDS), fc.array(fc.tuple(token, space), { maxLength: 8 })), { maxLength: 10 })
  .map((lines) => lines.map(([kw, rest]) => `${kw} ${joined(rest)}`).join("\n"));

const lexes = (a: fc.Arbitrary<string>, tokens?: number) =>
  a.filter((text) => {
    const lexed = wgpLexer.tokenize(text);
    return lexed.errors.length === 0 && (tokens === undefined || lexed.tokens.length === tokens);
  });

/** The leaves of the statements below. */
interface Leaves {
  readonly name: fc.Arbitrary<string>;
  /** the name a declaration defines */
  readonly fresh: fc.Arbitrary<string>;
  /** weight of `vpn` blocks among the statements */
  readonly vpnWeight: number;
  readonly address: fc.Arbitrary<string>;
  readonly ipv6: fc.Arbitrary<string>;
  readonly service: fc.Arbitrary<string>;
  readonly rate: fc.Arbitrary<string>;
  readonly size: fc.Arbitrary<string>;
  readonly duration: fc.Arbitrary<string>;
  readonly percent: fc.Arbitrary<string>;
  readonly number: fc.Arbitrary<string>;
  readonly string: fc.Arbitrary<string>;
}

/** Leaves that lex but may mean nothing: unknown names, malformed addresses, out-of-range ports, wrong units. */
const hostileLeaves: Leaves = (() => {
  const q = lexes(quantity, 1);
  const name = lexes(names, 1);
  return {
    name,
    fresh: name,
    vpnWeight: 1,
    address: lexes(fc.oneof(ipv4, ipv6), 1),
    ipv6: lexes(ipv6, 1),
    service: lexes(services),
    rate: q,
    size: q,
    duration: q,
    percent: q,
    number: port.map(String),
    string: lexes(strings, 1),
  };
})();

/** Leaves that mostly make sense next to HEADER, so that whole policies of unusual shapes reach the backends. */
const plausibleLeaves: Leaves = {
  name: fc.constantFrom("hub", "h1", "p1", "g0", "any", "vpn", "lab", "p1", "h1"),
  fresh: fc.constantFrom("h7", "h8", "g7", "g8", "s7"),
  vpnWeight: 0,
  address: fc.constantFrom("192.0.2.0/24", "192.0.2.11", "10.8.0.2", "10.8.0.0/25", "0.0.0.0/0", "2001:db8:1::/64", "fd00:8::2", "::/0", "198.51.100.7"),
  ipv6: fc.constantFrom("2001:db8:1::1", "fd00:8::/64", "::/0"),
  service: fc.constantFrom("s0", "22/tcp", "1-65535/udp", "53/udp", "icmp", "icmp/echo-request", "icmpv6/packet-too-big", "tcp", "sctp", "80-81/sctp", "icmp/0"),
  rate: fc.constantFrom("8bit", "1mbit", "100mbit", "1gbit", "4tbit", "10mibit", "1kbyte/s", "1.5mbit"),
  size: fc.constantFrom("1b", "1514b", "64kb", "64mb", "1.5kb"),
  duration: fc.constantFrom("0ms", "1us", "1.5us", "500ms", "60s", "0.001ms"),
  percent: fc.constantFrom("0%", "0.001%", "100%", "50%"),
  number: fc.constantFrom("0", "1", "7", "1280", "1420", "65535"),
  string: fc.constantFrom(KEY, '"a comment"', '""'),
};

/** Statements of the grammar's shapes, over the given leaves. */
function statement(l: Leaves): fc.Arbitrary<string> {
  const target: fc.Arbitrary<string> = fc.letrec<{ t: string }>((tie) => ({
    t: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      l.name,
      l.address,
      l.ipv6.map((a) => `[${a}]`),
      fc.array(tie("t"), { minLength: 1, maxLength: 3 }).map((ts) => `{${ts.join(", ")}}`),
    ),
  })).t;
  const destination = fc
    .tuple(target, fc.option(fc.oneof(l.service, fc.array(l.service, { minLength: 1, maxLength: 3 }).map((s) => `{${s.join(", ")}}`))))
    .map(([t, s]) => (s === null ? t : `${t}:${s}`));
  const verb = fc.constantFrom("allow", "deny", "reject");
  const list = (a: fc.Arbitrary<string>) => fc.array(a, { minLength: 1, maxLength: 3 }).map((xs) => xs.join(", "));
  const optional = (a: fc.Arbitrary<string>) => fc.option(a).map((x) => x ?? "");
  const direction = fc.constantFrom("", "to ", "from ", "both ");
  const endpointHost = fc.oneof(l.address.filter((a) => !a.includes(":")), l.ipv6.map((a) => `[${a}]`), l.name);
  const endpoint = fc.tuple(endpointHost, l.number).map(([host, port]) => `endpoint ${host}:${port}`);
  const hub = fc.tuple(l.fresh, list(l.address), optional(endpoint), optional(l.string.map((s) => `key ${s}`))).map((parts) => `hub ${parts.join(" ")}`);
  const peer = fc
    .tuple(l.fresh, list(l.address), l.string, optional(endpoint), optional(l.duration.map((q) => `keepalive ${q}`)), optional(fc.constantFrom("tunnel full", "tunnel split")))
    .map(([n, a, key, ...rest]) => `peer ${n} ${a} key ${key} ${rest.join(" ")}`);
  const vpn = fc
    .tuple(l.fresh, l.name, fc.array(fc.oneof(list(l.address).map((a) => `network ${a}`), hub, peer, l.number.map((n) => `mtu ${n}`)), { maxLength: 5 }))
    .map(([n, i, items]) => `vpn ${n} on ${i} {\n  ${items.join("\n  ")}\n}`);
  return fc.oneof(
    { weight: l.vpnWeight, arbitrary: vpn },
    fc.tuple(l.fresh, list(l.address), optional(list(l.name).map((i) => `on ${i}`))).map(([n, a, on]) => `host ${n} ${a} ${on}`),
    fc.tuple(l.fresh, list(target)).map(([n, t]) => `group ${n} = ${t}`),
    fc.tuple(l.fresh, list(l.service)).map(([n, s]) => `service ${n} = ${s}`),
    fc.tuple(verb, target, destination, optional(l.string.map((s) => `comment ${s}`))).map(([v, s, d, c]) => `${v} ${s} -> ${d} ${c}`),
    fc.tuple(l.name, optional(l.name.map((n) => `via ${n}`))).map(([n, via]) => `masquerade ${n} ${via}`),
    fc.tuple(verb, optional(list(l.name).map((n) => `on ${n}`))).map(([v, on]) => `default ${v} ${on}`),
    fc.tuple(fc.oneof(l.name, fc.constantFrom("wg0", "eth0")), l.rate).map(([i, q]) => `link ${i} ${q}`),
    fc
      .tuple(fc.constantFrom("", "each "), direction, list(target), l.rate, optional(l.rate.map((q) => `ceil ${q}`)), optional(l.size.map((q) => `burst ${q}`)), optional(l.number.map((p) => `prio ${p}`)))
      .map(([each, dir, t, q, ceil, burst, prio]) => `shape ${each}${dir}${t} ${q} ${ceil} ${burst} ${prio}`),
    fc
      .tuple(direction, list(target), l.duration, optional(l.duration.map((q) => `jitter ${q}`)), optional(l.percent.map((q) => `loss ${q}`)))
      .map(([dir, t, q, jitter, loss]) => `delay ${dir}${t} ${q} ${jitter} ${loss}`),
    fc.tuple(list(target), optional(destination.map((d) => `to ${d}`))).map(([f, t]) => `drop from ${f} ${t} early`),
    fc.tuple(target, destination, verb).map(([s, d, v]) => `expect ${s} -> ${d} ${v}`),
    fc.constantFrom('import "services"', 'import "icmp"', 'import "nosuch"', 'import "policy"', 'import "../stdlib/services.wgp"'),
  );
}

const HEADER = [
  "vpn lab on wg0 {",
  "  network 10.8.0.0/24, fd00:8::/64",
  `  hub hub 10.8.0.1, fd00:8::1 endpoint 192.0.2.1:51820 key ${KEY}`,
  '  peer p1 10.8.0.2 key "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="',
  "}",
  "host hub 192.0.2.1, 2001:db8:1::1 on eth0",
  "host h1 192.0.2.11",
  "group g0 = h1, p1",
  "service s0 = 22/tcp",
].join("\n");

/** Statements over `leaves`, most often after HEADER (a VPN, hosts, a group, a service). */
const grammarSoup = (leaves: Leaves) =>
  fc
    .tuple(fc.integer({ min: 0, max: 4 }).map((n) => n > 0), fc.array(statement(leaves), { minLength: 1, maxLength: 8 }))
    .map(([header, statements]) => `${header ? `${HEADER}\n` : ""}${statements.join("\n")}\n`);

export const tokenSoup: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: rawSoup },
  { weight: 2, arbitrary: lineSoup },
  { weight: 2, arbitrary: grammarSoup(hostileLeaves) },
  { weight: 2, arbitrary: grammarSoup(plausibleLeaves) },
);

// ------------------------------------------------------------- mutations

/** The valid policies mutations start from: the examples and test cases, as text. */
export const CORPUS: readonly { name: string; text: string }[] = allPolicies().map((p) => ({
  name: p.name,
  text: fs.readFileSync(p.file, "utf8"),
}));

export type Mutation =
  | { readonly kind: "delete-token" | "duplicate-token" | "flip-case" | "delete-line" | "duplicate-line" | "truncate"; readonly at: number }
  | { readonly kind: "swap-tokens" | "swap-lines"; readonly at: number; readonly other: number }
  | { readonly kind: "replace-token" | "insert-text" | "replace-name" | "replace-address"; readonly at: number; readonly text: string }
  | { readonly kind: "boundary-number"; readonly at: number; readonly value: string };

const BOUNDARIES = ["0", "1", "255", "256", "65535", "65536", "4294967296", "-1", "1e9", "18446744073709551616", "00000000000000000022"];

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom("delete-token", "duplicate-token", "flip-case", "delete-line", "duplicate-line", "truncate"), at: fc.nat() }),
  fc.record({ kind: fc.constantFrom("swap-tokens", "swap-lines"), at: fc.nat(), other: fc.nat() }),
  fc.record({ kind: fc.constant("replace-token"), at: fc.nat(), text: token }),
  // a token replaced by one of its own kind: the policy still parses and the checker must judge it
  fc.record({ kind: fc.constant("replace-name"), at: fc.nat(), text: hostileLeaves.name }),
  fc.record({ kind: fc.constant("replace-address"), at: fc.nat(), text: hostileLeaves.address }),
  fc.record({ kind: fc.constant("insert-text"), at: fc.nat(), text: fc.oneof(fc.string({ unit: "binary", minLength: 1, maxLength: 2 }), punctuation, unicode, space) }),
  fc.record({ kind: fc.constant("boundary-number"), at: fc.nat(), value: fc.constantFrom(...BOUNDARIES) }),
) as fc.Arbitrary<Mutation>;

interface Piece {
  readonly text: string;
  readonly start: number;
}

// roughly the lexer's tokens; a mutation need not know the grammar exactly
const PIECE = /"(?:[^"\\\r\n]|\\.)*"?|#[^\r\n]*|->|[A-Za-z0-9_.:%/-]+|\s+|[^]/gu;

function pieces(text: string, pattern: RegExp): Piece[] {
  return [...text.matchAll(pattern)].map((m) => ({ text: m[0], start: m.index }));
}

function splice(text: string, at: Piece, by: string): string {
  return text.slice(0, at.start) + by + text.slice(at.start + at.text.length);
}

function swap(text: string, a: Piece, b: Piece): string {
  if (a.start === b.start) return text;
  const [first, second] = a.start < b.start ? [a, b] : [b, a];
  return (
    text.slice(0, first.start) +
    second.text +
    text.slice(first.start + first.text.length, second.start) +
    first.text +
    text.slice(second.start + second.text.length)
  );
}

function flipCase(word: string): string {
  return [...word].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join("");
}

export function applyMutation(text: string, m: Mutation): string {
  const tokens = pieces(text, PIECE).filter((p) => !/^\s+$/.test(p.text));
  const lines = pieces(text, /[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$/g);
  const pick = <T>(xs: readonly T[], n: number): T | undefined => xs[n % Math.max(1, xs.length)];
  switch (m.kind) {
    case "truncate":
      return text.slice(0, m.at % (text.length + 1));
    case "insert-text": {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.text + text.slice(at);
    }
    case "delete-line":
    case "duplicate-line": {
      const line = pick(lines, m.at);
      if (!line) return text;
      if (m.kind === "delete-line") return splice(text, line, "");
      return splice(text, line, /[\r\n]$/.test(line.text) ? line.text.repeat(2) : `${line.text}\n${line.text}`);
    }
    case "swap-lines": {
      const line = pick(lines, m.at);
      return line ? swap(text, line, pick(lines, m.other)!) : text;
    }
    case "swap-tokens": {
      const t = pick(tokens, m.at);
      return t ? swap(text, t, pick(tokens, m.other)!) : text;
    }
    case "boundary-number": {
      const numbers = pieces(text, /\d+/g);
      const n = pick(numbers, m.at);
      return n ? splice(text, n, m.value) : text;
    }
    case "replace-name":
    case "replace-address": {
      const shape = m.kind === "replace-name" ? /^[A-Za-z_][A-Za-z0-9_.-]*$/ : /^[0-9a-fA-F:.]*[.:][0-9a-fA-F:.]*(?:\/\d+)?$/;
      const t = pick(tokens.filter((p) => shape.test(p.text)), m.at);
      return t ? splice(text, t, m.text) : text;
    }
    default: {
      const t = pick(tokens, m.at);
      if (!t) return text;
      switch (m.kind) {
        case "delete-token":
          return splice(text, t, "");
        case "duplicate-token":
          return splice(text, t, `${t.text} ${t.text}`);
        case "flip-case": {
          // keywords most often: that is where case matters
          const words = tokens.filter((p) => KEYWORDS.includes(p.text));
          const w = pick(words, m.at) ?? t;
          return splice(text, w, flipCase(w.text));
        }
        case "replace-token":
          return splice(text, t, m.text);
      }
    }
  }
}

/** A valid policy (a corpus file or a generated one) with 1 to 5 mutations. */
export const mutatedPolicy: fc.Arbitrary<{ origin: string; mutations: Mutation[]; text: string }> = fc
  .tuple(
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...CORPUS) },
      { weight: 2, arbitrary: policyText.map((text) => ({ name: "generated", text })) },
    ),
    // one mutation most often, so that many mutants still parse
    fc.oneof({ weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 1 }) }, fc.array(mutation, { minLength: 1, maxLength: 5 })),
  )
  .map(([base, mutations]) => ({ origin: base.name, mutations, text: mutations.reduce(applyMutation, base.text) }));

