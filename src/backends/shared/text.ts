// Printing helpers that every backend shares: quoting of free text, port
// ranges, chunking of long lists.
import type { PortRange } from "../../net/services.js";
import type { IrRule } from "../../ir/types.js";

/**
 * One double-quoted token. The checker refuses quotes, backslashes and
 * control characters in user text (nft cannot carry them), so reaching this
 * with one is a bug, not bad input.
 */
export function quoted(text: string): string {
  if (/["\\\u0000-\u001f\u007f]/.test(text)) throw new Error(`unquotable text reached a backend: ${JSON.stringify(text)}`);
  return `"${text}"`;
}

/** The comment a rule carries: where it came from, then the admin's words. */
export function ruleComment(rule: IrRule): string {
  const where = rule.origin.kind === "policy" ? rule.origin.label : `wgpc ${rule.origin.label}`;
  return rule.origin.comment ? `${where} ${rule.origin.comment}` : where;
}

/**
 * The comment of a lookup standing for several rules: the first and the
 * last rule's place and how many there are (nft keeps 128 bytes).
 */
export function lookupComment(rules: readonly IrRule[]): string {
  const first = ruleComment({ ...rules[0]!, origin: { ...rules[0]!.origin, comment: undefined } });
  const last = ruleComment({ ...rules[rules.length - 1]!, origin: { ...rules[rules.length - 1]!.origin, comment: undefined } });
  return `${first} to ${last} (${rules.length} rules)`;
}

/** `22`, or `80<sep>90` for a range; never `N<sep>N`. */
export const portText = (r: PortRange, separator: ":" | "-"): string =>
  r.low === r.high ? String(r.low) : `${r.low}${separator}${r.high}`;

/** Splits items into chunks whose summed weight stays within `limit`. */
export function chunkByWeight<T>(items: readonly T[], weight: (item: T) => number, limit: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let used = 0;
  for (const item of items) {
    const w = weight(item);
    if (current.length > 0 && used + w > limit) {
      chunks.push(current);
      current = [];
      used = 0;
    }
    current.push(item);
    used += w;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
