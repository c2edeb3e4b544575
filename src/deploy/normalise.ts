// The forms in which a bundle's files and the kernel's state are compared:
// what the tools print back, less what changes without anyone changing the
// rules (comments, timestamps, counters, the order of hash sets). Pure, so
// `wgpc diff`, the rollback check and the root tests share one definition.

/** An iptables-save or iptables-restore text: no comments, chain counters zeroed. */
export function restoreForm(text: string): string {
  return text
    .split("\n")
    .filter((l) => !l.startsWith("#") && l.trim() !== "")
    .map((l) => l.replace(/^(:\S+ \S+) \[\d+:\d+\]$/, "$1 [0:0]"))
    .join("\n");
}

/** A restore-form text's tables by name, each from its `*name` line to its `COMMIT`, in order. */
export function restoreTables(text: string): Map<string, string> {
  const tables = new Map<string, string>();
  for (const m of text.matchAll(/^\*(\S+)\n[\s\S]*?^COMMIT$/gm)) tables.set(m[1]!, m[0]);
  return tables;
}

/**
 * A `table inet wgpc { … }` as `nft list table` prints it (from a script,
 * the block after its header lines). A set without intervals is a hash
 * table, which nft lists in hash order: its elements are sorted here.
 */
export function nftTableForm(text: string): string {
  const at = text.indexOf("table inet wgpc {");
  const table = (at >= 0 ? text.slice(at) : text).trimEnd();
  return table.replace(/(\ttype [^\n]+\n)(\t\telements = \{ )([^}]*)( \})/g, (_all, type: string, open: string, list: string, close: string) => {
    const elements = list.split(/,\s*/).sort();
    return `${type}${open}${elements.join(",\n\t\t\t     ")}${close}`;
  });
}

/** The members of each set an ipset.rules file fills, as `ipset save` lists them (a port range is each of its ports). */
export function ipsetMembers(text: string, suffix: string): Map<string, string[]> {
  const sets = new Map<string, string[]>();
  const unsuffixed = (name: string) => (suffix !== "" && name.endsWith(suffix) ? name.slice(0, -suffix.length) : name);
  for (const m of text.matchAll(/^create (\S+) /gm)) sets.set(unsuffixed(m[1]!), []);
  for (const m of text.matchAll(/^add (\S+) (\S+)$/gm)) {
    const name = unsuffixed(m[1]!);
    const range = m[2]!.match(/^(.*:)(\d+)-(\d+)$/);
    const members = range ? Array.from({ length: Number(range[3]) - Number(range[2]) + 1 }, (_, k) => `${range[1]}${Number(range[2]) + k}`) : [m[2]!];
    sets.get(name)?.push(...members);
  }
  for (const list of sets.values()) list.sort();
  return sets;
}

/** Lines of `want` missing from `have` and of `have` missing from `want` (at most `limit` of each shown), with their counts. */
export function lineDifference(want: string, have: string, limit = 5): { missing: string[]; extra: string[]; missingCount: number; extraCount: number } {
  const count = (text: string) => {
    const n = new Map<string, number>();
    for (const l of text.split("\n")) n.set(l, (n.get(l) ?? 0) + 1);
    return n;
  };
  const w = count(want);
  const h = count(have);
  const only = (a: Map<string, number>, b: Map<string, number>) => [...a].flatMap(([l, n]) => Array<string>(Math.max(0, n - (b.get(l) ?? 0))).fill(l.trim()));
  const missing = only(w, h);
  const extra = only(h, w);
  return { missing: missing.slice(0, limit), extra: extra.slice(0, limit), missingCount: missing.length, extraCount: extra.length };
}
