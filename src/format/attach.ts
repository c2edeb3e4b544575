// Comments to the nearest node. The AST keeps comments apart from the
// statements (PolicyFile.comments, with spans); the formatter needs to know
// which node each belongs to, and where the blank lines were.
//
// - after a statement (or a vpn block's item) on the same line: its trailing
//   comment;
// - on lines of their own: leading comments of the next statement or item;
//   with nothing after them, dangling at the end of the file or the block;
// - inside a statement (between its tokens): leading comments of that
//   statement (of that item in a vpn block). The first version of the
//   formatter does not keep a comment between the tokens of one statement.
import type { AddressLit, CommentNode, HubDecl, PeerDecl, PolicyFile, Statement, Word } from "../syntax/ast.js";

export type VpnStatement = Extract<Statement, { kind: "vpn" }>;

/** One line of a vpn block, in the order written. */
export type VpnItem =
  | { readonly kind: "network"; readonly addresses: readonly AddressLit[]; readonly start: number; readonly end: number }
  | { readonly kind: "hub"; readonly node: HubDecl; readonly start: number; readonly end: number }
  | { readonly kind: "peer"; readonly node: PeerDecl; readonly start: number; readonly end: number }
  | { readonly kind: "mtu"; readonly word: Word; readonly start: number; readonly end: number };

/** A statement or a vpn item: what comments attach to. */
export type Anchor = Statement | VpnItem;

export interface Attached {
  readonly text: string;
  readonly leading: Map<Anchor, CommentNode[]>;
  readonly trailing: Map<Anchor, CommentNode>;
  /** comments after the last statement */
  readonly dangling: CommentNode[];
  /** comments after the last item of a vpn block (or in an empty one) */
  readonly vpnDangling: Map<VpnStatement, CommentNode[]>;
  readonly vpnItems: Map<VpnStatement, VpnItem[]>;
}

const sameLine = (text: string, from: number, to: number): boolean => from <= to && !/[\r\n]/.test(text.slice(from, to));

/** Whether the text between two offsets holds an empty line. */
export const blankBetween = (text: string, from: number, to: number): boolean =>
  from < to && /\n[ \t\f\r]*\n|\r[ \t\f]*\r/.test(text.slice(from, to).replace(/\r\n/g, "\n"));

/** The offset of a vpn block's `{`: after the interface name, past white space and comments. */
function openBrace(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === "{") return i;
    if (ch === "#") {
      while (i < text.length && text[i] !== "\n" && text[i] !== "\r") i++;
      continue;
    }
    i++;
  }
  return text.length;
}

/**
 * The items of a vpn block in source order. The AST merges every `network`
 * line into one list; lines are told apart again by what stands between two
 * addresses (a comma, or a new `network` keyword).
 */
function vpnItemsOf(text: string, s: VpnStatement): VpnItem[] {
  const items: VpnItem[] = [];
  let run: AddressLit[] = [];
  const flush = () => {
    if (run.length > 0) items.push({ kind: "network", addresses: run, start: run[0]!.span.start, end: run[run.length - 1]!.span.end });
    run = [];
  };
  for (const a of s.networks) {
    const last = run[run.length - 1];
    if (last && text.slice(last.span.end, a.span.start).replace(/#[^\r\n]*/g, "").trim() !== ",") flush();
    run.push(a);
  }
  flush();
  for (const h of s.hubs) items.push({ kind: "hub", node: h, start: h.span.start, end: h.span.end });
  for (const p of s.peers) items.push({ kind: "peer", node: p, start: p.span.start, end: p.span.end });
  if (s.mtu) items.push({ kind: "mtu", word: s.mtu, start: s.mtu.span.start, end: s.mtu.span.end });
  return items.sort((a, b) => a.start - b.start);
}

export function attachComments(file: PolicyFile, text: string): Attached {
  const attached: Attached = {
    text,
    leading: new Map(),
    trailing: new Map(),
    dangling: [],
    vpnDangling: new Map(),
    vpnItems: new Map(),
  };
  const lead = (anchor: Anchor, c: CommentNode) => {
    const list = attached.leading.get(anchor) ?? [];
    list.push(c);
    attached.leading.set(anchor, list);
  };
  /** trailing on the same line when free, else leading of the next, else dangling */
  const place = <T extends Anchor>(c: CommentNode, prev: T | undefined, prevEnd: number, next: T | undefined, dangling: CommentNode[]) => {
    if (prev && sameLine(text, prevEnd, c.span.start) && !attached.trailing.has(prev)) attached.trailing.set(prev, c);
    else if (next) lead(next, c);
    else dangling.push(c);
  };

  const statements = file.statements;
  for (const s of statements) if (s.kind === "vpn") attached.vpnItems.set(s, vpnItemsOf(text, s));

  for (const c of [...file.comments].sort((a, b) => a.span.start - b.span.start)) {
    const at = c.span.start;
    const inside = statements.find((s) => s.span.start <= at && at < s.span.end);
    if (inside && inside.kind === "vpn") {
      if (at < openBrace(text, inside.iface.span.end)) {
        lead(inside, c);
        continue;
      }
      const items = attached.vpnItems.get(inside)!;
      const within = items.find((i) => i.start <= at && at < i.end);
      if (within) {
        lead(within, c);
        continue;
      }
      const prev = items.filter((i) => i.end <= at).pop();
      const next = items.find((i) => i.start >= c.span.end);
      const dangling = attached.vpnDangling.get(inside) ?? [];
      attached.vpnDangling.set(inside, dangling);
      place(c, prev, prev?.end ?? 0, next, dangling);
      continue;
    }
    if (inside) {
      lead(inside, c);
      continue;
    }
    const prev = statements.filter((s) => s.span.end <= at).pop();
    const next = statements.find((s) => s.span.start >= c.span.end);
    place(c, prev, prev?.span.end ?? 0, next, attached.dangling);
  }
  return attached;
}
