// The formatter without prettier's plugin loading: text in, formatted text
// or the syntax diagnostics out. `wgpc fmt` uses this; the prettier plugin
// (plugin.ts) prints the same Doc, so both give the same bytes.
import { printer } from "prettier/doc";
import { parsePolicy } from "../syntax/parse.js";
import type { PolicyFile } from "../syntax/ast.js";
import type { Diagnostic } from "../diagnostics/diagnostic.js";
import { printPolicy } from "./print.js";

export const PRINT_WIDTH = 80;

/** Line ends as prettier reads them: CRLF and lone CR become LF. */
export const normaliseLineEnds = (text: string): string => text.replace(/\r\n?/g, "\n");

export type ParsedForFormat = { ok: true; ast: PolicyFile } | { ok: false; diagnostics: readonly Diagnostic[] };

/**
 * Parses for formatting. Any diagnostic refuses the file: the AST of a file
 * with, say, an option given twice holds only one of them, and printing it
 * would quietly turn an error into a valid policy.
 */
export function parseForFormat(text: string, file = 0): ParsedForFormat {
  const parsed = parsePolicy(file, text);
  if (!parsed.ast || parsed.diagnostics.length > 0) return { ok: false, diagnostics: parsed.diagnostics };
  return { ok: true, ast: parsed.ast };
}

export type FormatResult = { ok: true; text: string } | { ok: false; text: string; diagnostics: readonly Diagnostic[] };

/** Formats policy text. `text` in the result is what was parsed (line ends normalised), for rendering diagnostics. */
export function formatPolicyText(input: string, printWidth = PRINT_WIDTH): FormatResult {
  const text = normaliseLineEnds(input);
  const parsed = parseForFormat(text);
  if (!parsed.ok) return { ok: false, text, diagnostics: parsed.diagnostics };
  const doc = printPolicy(parsed.ast, text);
  return { ok: true, text: printer.printDocToString(doc, { printWidth, tabWidth: 2, useTabs: false }).formatted };
}
