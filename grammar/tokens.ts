// Tokens of the wgp policy language.
//
// Words that start a statement are reserved (`vpn` aside, which is also the
// built-in name of the VPN): an unfinished statement then ends at the next
// statement instead of swallowing its keyword as a name. The other keywords
// are contextual: they also belong to the `Name` category, so a host may be
// called `network` or `key`. Statements start with a keyword, which is what
// makes newlines insignificant.
import { createToken, Lexer, type TokenType, type CustomPatternMatcherFunc } from "chevrotain";

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n\f]+/, group: Lexer.SKIPPED });
// Comments are kept (in their own group) for the formatter.
export const Comment = createToken({ name: "Comment", pattern: /#[^\n\r]*/, group: "comments" });

export const Name = createToken({ name: "Name", pattern: Lexer.NA });

// Identifiers: a letter first, then letters, digits, `_`, `-` and `.`
// (`client-b`, `eth0.100`). A trailing `-` or `.` is not part of a name.
export const Identifier = createToken({
  name: "Identifier",
  pattern: /[A-Za-z_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?/,
  categories: [Name],
});

const STATEMENT_WORDS = new Set(["import", "host", "group", "service", "allow", "deny", "reject", "masquerade", "default", "shape", "delay", "link", "drop", "expect"]);
// words that may stand where a target could start, so they cannot be names
const DIRECTION_WORDS = new Set(["each", "to", "from", "both"]);

function keyword(word: string): TokenType {
  return createToken({
    name: `Kw_${word.replace(/-/g, "_")}`,
    pattern: new RegExp(word),
    longer_alt: Identifier,
    categories: STATEMENT_WORDS.has(word) || DIRECTION_WORDS.has(word) ? [] : [Name],
    label: `\`${word}\``,
  });
}

export const isReservedWord = (word: string): boolean => STATEMENT_WORDS.has(word) || DIRECTION_WORDS.has(word);

export const keywords = {
  import: keyword("import"),
  vpn: keyword("vpn"),
  on: keyword("on"),
  network: keyword("network"),
  hub: keyword("hub"),
  peer: keyword("peer"),
  endpoint: keyword("endpoint"),
  key: keyword("key"),
  keepalive: keyword("keepalive"),
  tunnel: keyword("tunnel"),
  full: keyword("full"),
  split: keyword("split"),
  mtu: keyword("mtu"),
  host: keyword("host"),
  group: keyword("group"),
  service: keyword("service"),
  allow: keyword("allow"),
  deny: keyword("deny"),
  reject: keyword("reject"),
  masquerade: keyword("masquerade"),
  via: keyword("via"),
  default: keyword("default"),
  shape: keyword("shape"),
  ceil: keyword("ceil"),
  burst: keyword("burst"),
  prio: keyword("prio"),
  delay: keyword("delay"),
  link: keyword("link"),
  each: keyword("each"),
  both: keyword("both"),
  jitter: keyword("jitter"),
  loss: keyword("loss"),
  drop: keyword("drop"),
  from: keyword("from"),
  to: keyword("to"),
  early: keyword("early"),
  expect: keyword("expect"),
  comment: keyword("comment"),
  family: keyword("family"),
  state: keyword("state"),
  acknowledge: keyword("acknowledge"),
};

// IPv6 is matched by a function so that `cafe:ssh` (a host and a service)
// stays two names: an IPv6 literal needs at least two colons. The checker
// validates the literal fully; the lexer only delimits it.
const ipv6Shape =
  /(?:[0-9A-Fa-f]{0,4}:){2,8}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?(?:\/\d+)?/y;
const matchIpv6: CustomPatternMatcherFunc = (text, offset) => {
  ipv6Shape.lastIndex = offset;
  const found = ipv6Shape.exec(text);
  if (!found) return null;
  // Not an address if a name character follows directly (`ab:cd:ef-x`).
  const next = text[offset + found[0].length];
  if (next !== undefined && /[A-Za-z_-]/.test(next)) return null;
  return found;
};
export const Ipv6 = createToken({
  name: "Ipv6",
  pattern: { exec: matchIpv6 },
  line_breaks: false,
  start_chars_hint: [..."0123456789abcdefABCDEF:"],
  label: "IPv6 address",
});
export const Ipv4 = createToken({
  name: "Ipv4",
  pattern: /\d+\.\d+\.\d+\.\d+(?:\/\d+)?/,
  label: "IPv4 address",
});
// A number with a unit glued to it: `100mbit`, `500ms`, `1.5gbit`, `1%`,
// `10mbyte/s`.
export const Quantity = createToken({
  name: "Quantity",
  pattern: /\d+(?:\.\d+)?(?:[A-Za-z]+(?:\/s)?|%)/,
  label: "quantity with unit",
});
export const NumberLit = createToken({ name: "Number", pattern: /\d+/, label: "number" });
export const StringLit = createToken({
  name: "String",
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*"/,
  label: "string",
});

export const Arrow = createToken({ name: "Arrow", pattern: /->/, label: "`->`" });
export const Dash = createToken({ name: "Dash", pattern: /-/, label: "`-`" });
export const Colon = createToken({ name: "Colon", pattern: /:/, label: "`:`" });
export const Comma = createToken({ name: "Comma", pattern: /,/, label: "`,`" });
export const Slash = createToken({ name: "Slash", pattern: /\//, label: "`/`" });
export const Equals = createToken({ name: "Equals", pattern: /=/, label: "`=`" });
export const LBrace = createToken({ name: "LBrace", pattern: /\{/, label: "`{`" });
export const RBrace = createToken({ name: "RBrace", pattern: /\}/, label: "`}`" });
export const LBracket = createToken({ name: "LBracket", pattern: /\[/, label: "`[`" });
export const RBracket = createToken({ name: "RBracket", pattern: /\]/, label: "`]`" });

export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  StringLit,
  Arrow,
  Ipv6,
  Ipv4,
  Quantity,
  NumberLit,
  ...Object.values(keywords),
  Identifier,
  Name,
  Dash,
  Colon,
  Comma,
  Slash,
  Equals,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
];

export const wgpLexer = new Lexer(allTokens, { positionTracking: "full", ensureOptimizations: false });
