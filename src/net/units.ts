// Rates, sizes, durations and percentages, read once with one unambiguous
// grammar. tc reads `mbps` as megaBYTES per second; a policy may not say
// `mbps` at all (both meanings are offered in the diagnostic), and output
// never carries a `*bps` suffix.

export type UnitResult<T> = { ok: true; value: T } | { ok: false; reason: string; help?: string };

const SPLIT = /^(\d+(?:\.\d+)?)([A-Za-z%/]*)$/;

const RATE_UNITS: Record<string, number> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  tbit: 1e12,
  kibit: 1024,
  mibit: 1024 ** 2,
  gibit: 1024 ** 3,
  tibit: 1024 ** 4,
  // bytes per second, spelt so they cannot be misread
  "byte/s": 8,
  "kbyte/s": 8e3,
  "mbyte/s": 8e6,
  "gbyte/s": 8e9,
};

// bytes or bits? `mbps`, `MB/s`, `Mb`, `kibps`: tc and people read these differently
const AMBIGUOUS_RATE = /^([kmgt]?)i?(bps|b\/s|b)$/i;

/** A rate in bits per second. */
export function parseRate(text: string): UnitResult<number> {
  const m = text.match(SPLIT);
  if (!m) return { ok: false, reason: `\`${text}\` is not a number with a unit` };
  const n = Number(m[1]);
  const unit = m[2]!;
  const ambiguous = unit.match(AMBIGUOUS_RATE);
  if (ambiguous) {
    const prefix = ambiguous[1]!.toLowerCase();
    return {
      ok: false,
      reason: `\`${unit}\` is ambiguous: tc reads it as ${prefix}bytes per second, many people as ${prefix}bits per second`,
      help: `write \`${m[1]}${prefix}bit\` for ${m[1]} ${prefix}bit/s, or \`${m[1]}${prefix}byte/s\` for ${m[1]} ${prefix}bytes/s`,
    };
  }
  const factor = RATE_UNITS[unit.toLowerCase()];
  if (factor === undefined) {
    return { ok: false, reason: `unknown rate unit \`${unit}\``, help: "rates are written in bit, kbit, mbit, gbit, tbit (or kibit…tibit, or kbyte/s…gbyte/s)" };
  }
  const exact = n * factor;
  const bits = Math.round(exact);
  if (Math.abs(exact - bits) > 1e-9 * exact + 1e-9) {
    return { ok: false, reason: `\`${text}\` is not a whole number of bits per second`, help: `write \`${bits}bit\`` };
  }
  if (bits < 8) return { ok: false, reason: "a rate must be at least 8bit" };
  if (bits > 4e12) return { ok: false, reason: "a rate above 4tbit is not a link this compiler can shape" };
  return { ok: true, value: bits };
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, kib: 1024, mib: 1024 ** 2, byte: 1, kbyte: 1024, mbyte: 1024 ** 2 };

/** A size in bytes (`kb` is 1024 bytes, as tc reads it). */
export function parseSize(text: string): UnitResult<number> {
  const m = text.match(SPLIT);
  const factor = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || factor === undefined) return { ok: false, reason: `\`${text}\` is not a size`, help: "sizes are written in b, kb or mb (bytes; k = 1024)" };
  const bytes = Math.round(Number(m[1]) * factor);
  if (bytes > 64 * 1024 ** 2) return { ok: false, reason: "a burst above 64mb is not useful" };
  return { ok: true, value: bytes };
}

const TIME_UNITS: Record<string, number> = { us: 1e-3, ms: 1, s: 1000 };

/** A duration in milliseconds. */
export function parseDuration(text: string): UnitResult<number> {
  const m = text.match(SPLIT);
  const factor = m ? TIME_UNITS[m[2]!] : undefined;
  if (!m || factor === undefined) return { ok: false, reason: `\`${text}\` is not a duration`, help: "durations are written in us, ms or s" };
  return { ok: true, value: Number(m[1]) * factor };
}

export function parsePercent(text: string): UnitResult<number> {
  const m = text.match(SPLIT);
  if (!m || m[2] !== "%") return { ok: false, reason: `\`${text}\` is not a percentage`, help: "write a percentage like `0.5%`" };
  return { ok: true, value: Number(m[1]) };
}

/** tc's spelling of a rate: the largest SI unit that keeps it whole, in bits. */
export function formatRate(bits: number): string {
  for (const [unit, factor] of [["tbit", 1e12], ["gbit", 1e9], ["mbit", 1e6], ["kbit", 1e3]] as const) {
    if (bits >= factor && bits % factor === 0) return `${bits / factor}${unit}`;
  }
  return `${bits}bit`;
}

/** tc's spelling of a duration. */
export function formatDuration(ms: number): string {
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  if (Number.isInteger(ms)) return `${ms}ms`;
  return `${Math.round(ms * 1000)}us`;
}
