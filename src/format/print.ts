// AST → prettier Doc. One printer per statement kind in a table typed over
// the kinds, so a new kind of statement fails to compile until it is printed.
// docs/formatting.md says what the layout is and why.
import type { Doc } from "prettier";
import { builders } from "prettier/doc";
import type { CommentNode, Destination, Endpoint, PolicyFile, ServiceItem, Statement, StatementKind, Target, Word } from "../syntax/ast.js";
import { attachComments, blankBetween, type Anchor, type Attached, type VpnItem, type VpnStatement } from "./attach.js";
import { canonicalAddress, canonicalRateOrSize, quote } from "./canonical.js";

const { group, indent, fill, line, softline, hardline, join, lineSuffix } = builders;

interface Context {
  readonly attached: Attached;
  /** column widths of the rule this statement is in a block with */
  readonly ruleColumns: Map<Statement, { verb: number; source: number }>;
}

type StatementPrinters = { readonly [K in StatementKind]: (node: Extract<Statement, { kind: K }>, ctx: Context) => Doc };

// A source wider than this is not padded (nor are the others padded to it):
// alignment is for short names and prefixes, not for braced lists.
const MAX_ALIGNED_SOURCE = 32;

const commentText = (c: CommentNode): string => c.text.replace(/\s+$/, "");

/** `a, b, c` filling lines, continued lines indented. */
function commaFill(items: readonly Doc[]): Doc {
  const parts = items.map((item, i) => (i < items.length - 1 ? [item, ","] : item));
  return indent(fill(join(line, parts)));
}

/** `{a, b}`; when too long, the items fill the lines between the braces. */
function braced(items: readonly Doc[]): Doc {
  const parts = items.map((item, i) => (i < items.length - 1 ? [item, ","] : item));
  return group(["{", indent([softline, fill(join(line, parts))]), softline, "}"]);
}

const address = (text: string): string => canonicalAddress(text);

function targetFlat(t: Target, bracketIpv6: boolean): string {
  switch (t.kind) {
    case "name":
      return t.name;
    case "address": {
      const text = address(t.text);
      return bracketIpv6 && text.includes(":") ? `[${text}]` : text;
    }
    case "list":
      return `{${t.items.map((i) => targetFlat(i, false)).join(", ")}}`;
  }
}

function targetDoc(t: Target, bracketIpv6 = false): Doc {
  if (t.kind !== "list") return targetFlat(t, bracketIpv6);
  return braced(t.items.map((i) => targetDoc(i)));
}

const targetsDoc = (targets: readonly Target[]): Doc => commaFill(targets.map((t) => targetDoc(t)));

function serviceItem(s: ServiceItem): string {
  if (s.kind === "ports") return `${s.low.text}${s.high ? `-${s.high.text}` : ""}/${s.proto.text}`;
  return `${s.name.text}${s.icmpType ? `/${s.icmpType.text}` : ""}`;
}

function destinationDoc(d: Destination): Doc {
  // an IPv6 address before `:services` needs its brackets, elsewhere none
  const target = targetDoc(d.target, d.services !== undefined);
  if (!d.services) return target;
  if (d.services.length === 1) return [target, ":", serviceItem(d.services[0]!)];
  return [target, ":", braced(d.services.map(serviceItem))];
}

function endpoint(e: Endpoint): string {
  const host = e.hostKind === "ipv6" ? `[${address(e.host.text)}]` : e.host.text;
  return `${host}:${e.port.text}`;
}

const words = (list: readonly Word[]): string => list.map((w) => w.text).join(", ");
const option = (keyword: string, value: string | undefined): Doc => (value === undefined ? "" : [" ", keyword, " ", value]);

function vpnItemDoc(item: VpnItem, padHub: boolean): Doc {
  switch (item.kind) {
    case "network":
      return ["network ", commaFill(item.addresses.map((a) => address(a.text)))];
    case "mtu":
      return `mtu ${item.word.text}`;
    case "hub": {
      const h = item.node;
      // a member's options stay on its line: keys are long, and a block of
      // members reads as a table
      return [
        padHub ? "hub  " : "hub ",
        h.name.text,
        " ",
        commaFill(h.addresses.map((a) => address(a.text))),
        option("endpoint", h.endpoint && endpoint(h.endpoint)),
        option("key", h.key && quote(h.key.text)),
      ];
    }
    case "peer": {
      const p = item.node;
      return [
        "peer ",
        p.name.text,
        " ",
        commaFill(p.addresses.map((a) => address(a.text))),
        option("key", quote(p.key.text)),
        option("endpoint", p.endpoint && endpoint(p.endpoint)),
        option("keepalive", p.keepalive?.text),
        p.tunnel === "full" ? " tunnel full" : "",
      ];
    }
  }
}

/** Nodes with their comments, one per line, empty lines kept (at most one). */
function lines<T extends Anchor>(
  anchors: readonly T[],
  span: (a: T) => { start: number; end: number },
  print: (a: T) => Doc,
  dangling: readonly CommentNode[],
  ctx: Context,
): Doc[] {
  const { text, leading, trailing } = ctx.attached;
  const out: Doc[] = [];
  let lastEnd: number | undefined;
  const put = (d: Doc, start: number, end: number) => {
    if (lastEnd !== undefined) out.push(blankBetween(text, lastEnd, start) ? [hardline, hardline] : hardline);
    out.push(d);
    lastEnd = end;
  };
  for (const a of anchors) {
    for (const c of leading.get(a) ?? []) put(commentText(c), c.span.start, c.span.end);
    const { start, end } = span(a);
    const after = trailing.get(a);
    put(after ? [print(a), lineSuffix(` ${commentText(after)}`)] : print(a), start, after?.span.end ?? end);
  }
  for (const c of dangling) put(commentText(c), c.span.start, c.span.end);
  return out;
}

function vpnDoc(s: VpnStatement, ctx: Context): Doc {
  const items = ctx.attached.vpnItems.get(s) ?? [];
  const padHub = items.some((i) => i.kind === "peer");
  const body = lines(items, (i) => i, (i) => vpnItemDoc(i, padHub), ctx.attached.vpnDangling.get(s) ?? [], ctx);
  const head = `vpn ${s.name.text} on ${s.iface.text} {`;
  if (body.length === 0) return [head, "}"];
  return [head, indent([hardline, ...body]), hardline, "}"];
}

const printers: StatementPrinters = {
  import: (s) => `import ${quote(s.path.text)}`,
  vpn: vpnDoc,
  host: (s) =>
    group([
      "host ",
      s.name.text,
      " ",
      commaFill(s.addresses.map((a) => address(a.text))),
      s.ifaces.length > 0 ? [" on ", words(s.ifaces)] : "",
    ]),
  group: (s) => group(["group ", s.name.text, " = ", targetsDoc(s.members)]),
  service: (s) => group(["service ", s.name.text, " = ", commaFill(s.items.map(serviceItem))]),
  rule: (s, ctx) => {
    const columns = ctx.ruleColumns.get(s);
    const source = targetFlat(s.source, false);
    const padSource = columns && source.length <= MAX_ALIGNED_SOURCE ? " ".repeat(Math.max(0, columns.source - source.length)) : "";
    return group([
      s.verb.padEnd(columns?.verb ?? 0),
      " ",
      targetDoc(s.source),
      padSource,
      " -> ",
      destinationDoc(s.destination),
      s.comment ? indent([line, "comment ", quote(s.comment.text)]) : "",
    ]);
  },
  masquerade: (s) => ["masquerade ", s.source.text, option("via", s.via?.text)],
  default: (s) => ["default ", s.verb, s.hosts.length > 0 ? [" on ", words(s.hosts)] : ""],
  link: (s) => `link ${s.iface.text} ${canonicalRateOrSize(s.rate.text)}`,
  shape: (s) =>
    group([
      "shape ",
      s.each ? "each " : "",
      s.direction === "to" ? "" : `${s.direction} `,
      targetsDoc(s.targets),
      " ",
      canonicalRateOrSize(s.rate.text),
      option("ceil", s.ceil && canonicalRateOrSize(s.ceil.text)),
      option("burst", s.burst && canonicalRateOrSize(s.burst.text)),
      option("prio", s.prio?.text),
    ]),
  delay: (s) =>
    group([
      "delay ",
      s.direction === "to" ? "" : `${s.direction} `,
      targetsDoc(s.targets),
      " ",
      s.delay.text,
      option("jitter", s.jitter?.text),
      option("loss", s.loss?.text),
    ]),
  "drop-early": (s) =>
    group([
      "drop",
      s.sources.length > 0 ? [" from ", targetsDoc(s.sources)] : "",
      s.destination ? [" to ", destinationDoc(s.destination)] : "",
      " early",
      s.acknowledged.length > 0 ? [" acknowledge ", words(s.acknowledged)] : "",
    ]),
  expect: (s) =>
    group([
      "expect ",
      targetDoc(s.source),
      " -> ",
      destinationDoc(s.destination),
      " ",
      s.verdict,
      option("family", s.family?.text),
      option("state", s.state?.text),
      option("on", s.iface?.text),
    ]),
};

// Exhaustive over the kinds through the table's type.
const printStatement = (s: Statement, ctx: Context): Doc => (printers[s.kind] as (node: Statement, ctx: Context) => Doc)(s, ctx);

/**
 * Consecutive rules (no empty line and no other statement between them) form
 * a block whose verbs and sources are padded so that the arrows line up.
 */
function ruleColumns(file: PolicyFile, attached: Attached): Map<Statement, { verb: number; source: number }> {
  const columns = new Map<Statement, { verb: number; source: number }>();
  let block: Extract<Statement, { kind: "rule" }>[] = [];
  const close = () => {
    const verb = Math.max(...block.map((r) => r.verb.length));
    const sources = block.map((r) => targetFlat(r.source, false).length).filter((n) => n <= MAX_ALIGNED_SOURCE);
    const source = sources.length > 0 ? Math.max(...sources) : 0;
    for (const r of block) columns.set(r, { verb, source });
    block = [];
  };
  let previousEnd = 0;
  for (const s of file.statements) {
    // an empty line anywhere between the two rules, comments included, ends the block
    const stops = [previousEnd, ...(attached.leading.get(s) ?? []).flatMap((c) => [c.span.start, c.span.end]), s.span.start];
    const separated = stops.some((at, i) => i % 2 === 0 && i + 1 < stops.length && blankBetween(attached.text, at, stops[i + 1]!));
    if (block.length > 0 && (s.kind !== "rule" || separated)) close();
    if (s.kind === "rule") block.push(s);
    previousEnd = attached.trailing.get(s)?.span.end ?? s.span.end;
  }
  if (block.length > 0) close();
  return columns;
}

/** The whole file: statements one per line, a final newline, nothing else. */
export function printPolicy(file: PolicyFile, text: string): Doc {
  const attached = attachComments(file, text);
  const ctx: Context = { attached, ruleColumns: ruleColumns(file, attached) };
  const body = lines(file.statements, (s) => s.span, (s) => printStatement(s, ctx), attached.dangling, ctx);
  return body.length === 0 ? "" : [...body, hardline];
}
