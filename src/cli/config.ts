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
}

const KNOWN_KEYS = ["output", "targets"];

export function loadConfig(dir: string): Config | { diagnostics: Diagnostic[]; sources: Sources } {
  const file = path.join(dir, "wgpc.toml");
  if (!fs.existsSync(file)) return {};
  const sources = new Sources();
  const text = fs.readFileSync(file, "utf8");
  const id = sources.add(file, text);
  const fail = (detail: string, offset = 0, length = 1) => ({
    diagnostics: [diagnostic("invalid-config", { detail }, { file: id, start: offset, end: offset + length })],
    sources,
  });
  let data: Record<string, unknown>;
  try {
    data = TOML.parse(text) as Record<string, unknown>;
  } catch (e) {
    const err = e as { pos?: number; message: string };
    return fail(err.message.split("\n")[0]!.replace(/ at row \d+, col \d+, pos \d+:?$/, "").toLowerCase(), Math.min(err.pos ?? 0, text.length));
  }
  const keyOffset = (key: string) => Math.max(0, text.search(new RegExp(`^\\s*${key}\\s*=`, "m")));
  for (const key of Object.keys(data)) {
    if (!KNOWN_KEYS.includes(key)) return fail(`unknown key \`${key}\` (known: ${KNOWN_KEYS.join(", ")})`, keyOffset(key), key.length);
  }
  if (data.output !== undefined && typeof data.output !== "string") return fail("`output` must be a string", keyOffset("output"), 6);
  if (data.targets !== undefined && (!Array.isArray(data.targets) || !data.targets.every((t) => typeof t === "string"))) {
    return fail("`targets` must be a list of strings", keyOffset("targets"), 7);
  }
  const output = typeof data.output === "string" ? path.resolve(dir, data.output) : undefined;
  return { output, targets: data.targets as string[] | undefined };
}
