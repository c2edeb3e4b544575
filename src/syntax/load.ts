// Reads policy files and their imports into one source table and parses
// them. File access comes in as a function so that tests and the formatter
// can load from memory.
import * as path from "node:path";
import type { PolicyFile, Span } from "./ast.js";
import { Sources } from "./source.js";
import { parsePolicy } from "./parse.js";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";

export interface FileReader {
  /** the file's text (and the offset of its first byte that was not UTF-8), or an error message */
  read(filePath: string): { text: string; invalidAt?: number } | { error: string };
  exists(filePath: string): boolean;
  /** a canonical path, so one file imported twice is read once */
  canonical(filePath: string): string;
}

export interface Loaded {
  readonly sources: Sources;
  /** in policy order: each file's imports come before the file itself */
  readonly files: readonly PolicyFile[];
  readonly diagnostics: readonly Diagnostic[];
}

function candidates(spec: string, fromDir: string, stdlibDir: string): string[] {
  const withExt = spec.endsWith(".wgp") ? [spec] : [`${spec}.wgp`, spec];
  return [...withExt.map((s) => path.resolve(fromDir, s)), ...withExt.map((s) => path.resolve(stdlibDir, s))];
}

export function loadPolicy(paths: readonly string[], reader: FileReader, stdlibDir: string): Loaded {
  const sources = new Sources();
  const files: PolicyFile[] = [];
  const diagnostics: Diagnostic[] = [];
  const loaded = new Set<string>();

  const load = (filePath: string, importedAt?: Span): void => {
    const canonical = reader.canonical(filePath);
    if (loaded.has(canonical)) return;
    loaded.add(canonical);
    const read = reader.read(filePath);
    if ("error" in read) {
      diagnostics.push(diagnostic("cannot-read-file", { path: filePath, reason: read.error }, importedAt));
      return;
    }
    const file = sources.add(filePath, read.text);
    // a file with a NUL or bytes that are not UTF-8 is not a policy: one diagnostic, at the first such byte
    const nul = read.text.indexOf("\u0000");
    const binaryAt = Math.min(read.invalidAt ?? Infinity, nul < 0 ? Infinity : nul);
    if (binaryAt !== Infinity) {
      diagnostics.push(diagnostic("not-text", {}, { file, start: binaryAt, end: binaryAt + 1 }));
      return;
    }
    const parsed = parsePolicy(file, read.text);
    diagnostics.push(...parsed.diagnostics);
    if (!parsed.ast) return;
    for (const s of parsed.ast.statements) {
      if (s.kind !== "import") continue;
      const found = candidates(s.path.text, path.dirname(filePath), stdlibDir).find((c) => reader.exists(c));
      if (!found) {
        diagnostics.push(
          diagnostic("import-not-found", { path: s.path.text }, s.path.span, {
            help: `imports are looked up next to the importing file, then in wgpc's stdlib (${path.basename(stdlibDir)}/)`,
          }),
        );
        continue;
      }
      load(found, s.path.span);
    }
    files.push(parsed.ast);
  };

  for (const p of paths) load(p);
  return { sources, files, diagnostics };
}
