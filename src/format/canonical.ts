// Canonical spellings the formatter writes. Each one reads back to exactly
// what was written (the checker parses both the same way); text the checker
// would refuse is kept as written, so an error stays the same error.
import { formatBits, parseAddress } from "../net/address.js";

/** IPv6 compressed and lower-case (RFC 5952), host bits and length as written; IPv4 as written. */
export function canonicalAddress(text: string): string {
  if (!text.includes(":")) return text;
  const slash = text.indexOf("/");
  const bare = slash >= 0 ? text.slice(0, slash) : text;
  const parsed = parseAddress(bare);
  if (!parsed.ok || parsed.family !== 6) return text;
  // an embedded IPv4 tail (`::ffff:192.0.2.1`) reads better as written
  if (bare.includes(".")) return text.toLowerCase();
  const length = slash >= 0 ? text.slice(slash + 1) : undefined;
  if (length !== undefined && !/^\d{1,3}$/.test(length)) return text;
  return `${formatBits(6, parsed.bits)}${length === undefined ? "" : `/${Number(length)}`}`;
}

/**
 * Rates and sizes with a lower-case unit: the checker reads their units
 * case-insensitively. Durations and percentages are case-sensitive there,
 * so they are left alone (`500MS` must stay an error).
 */
export function canonicalRateOrSize(text: string): string {
  const m = text.match(/^(\d+(?:\.\d+)?)([A-Za-z]+(?:\/s)?)$/);
  return m ? `${m[1]}${m[2]!.toLowerCase()}` : text;
}

/** A string literal for a value: `\` and `"` escaped (the lexer unescapes any `\x`). */
export function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
