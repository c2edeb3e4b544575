// The prettier plugin for the policy language: `prettier --plugin
// wgpc/prettier` (or the path of this file once built) formats `.wgp` files
// with wgpc's own parser and the printer in print.ts.
import type { AstPath, Parser, Plugin, Printer, SupportLanguage } from "prettier";
import type { PolicyFile } from "../syntax/ast.js";
import { Sources } from "../syntax/source.js";
import { renderText } from "../diagnostics/render.js";
import { parseForFormat } from "./format.js";
import { printPolicy } from "./print.js";

/** The root prettier sees: the file's AST and the text its spans point into. */
export interface WgpRoot {
  readonly type: "wgp-policy";
  readonly policy: PolicyFile;
  readonly text: string;
}

export const languages: SupportLanguage[] = [
  { name: "wgp", parsers: ["wgp"], extensions: [".wgp"], vscodeLanguageIds: ["wgp"], tmScope: "source.wgp" },
];

class WgpSyntaxError extends Error {
  constructor(
    message: string,
    readonly loc: { start: { line: number; column: number } },
  ) {
    super(message);
  }
}

const parser: Parser<WgpRoot> = {
  astFormat: "wgp",
  // prettier hands over the text with line ends already normalised
  parse(text, options) {
    const parsed = parseForFormat(text);
    if (parsed.ok) return { type: "wgp-policy", policy: parsed.ast, text };
    const sources = new Sources();
    sources.add(options.filepath ?? "<input>", text);
    const first = parsed.diagnostics[0]!;
    const at = first.span ? sources.position(0, first.span.start) : { line: 1, column: 1 };
    throw new WgpSyntaxError(parsed.diagnostics.map((d) => renderText(sources, d)).join("\n"), { start: at });
  },
  locStart: () => 0,
  locEnd: (node) => node.text.length,
};

const printer: Printer<WgpRoot> = {
  print: (path: AstPath<WgpRoot>) => printPolicy(path.node.policy, path.node.text),
};

export const parsers = { wgp: parser };
export const printers = { wgp: printer };

const plugin: Plugin<WgpRoot> = { languages, parsers, printers };
export default plugin;
