import type { Span } from "../syntax/ast.js";
import { catalogue, type ParamsOf, type Severity, type Slug } from "./catalogue.js";

export interface RelatedNote {
  readonly message: string;
  readonly span: Span;
}

export interface Diagnostic {
  readonly code: string;
  readonly slug: Slug;
  readonly severity: Severity;
  readonly message: string;
  readonly span?: Span;
  readonly help?: string;
  readonly related: readonly RelatedNote[];
}

export interface DiagnosticExtras {
  help?: string;
  related?: RelatedNote[];
}

export function diagnostic<S extends Slug>(
  slug: S,
  params: ParamsOf<S>,
  span?: Span,
  extras: DiagnosticExtras = {},
): Diagnostic {
  const entry = catalogue[slug];
  const message = (entry.message as (p: ParamsOf<S>) => string)(params);
  return {
    code: entry.code,
    slug,
    severity: entry.severity,
    message,
    span,
    help: extras.help,
    related: extras.related ?? [],
  };
}

export const hasErrors = (diagnostics: readonly Diagnostic[]): boolean =>
  diagnostics.some((d) => d.severity === "error");

/** A failure that carries its diagnostics out of a stage. */
export class DiagnosticError extends Error {
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map((d) => d.message).join("; "));
  }
}
