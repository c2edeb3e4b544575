// Diagnostics as a SARIF 2.1.0 log, the format CI systems (code scanning)
// read: one run of wgpc, one rule per catalogue entry that occurs, one result
// per diagnostic. Pure: the caller says which directory relative URIs start
// from, so nothing here reads the process's state.
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type { Span } from "../syntax/ast.js";
import type { Sources } from "../syntax/source.js";
import { VERSION } from "../version.js";
import { catalogue, type Severity, type Slug } from "./catalogue.js";
import type { Diagnostic } from "./diagnostic.js";

export const SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

export type SarifLevel = "error" | "warning" | "note";

// "note" is listed ahead of the catalogue having it, so note diagnostics map
// the day they exist; a severity added without a level here fails to compile
const LEVEL: Record<Severity | "note", SarifLevel> = { error: "error", warning: "warning", note: "note" };

interface Message {
  text: string;
}

interface Region {
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
}

interface PhysicalLocation {
  artifactLocation: { uri: string; uriBaseId?: string };
  region: Region;
}

export interface SarifRule {
  id: string;
  name: string;
  shortDescription: Message;
  fullDescription: Message;
  help: Message;
  defaultConfiguration: { level: SarifLevel };
}

export interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: SarifLevel;
  message: Message;
  locations?: { physicalLocation: PhysicalLocation }[];
  relatedLocations?: { id: number; message: Message; physicalLocation: PhysicalLocation }[];
  properties?: { help: string };
}

export interface SarifLog {
  $schema: string;
  version: "2.1.0";
  runs: [
    {
      tool: { driver: { name: "wgpc"; version: string; semanticVersion: string; rules: SarifRule[] } };
      originalUriBaseIds: Record<string, { uri: string }>;
      columnKind: "unicodeCodePoints";
      results: SarifResult[];
    },
  ];
}

export interface SarifOptions {
  /** absolute directory that `%SRCROOT%` stands for; files under it get relative URIs */
  readonly baseDir: string;
}

const SRCROOT = "%SRCROOT%";

function artifactLocation(file: string, baseDir: string): PhysicalLocation["artifactLocation"] {
  const absolute = path.resolve(baseDir, file);
  const relative = path.relative(baseDir, absolute);
  const outside = relative === "" || relative === ".." || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
  // an import from outside the project (the stdlib of a global install) can
  // only be named absolutely
  if (outside) return { uri: pathToFileURL(absolute).href };
  return { uri: relative.split(path.sep).map(encodeURIComponent).join("/"), uriBaseId: SRCROOT };
}

function physicalLocation(sources: Sources, span: Span, baseDir: string): PhysicalLocation {
  // columns are code points, as the text renderer counts them (columnKind says so)
  const start = sources.position(span.file, span.start);
  const end = sources.position(span.file, span.end);
  return {
    artifactLocation: artifactLocation(sources.get(span.file).path, baseDir),
    region: { startLine: start.line, startColumn: start.column, endLine: end.line, endColumn: end.column },
  };
}

function rule(slug: Slug): SarifRule {
  const entry = catalogue[slug];
  const level = LEVEL[entry.severity];
  return {
    id: entry.code,
    name: slug,
    shortDescription: { text: slug.replace(/-/g, " ") },
    fullDescription: { text: entry.explanation },
    help: { text: `${entry.explanation} See also \`wgpc explain-code ${entry.code}\`.` },
    defaultConfiguration: { level },
  };
}

export function toSarif(sources: Sources, diagnostics: readonly Diagnostic[], options: SarifOptions): SarifLog {
  const slugs = [...new Set(diagnostics.map((d) => d.slug))].sort((a, b) => catalogue[a].code.localeCompare(catalogue[b].code));
  const index = new Map(slugs.map((slug, i) => [slug, i]));
  const results = diagnostics.map((d): SarifResult => {
    const result: SarifResult = {
      ruleId: d.code,
      ruleIndex: index.get(d.slug)!,
      level: LEVEL[d.severity],
      // viewers show the message alone, so the fix travels with it
      message: { text: d.help ? `${d.message}\nhelp: ${d.help}` : d.message },
    };
    if (d.span) result.locations = [{ physicalLocation: physicalLocation(sources, d.span, options.baseDir) }];
    if (d.related.length > 0) {
      result.relatedLocations = d.related.map((r, i) => ({
        id: i + 1,
        message: { text: r.message },
        physicalLocation: physicalLocation(sources, r.span, options.baseDir),
      }));
    }
    if (d.help) result.properties = { help: d.help };
    return result;
  });
  return {
    $schema: SARIF_SCHEMA,
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "wgpc",
            version: VERSION,
            semanticVersion: VERSION,
            rules: slugs.map(rule),
          },
        },
        originalUriBaseIds: { [SRCROOT]: { uri: pathToFileURL(options.baseDir).href.replace(/\/?$/, "/") } },
        columnKind: "unicodeCodePoints",
        results,
      },
    ],
  };
}
