// Text → AST: lexing, parsing and the CST → AST pass. Errors come back as
// positioned diagnostics; nothing here throws on bad input.
import type { CstNode, IToken, ILexingError, IRecognitionException } from "chevrotain";

import { wgpLexer } from "../../grammar/tokens.js";
import { parseQueryTokens, parseTokens } from "../../grammar/parser.js";
import type * as C from "../../grammar/cst.js";
import type * as A from "./ast.js";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";

export interface ParseResult {
  readonly ast?: A.PolicyFile;
  readonly diagnostics: readonly Diagnostic[];
}

/** Lexer errors that touch each other are one problem, not one per character. */
function mergeLexErrors(errors: readonly ILexingError[]): { offset: number; length: number }[] {
  const merged: { offset: number; length: number }[] = [];
  for (const e of errors) {
    const last = merged[merged.length - 1];
    if (last && last.offset + last.length >= e.offset) {
      last.length = Math.max(last.length, e.offset + e.length - last.offset);
    } else merged.push({ offset: e.offset, length: e.length });
  }
  return merged;
}

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0)) return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  return `\`${ch}\``;
}

const MAX_LEX_ERRORS = 5;
// The parser recurses per level; far below where the stack would run out.
const MAX_NESTING = 32;

function firstTooDeep(tokens: readonly IToken[]): IToken | undefined {
  let depth = 0;
  for (const t of tokens) {
    if (t.image === "{" || t.image === "[") depth++;
    else if (t.image === "}" || t.image === "]") depth--;
    if (depth > MAX_NESTING) return t;
  }
  return undefined;
}

function lexDiagnostics(file: number, text: string, errors: readonly ILexingError[]): Diagnostic[] {
  return mergeLexErrors(errors)
    .slice(0, MAX_LEX_ERRORS)
    .map(({ offset }) => {
      const ch = text[offset] ?? "";
      if (ch === '"') {
        const lineEnd = text.slice(offset).search(/[\r\n]|$/);
        return diagnostic("unterminated-string", {}, { file, start: offset, end: offset + Math.max(1, lineEnd) }, {
          help: "close the string with `\"` before the end of the line",
        });
      }
      // one character, which may be two UTF-16 units: a span never ends inside it
      const found = String.fromCodePoint(text.codePointAt(offset) ?? 0);
      return diagnostic("unexpected-character", { text: describeChar(found) }, { file, start: offset, end: offset + found.length });
    });
}

function describeToken(token: IToken): string {
  if (token.tokenType.name === "EOF") return "end of file";
  const image = token.image.length > 24 ? `${token.image.slice(0, 24)}…` : token.image;
  return `\`${image}\``;
}

function parseDiagnostic(file: number, text: string, tokens: IToken[], error: IRecognitionException): Diagnostic {
  const token = error.token;
  let span: A.Span;
  if (token.tokenType.name === "EOF" || Number.isNaN(token.startOffset)) {
    // An error at the end of input has no token of its own: point just past
    // the last real token, with an empty span (one character more could run
    // past the end, or end between the CR and LF of a line break).
    const last = tokens[tokens.length - 1];
    const at = Math.min(last ? last.endOffset! + 1 : text.length, text.length);
    span = { file, start: at, end: at };
  } else {
    span = { file, start: token.startOffset, end: token.endOffset! + 1 };
  }
  return diagnostic("unexpected-token", { expected: error.message, found: describeToken(token) }, span);
}

export function parsePolicy(file: number, text: string): ParseResult {
  // A NUL means this is not a policy at all: one diagnostic for the file,
  // not one per byte (bytes that are not UTF-8 are found by the reader).
  const binaryAt = text.indexOf("\u0000");
  if (binaryAt >= 0) {
    return { diagnostics: [diagnostic("not-text", {}, { file, start: binaryAt, end: binaryAt + 1 })] };
  }
  const lexed = wgpLexer.tokenize(text);
  if (lexed.errors.length > 0) return { diagnostics: lexDiagnostics(file, text, lexed.errors) };
  const tooDeep = firstTooDeep(lexed.tokens);
  if (tooDeep) {
    return { diagnostics: [diagnostic("nesting-too-deep", { limit: MAX_NESTING }, tokenSpan(file, tooDeep))] };
  }
  const { cst, errors } = parseTokens(lexed.tokens);
  if (errors.length > 0) return { diagnostics: [parseDiagnostic(file, text, lexed.tokens, errors[0]!)] };
  const comments = (lexed.groups.comments ?? []).map((t) => ({ text: t.image, span: tokenSpan(file, t) }));
  const builder = new AstBuilder(file);
  const statements = builder.policy(cst as C.PolicyCstNode);
  return { ast: { file, statements, comments }, diagnostics: builder.diagnostics };
}

/** `wgpc explain`'s question (`a -> b:svc [family N] [state S] [on IFACE]`) as an expectation. */
export function parseFlowQuery(file: number, text: string): { query?: Extract<A.Statement, { kind: "expect" }>; diagnostics: Diagnostic[] } {
  const lexed = wgpLexer.tokenize(text);
  if (lexed.errors.length > 0) return { diagnostics: lexDiagnostics(file, text, lexed.errors) };
  const tooDeep = firstTooDeep(lexed.tokens);
  if (tooDeep) return { diagnostics: [diagnostic("nesting-too-deep", { limit: MAX_NESTING }, tokenSpan(file, tooDeep))] };
  if (lexed.tokens.length === 0) return { diagnostics: [diagnostic("empty-query", {}, { file, start: 0, end: Math.max(1, text.length) })] };
  const { cst, errors } = parseQueryTokens(lexed.tokens);
  if (errors.length > 0) return { diagnostics: [parseDiagnostic(file, text, lexed.tokens, errors[0]!)] };
  const builder = new AstBuilder(file);
  const query = builder.flowQuery(cst as C.FlowQueryCstNode);
  return { query, diagnostics: builder.diagnostics };
}

function tokenSpan(file: number, token: IToken): A.Span {
  return { file, start: token.startOffset, end: token.endOffset! + 1 };
}

/** Unquotes a string token: `"a\"b"` → `a"b`. */
function unquote(image: string): string {
  return image.slice(1, -1).replace(/\\(.)/g, "$1");
}

class AstBuilder {
  readonly diagnostics: Diagnostic[] = [];

  constructor(private readonly file: number) {}

  /** An option the grammar lets repeat, given twice: the second is an error. */
  private once(option: string, tokens: readonly IToken[] | undefined): void {
    if (tokens && tokens.length > 1) this.diagnostics.push(diagnostic("duplicate-option", { option }, tokenSpan(this.file, tokens[1]!)));
  }

  private span(node: CstNode): A.Span {
    const loc = node.location!;
    return { file: this.file, start: loc.startOffset, end: loc.endOffset! + 1 };
  }

  private word(token: IToken): A.Word {
    return { text: token.image, span: tokenSpan(this.file, token) };
  }

  private stringWord(token: IToken): A.Word {
    return { text: unquote(token.image), span: tokenSpan(this.file, token) };
  }

  policy(node: C.PolicyCstNode): A.Statement[] {
    return (node.children.statement ?? []).map((s) => this.statement(s));
  }

  private statement(node: C.StatementCstNode): A.Statement {
    const c = node.children;
    if (c.importStmt) return this.importStmt(c.importStmt[0]!);
    if (c.vpnDecl) return this.vpnDecl(c.vpnDecl[0]!);
    if (c.hostDecl) return this.hostDecl(c.hostDecl[0]!);
    if (c.groupDecl) return this.groupDecl(c.groupDecl[0]!);
    if (c.serviceDecl) return this.serviceDecl(c.serviceDecl[0]!);
    if (c.ruleStmt) return this.ruleStmt(c.ruleStmt[0]!);
    if (c.masqueradeStmt) return this.masqueradeStmt(c.masqueradeStmt[0]!);
    if (c.defaultStmt) return this.defaultStmt(c.defaultStmt[0]!);
    if (c.shapeStmt) return this.shapeStmt(c.shapeStmt[0]!);
    if (c.delayStmt) return this.delayStmt(c.delayStmt[0]!);
    if (c.linkStmt) return this.linkStmt(c.linkStmt[0]!);
    if (c.dropEarlyStmt) return this.dropEarlyStmt(c.dropEarlyStmt[0]!);
    if (c.expectStmt) return this.expectStmt(c.expectStmt[0]!);
    throw new Error("statement with no known child");
  }

  private importStmt(node: C.ImportStmtCstNode): A.Statement {
    return { kind: "import", path: this.stringWord(node.children.String[0]!), span: this.span(node) };
  }

  private vpnDecl(node: C.VpnDeclCstNode): A.Statement {
    const c = node.children;
    const networks: A.AddressLit[] = [];
    const hubs: A.HubDecl[] = [];
    const peers: A.PeerDecl[] = [];
    let mtu: A.Word | undefined;
    this.once("mtu", (c.vpnItem ?? []).flatMap((item) => item.children.mtuItem?.[0]?.children.Kw_mtu ?? []));
    for (const item of c.vpnItem ?? []) {
      const i = item.children;
      if (i.networkItem) networks.push(...this.addressList(i.networkItem[0]!.children.addressList[0]!));
      if (i.hubItem) hubs.push(this.hubItem(i.hubItem[0]!));
      if (i.peerItem) peers.push(this.peerItem(i.peerItem[0]!));
      if (i.mtuItem) mtu = this.word(i.mtuItem[0]!.children.Number[0]!);
    }
    return {
      kind: "vpn",
      name: this.word(c.Name[0]!),
      iface: this.word(c.iface[0]!),
      networks,
      hubs,
      peers,
      mtu,
      span: this.span(node),
    };
  }

  private hubItem(node: C.HubItemCstNode): A.HubDecl {
    const c = node.children;
    this.once("endpoint", c.Kw_endpoint);
    this.once("key", c.Kw_key);
    return {
      kind: "hub",
      name: this.word(c.Name[0]!),
      addresses: this.addressList(c.addressList[0]!),
      endpoint: c.endpoint ? this.endpoint(c.endpoint[0]!) : undefined,
      key: c.String ? this.stringWord(c.String[0]!) : undefined,
      span: this.span(node),
    };
  }

  private peerItem(node: C.PeerItemCstNode): A.PeerDecl {
    const c = node.children;
    this.once("endpoint", c.Kw_endpoint);
    this.once("keepalive", c.Kw_keepalive);
    this.once("tunnel", c.Kw_tunnel);
    return {
      kind: "peer",
      name: this.word(c.Name[0]!),
      addresses: this.addressList(c.addressList[0]!),
      key: this.stringWord(c.String[0]!),
      endpoint: c.endpoint ? this.endpoint(c.endpoint[0]!) : undefined,
      keepalive: c.keepalive ? this.word(c.keepalive[0]!) : undefined,
      tunnel: c.tunnel?.[0]?.image === "full" ? "full" : "split",
      span: this.span(node),
    };
  }

  private endpoint(node: C.EndpointCstNode): A.Endpoint {
    const c = node.children;
    const port = this.word(c.Number[0]!);
    if (c.Ipv4) return { host: this.word(c.Ipv4[0]!), hostKind: "ipv4", port, span: this.span(node) };
    if (c.bracketedIpv6) {
      return { host: this.word(c.bracketedIpv6[0]!.children.Ipv6[0]!), hostKind: "ipv6", port, span: this.span(node) };
    }
    return { host: this.word(c.Name![0]!), hostKind: "name", port, span: this.span(node) };
  }

  private address(node: C.AddressCstNode): A.AddressLit {
    const token = (node.children.Ipv4 ?? node.children.Ipv6)![0]!;
    return { kind: "address", text: token.image, span: tokenSpan(this.file, token) };
  }

  private addressList(node: C.AddressListCstNode): A.AddressLit[] {
    return node.children.address.map((a) => this.address(a));
  }

  private hostDecl(node: C.HostDeclCstNode): A.Statement {
    const c = node.children;
    return {
      kind: "host",
      name: this.word(c.Name[0]!),
      addresses: this.addressList(c.addressList[0]!),
      ifaces: (c.iface ?? []).map((t) => this.word(t)),
      span: this.span(node),
    };
  }

  private groupDecl(node: C.GroupDeclCstNode): A.Statement {
    const c = node.children;
    return { kind: "group", name: this.word(c.Name[0]!), members: c.target.map((t) => this.target(t)), span: this.span(node) };
  }

  private serviceDecl(node: C.ServiceDeclCstNode): A.Statement {
    const c = node.children;
    return {
      kind: "service",
      name: this.word(c.Name[0]!),
      items: c.serviceItem.map((s) => this.serviceItem(s)),
      span: this.span(node),
    };
  }

  private serviceItem(node: C.ServiceItemCstNode): A.ServiceItem {
    const c = node.children;
    if (c.low) {
      return {
        kind: "ports",
        low: this.word(c.low[0]!),
        high: c.high ? this.word(c.high[0]!) : undefined,
        proto: this.word(c.proto![0]!),
        span: this.span(node),
      };
    }
    return {
      kind: "named",
      name: this.word(c.ref![0]!),
      icmpType: c.icmpType ? this.word(c.icmpType[0]!) : undefined,
      span: this.span(node),
    };
  }

  private services(node: C.ServicesCstNode): A.ServiceItem[] {
    return (node.children.serviceItem ?? []).map((s) => this.serviceItem(s));
  }

  private target(node: C.TargetCstNode): A.Target {
    const c = node.children;
    if (c.Name) return { kind: "name", name: c.Name[0]!.image, span: tokenSpan(this.file, c.Name[0]!) };
    if (c.address) return this.address(c.address[0]!);
    if (c.bracketedIpv6) {
      const token = c.bracketedIpv6[0]!.children.Ipv6[0]!;
      return { kind: "address", text: token.image, span: tokenSpan(this.file, token) };
    }
    return { kind: "list", items: (c.target ?? []).map((t) => this.target(t)), span: this.span(node) };
  }

  private targetList(node: C.TargetListCstNode): A.Target[] {
    return node.children.target.map((t) => this.target(t));
  }

  private destination(node: C.DestinationCstNode): A.Destination {
    const c = node.children;
    return {
      target: this.target(c.target[0]!),
      services: c.services ? this.services(c.services[0]!) : undefined,
      span: this.span(node),
    };
  }

  private verb(node: C.VerbCstNode): A.Word & { verb: A.Verb } {
    const c = node.children;
    const token = (c.Kw_allow ?? c.Kw_deny ?? c.Kw_reject)![0]!;
    return { ...this.word(token), verb: token.image as A.Verb };
  }

  private ruleStmt(node: C.RuleStmtCstNode): A.Statement {
    const c = node.children;
    const verb = this.verb(c.verb[0]!);
    return {
      kind: "rule",
      verb: verb.verb,
      verbSpan: verb.span,
      source: this.target(c.target[0]!),
      destination: this.destination(c.destination[0]!),
      comment: c.String ? this.stringWord(c.String[0]!) : undefined,
      span: this.span(node),
    };
  }

  private masqueradeStmt(node: C.MasqueradeStmtCstNode): A.Statement {
    const c = node.children;
    return {
      kind: "masquerade",
      source: this.word(c.Name[0]!),
      via: c.iface ? this.word(c.iface[0]!) : undefined,
      span: this.span(node),
    };
  }

  private defaultStmt(node: C.DefaultStmtCstNode): A.Statement {
    const c = node.children;
    return {
      kind: "default",
      verb: this.verb(c.verb[0]!).verb,
      hosts: (c.Name ?? []).map((t) => this.word(t)),
      span: this.span(node),
    };
  }

  private direction(node: C.DirectionCstNode[] | undefined): A.Direction {
    const c = node?.[0]?.children;
    return c?.Kw_from ? "from" : c?.Kw_both ? "both" : "to";
  }

  private linkStmt(node: C.LinkStmtCstNode): A.Statement {
    const c = node.children;
    return { kind: "link", iface: this.word(c.iface[0]!), rate: this.word(c.rate[0]!), span: this.span(node) };
  }

  private shapeStmt(node: C.ShapeStmtCstNode): A.Statement {
    const c = node.children;
    this.once("ceil", c.Kw_ceil);
    this.once("burst", c.Kw_burst);
    this.once("prio", c.Kw_prio);
    return {
      kind: "shape",
      each: c.Kw_each !== undefined,
      direction: this.direction(c.direction),
      targets: this.targetList(c.targetList[0]!),
      rate: this.word(c.rate[0]!),
      ceil: c.ceil ? this.word(c.ceil[0]!) : undefined,
      burst: c.burst ? this.word(c.burst[0]!) : undefined,
      prio: c.prio ? this.word(c.prio[0]!) : undefined,
      span: this.span(node),
    };
  }

  private delayStmt(node: C.DelayStmtCstNode): A.Statement {
    const c = node.children;
    this.once("jitter", c.Kw_jitter);
    this.once("loss", c.Kw_loss);
    return {
      kind: "delay",
      direction: this.direction(c.direction),
      targets: this.targetList(c.targetList[0]!),
      delay: this.word(c.delay[0]!),
      jitter: c.jitter ? this.word(c.jitter[0]!) : undefined,
      loss: c.loss ? this.word(c.loss[0]!) : undefined,
      span: this.span(node),
    };
  }

  private dropEarlyStmt(node: C.DropEarlyStmtCstNode): A.Statement {
    const c = node.children;
    this.once("from", c.Kw_from);
    this.once("to", c.Kw_to);
    return {
      kind: "drop-early",
      sources: (c.sources ?? []).flatMap((list) => this.targetList(list)),
      destination: c.destination ? this.destination(c.destination[0]!) : undefined,
      acknowledged: (c.acknowledged ?? []).map((t) => this.word(t)),
      span: this.span(node),
    };
  }

  private expectStmt(node: C.ExpectStmtCstNode): A.Statement {
    const c = node.children;
    return {
      kind: "expect",
      source: this.target(c.target[0]!),
      destination: this.destination(c.destination[0]!),
      verdict: this.verb(c.verb[0]!).verb,
      ...this.flowOptions(c.flowOptions[0]!),
      span: this.span(node),
    };
  }

  private flowOptions(node: C.FlowOptionsCstNode): Pick<Extract<A.Statement, { kind: "expect" }>, "family" | "state" | "iface"> {
    const c = node.children;
    this.once("family", c.Kw_family);
    this.once("state", c.Kw_state);
    this.once("on", c.Kw_on);
    return {
      family: c.family ? this.word(c.family[0]!) : undefined,
      state: c.state ? this.word(c.state[0]!) : undefined,
      iface: c.iface ? this.word(c.iface[0]!) : undefined,
    };
  }

  /** A query as the expectation it asks about (the verdict is not used). */
  flowQuery(node: C.FlowQueryCstNode): Extract<A.Statement, { kind: "expect" }> {
    const c = node.children;
    return {
      kind: "expect",
      source: this.target(c.target[0]!),
      destination: this.destination(c.destination[0]!),
      verdict: "allow",
      ...this.flowOptions(c.flowOptions[0]!),
      span: this.span(node),
    };
  }

}

