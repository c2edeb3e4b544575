// Rendering of diagnostics for people (`file:line:col: error[CODE]: …`, the
// source line and a caret) and for tools (JSON objects).
import type { Sources } from "../syntax/source.js";
import type { Diagnostic } from "./diagnostic.js";

function location(sources: Sources, d: { span?: Diagnostic["span"] }): string {
  if (!d.span) return "wgpc";
  const { line, column } = sources.position(d.span.file, d.span.start);
  return `${sources.get(d.span.file).path}:${line}:${column}`;
}

function snippet(sources: Sources, span: NonNullable<Diagnostic["span"]>): string[] {
  const { line, column } = sources.position(span.file, span.start);
  // the end is exclusive: one unit before it could be inside a character of two UTF-16 units
  const end = sources.position(span.file, span.end);
  // one column per character: tabs and control characters are shown as one
  const text = sources.lineText(span.file, line).replace(/\t/g, " ").replace(/[\u0000-\u001f\u007f-\u009f\ufeff]/g, "\uFFFD");
  const width = end.line === line ? Math.max(1, end.column - column) : Math.max(1, [...text].length - column + 1);
  const gutter = String(line);
  const pad = " ".repeat(gutter.length);
  return [`${pad} |`, `${gutter} | ${text}`, `${pad} | ${" ".repeat(column - 1)}${"^".repeat(width)}`];
}

export function renderText(sources: Sources, d: Diagnostic): string {
  const lines = [`${location(sources, d)}: ${d.severity}[${d.code}]: ${d.message}`];
  if (d.span) lines.push(...snippet(sources, d.span));
  for (const note of d.related) {
    lines.push(`${location(sources, note)}: note: ${note.message}`);
    lines.push(...snippet(sources, note.span));
  }
  if (d.help) lines.push(`  = help: ${d.help}`);
  return lines.join("\n");
}

export interface JsonDiagnostic {
  code: string;
  slug: string;
  severity: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  endLine?: number;
  endColumn?: number;
  help?: string;
  related: { message: string; file: string; line: number; column: number }[];
}

export function toJson(sources: Sources, d: Diagnostic): JsonDiagnostic {
  const out: JsonDiagnostic = { code: d.code, slug: d.slug, severity: d.severity, message: d.message, related: [] };
  if (d.span) {
    const start = sources.position(d.span.file, d.span.start);
    const end = sources.position(d.span.file, d.span.end);
    Object.assign(out, {
      file: sources.get(d.span.file).path,
      line: start.line,
      column: start.column,
      endLine: end.line,
      endColumn: end.column,
    });
  }
  if (d.help) out.help = d.help;
  out.related = d.related.map((r) => {
    const p = sources.position(r.span.file, r.span.start);
    return { message: r.message, file: sources.get(r.span.file).path, line: p.line, column: p.column };
  });
  return out;
}
