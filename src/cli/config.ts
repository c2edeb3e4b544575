// wgpc.toml: optional project settings next to the policy. Unknown keys and
// wrong types are diagnostics with the position in the file.
import * as fs from "node:fs";
import * as path from "node:path";
import TOML from "@iarna/toml";
import { Sources } from "../syntax/source.js";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";

export interface Config {
  readonly output?: string;
  readonly targets?: readonly string[];
  /** leaf qdisc of shaping classes, for kernels without fq_codel */
  readonly leafQdisc?: string;
}

const KNOWN_KEYS = ["output", "targets", "leaf_qdisc"];
// leaf qdiscs that take no options and exist in Debian's kernels
const LEAF_QDISCS = ["fq_codel", "fq", "sfq", "pfifo", "bfifo", "pfifo_fast", "cake"];

export function loadConfig(dir: string): Config | { diagnostics: Diagnostic[]; sources: Sources } {
  const file = path.join(dir, "wgpc.toml");
  if (!fs.existsSync(file)) return {};
  const sources = new Sources();
  let text: string;
  try {
    if (!fs.statSync(file).isFile()) throw new Error("it is not a regular file");
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    return { diagnostics: [diagnostic("cannot-read-file", { path: file, reason: (e as Error).message })], sources };
  }
  const id = sources.add(file, text);
  const fail = (detail: string, offset = 0, length = 1) => ({
    diagnostics: [diagnostic("invalid-config", { detail }, { file: id, start: offset, end: offset + length })],
    sources,
  });
  let data: Record<string, unknown>;
  try {
    data = TOML.parse(text) as Record<string, unknown>;
  } catch (e) {
    const err = e as { line?: number; col?: number; message: string };
    // the parser's line and column are 0-based; turn them into an offset
    const lineStart = text.split("\n").slice(0, err.line ?? 0).reduce((n, l) => n + l.length + 1, 0);
    const offset = Math.min(lineStart + (err.col ?? 0), Math.max(0, text.length - 1));
    return fail(err.message.split("\n")[0]!.replace(/ at row \d+, col \d+, pos \d+:?$/, "").toLowerCase(), offset);
  }
  /** Where a top-level key is written: bare, quoted, or as a [table]. */
  const keyOffset = (key: string) => {
    const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const at = text.search(new RegExp(`^[ \\t]*(?:${escaped}|"${escaped}"|'${escaped}'|\\[[ \\t]*${escaped}[ \\t]*\\])`, "m"));
    return at < 0 ? 0 : at + (text.slice(at).match(/^[ \t]*/)?.[0].length ?? 0);
  };
  for (const key of Object.keys(data)) {
    if (!KNOWN_KEYS.includes(key)) return fail(`unknown key \`${key}\` (known: ${KNOWN_KEYS.join(", ")})`, keyOffset(key), key.length);
  }
  if (data.output !== undefined && typeof data.output !== "string") return fail("`output` must be a string", keyOffset("output"), 6);
  if (data.targets !== undefined && (!Array.isArray(data.targets) || !data.targets.every((t) => typeof t === "string"))) {
    return fail("`targets` must be a list of strings", keyOffset("targets"), 7);
  }
  if (data.leaf_qdisc !== undefined && (typeof data.leaf_qdisc !== "string" || !LEAF_QDISCS.includes(data.leaf_qdisc))) {
    return fail(`\`leaf_qdisc\` must be one of ${LEAF_QDISCS.join(", ")}`, keyOffset("leaf_qdisc"), 10);
  }
  const output = typeof data.output === "string" ? path.resolve(dir, data.output) : undefined;
  return { output, targets: data.targets as string[] | undefined, leafQdisc: data.leaf_qdisc as string | undefined };
}
