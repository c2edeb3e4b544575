#!/usr/bin/env node
// The command line. It only wires the pipeline (src/compile.ts) to files,
// the configuration and the terminal; every decision lives in the stages.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { compile } from "../compile.js";
import { diskReader, STDLIB_DIR } from "./disk-reader.js";
import { Sources } from "../syntax/source.js";
import { backendNames, backends, findBackend } from "../backends/registry.js";
import type { Backend } from "../backends/types.js";
import { diagnostic, hasErrors, type Diagnostic } from "../diagnostics/diagnostic.js";
import { catalogue } from "../diagnostics/catalogue.js";
import { renderText, toJson } from "../diagnostics/render.js";
import { buildManifest, OutputDirError, writeBundles, writeFileAtomic } from "../bundle/write.js";
import { formatPolicyText } from "../format/format.js";
import { loadConfig, type Config } from "./config.js";
import { VERSION } from "../version.js";

export const EXIT = { ok: 0, policy: 1, usage: 2, internal: 3 } as const;


const HELP: Record<string, string> = {
  main: `wgpc ${VERSION}: the WireGuard policy compiler

usage: wgpc <command> [options]

commands:
  compile FILE...   compile a policy into per-host bundles
  check FILE...     check a policy; write nothing
  test FILE...      evaluate the policy's expect statements; print "N passed, N failed"
  explain-code CODE what a diagnostic code means
  fmt FILE...       format policy files in place (--check, --stdin)

options:
  -h, --help        show help (also: wgpc <command> --help)
  --version         print the version

exit codes: 0 ok, 1 the policy has errors, 2 usage or I/O error, 3 internal error`,
  compile: `usage: wgpc compile FILE... [-o DIR] [--host NAME]... [--target LIST] [--format text|json]

Compiles the policy made of FILE... (one policy may span several files) into
DIR/<host>/ for every machine, plus DIR/manifest.json. Nothing is written when
the policy has an error; a previous output in DIR stays as it was.

  -o, --output DIR    output directory (default: wgpc.toml's output, else ./out)
  --host NAME         only this machine (repeatable)
  --target LIST       comma-separated backends (default: all): ${backendNames().join(", ")}
  --format FMT        diagnostics as text (default) or json

A wgpc.toml next to the first FILE may set: output = "DIR", targets = [..],
leaf_qdisc = "fq_codel" (the qdisc under each shaping class).`,
  test: `usage: wgpc test FILE...

Evaluates every \`expect\` statement with the reference semantics and prints
each failure (naming the rule that decided) and a summary line. Exit 0 when
all hold, 1 when one fails or the policy has errors.`,
  fmt: `usage: wgpc fmt FILE... [--check]
       wgpc fmt --stdin

Formats policy files in the one house layout (docs/formatting.md). Each file
is rewritten in place, atomically, only when its text changes; meaning never
changes. A file with a syntax error is reported and left as it is.

  --check   write nothing; list the files that are not formatted (exit 1 if any)
  --stdin   format standard input to standard output (for editors)`,
  check: `usage: wgpc check FILE... [--format text|json]

Runs every stage of compile (parse, check, lower, expectations, backends)
and writes nothing.`,
};

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

function report(io: Io, sources: Sources, diagnostics: readonly Diagnostic[], format: string): void {
  if (format === "json") {
    io.err(`${JSON.stringify(diagnostics.map((d) => toJson(sources, d)), null, 2)}\n`);
    return;
  }
  for (const d of diagnostics) io.err(`${renderText(sources, d)}\n`);
  const count = (severity: string, word: string) => {
    const n = diagnostics.filter((d) => d.severity === severity).length;
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  };
  const notes = diagnostics.some((d) => d.severity === "note") ? `, ${count("note", "note")}` : "";
  if (diagnostics.length > 0) io.err(`${count("error", "error")}, ${count("warning", "warning")}${notes}\n`);
}

function usageError(io: Io, detail: string, format: string): number {
  report(io, new Sources(), [diagnostic("usage", { detail }, undefined, { help: "see `wgpc --help`" })], format);
  return EXIT.usage;
}

function selectTargets(names: readonly string[]): { targets: Backend[]; unknown: string[] } {
  const unknown = names.filter((n) => !findBackend(n));
  return { targets: names.map((n) => findBackend(n)).filter((b): b is Backend => b !== undefined), unknown };
}

function runCompile(args: string[], io: Io, write: boolean): number {
  const command = write ? "compile" : "check";
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      output: { type: "string", short: "o" },
      host: { type: "string", multiple: true },
      target: { type: "string" },
      format: { type: "string", default: "text" },
      help: { type: "boolean", short: "h" },
    },
  });
  const format = values.format ?? "text";
  if (values.help) {
    io.out(`${HELP[command]}\n`);
    return EXIT.ok;
  }
  if (format !== "text" && format !== "json") return usageError(io, `unknown format \`${format}\` (text or json)`, "text");
  if (positionals.length === 0) return usageError(io, `\`wgpc ${command}\` needs at least one policy file`, format);
  if (!write && (values.output || values.host || values.target)) {
    return usageError(io, "`wgpc check` writes nothing and takes no -o, --host or --target", format);
  }

  const config: Config | { diagnostics: Diagnostic[]; sources: Sources } = loadConfig(path.dirname(positionals[0]!));
  if ("diagnostics" in config) {
    report(io, config.sources, config.diagnostics, format);
    return EXIT.usage;
  }
  const targetNames = values.target !== undefined ? values.target.split(",").map((t) => t.trim()).filter((t) => t !== "") : config.targets ?? backendNames();
  const { targets, unknown } = selectTargets([...new Set(targetNames)]);
  if (unknown.length > 0) {
    report(io, new Sources(), unknown.map((name) => diagnostic("unknown-target", { name, known: backendNames().join(", ") })), format);
    return EXIT.usage;
  }
  if (targets.length === 0) return usageError(io, `no target selected (known: ${backendNames().join(", ")})`, format);
  if (values.output === "") return usageError(io, "the output directory (-o) is empty", format);

  const result = compile(positionals, diskReader, STDLIB_DIR, { targets: write ? targets : [...backends], hosts: values.host, leafQdisc: config.leafQdisc });
  report(io, result.sources, result.diagnostics, format);
  if (hasErrors(result.diagnostics) || !result.bundles) {
    const io2 = result.diagnostics.some((d) => d.slug === "cannot-read-file" || d.slug === "unknown-host-selected");
    return io2 ? EXIT.usage : EXIT.policy;
  }
  const expectations = result.policy?.expects.length ?? 0;
  const held = expectations === 0 ? "" : expectations === 1 ? ", 1 expectation holds" : `, ${expectations} expectations hold`;
  if (!write) {
    io.out(`ok: ${result.bundles.length} machine${result.bundles.length === 1 ? "" : "s"} checked${held}\n`);
    return EXIT.ok;
  }
  const outputDir = values.output ?? config.output ?? "out";
  // inputs are named from the output directory, so the manifest does not
  // depend on where wgpc ran; the stdlib by its own name
  const inputs = result.sources.all().map((s) => {
    const absolute = path.resolve(s.path);
    const inStdlib = absolute.startsWith(`${STDLIB_DIR}${path.sep}`);
    const name = inStdlib ? `<stdlib>/${path.relative(STDLIB_DIR, absolute)}` : path.relative(path.resolve(outputDir), absolute);
    return { path: name, text: s.text };
  });
  try {
    writeBundles(outputDir, result.bundles, buildManifest(inputs, result.bundles));
  } catch (e) {
    const reason = e instanceof OutputDirError ? e.message : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    report(io, result.sources, [diagnostic("cannot-write-output", { path: outputDir, reason })], format);
    return EXIT.usage;
  }
  for (const b of result.bundles) {
    io.out(`wrote ${path.join(outputDir, b.host)}/: ${b.artifacts.map((a) => a.path).join(", ")}\n`);
  }
  io.out(`wrote ${path.join(outputDir, "manifest.json")} (${result.bundles.length} hosts, targets: ${targets.map((t) => t.name).join(", ")}${held})\n`);
  return EXIT.ok;
}

/** `wgpc test`: the policy's `expect` statements alone, with a summary line. */
function runTest(args: string[], io: Io): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: { help: { type: "boolean", short: "h" } } });
  if (values.help) {
    io.out(`${HELP.test}\n`);
    return EXIT.ok;
  }
  if (positionals.length === 0) return usageError(io, "`wgpc test` needs at least one policy file", "text");
  const result = compile(positionals, diskReader, STDLIB_DIR, { targets: [] });
  const failed = result.diagnostics.filter((d) => d.slug === "expectation-failed");
  const other = result.diagnostics.filter((d) => d.slug !== "expectation-failed" && d.severity === "error");
  report(io, result.sources, result.diagnostics, "text");
  if (other.length > 0 || !result.policy) return other.some((d) => d.slug === "cannot-read-file") ? EXIT.usage : EXIT.policy;
  const total = result.policy.expects.length;
  io.out(`${total - failed.length} passed, ${failed.length} failed\n`);
  return failed.length > 0 ? EXIT.policy : EXIT.ok;
}

/** `wgpc fmt`: the formatter over files, or stdin to stdout. */
function runFmt(args: string[], io: Io): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { check: { type: "boolean" }, stdin: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    io.out(`${HELP.fmt}\n`);
    return EXIT.ok;
  }
  if (values.stdin) {
    if (positionals.length > 0 || values.check) return usageError(io, "`wgpc fmt --stdin` takes no files and no --check", "text");
    const result = formatPolicyText(fs.readFileSync(0, "utf8"));
    if (!result.ok) {
      const sources = new Sources();
      sources.add("<stdin>", result.text);
      report(io, sources, result.diagnostics, "text");
      return EXIT.policy;
    }
    io.out(result.text);
    return EXIT.ok;
  }
  if (positionals.length === 0) return usageError(io, "`wgpc fmt` needs at least one policy file (or --stdin)", "text");
  let code: number = EXIT.ok;
  for (const file of positionals) {
    const sources = new Sources();
    const read = diskReader.read(file);
    if ("error" in read) {
      report(io, sources, [diagnostic("cannot-read-file", { path: file, reason: read.error })], "text");
      code = EXIT.usage;
      continue;
    }
    if (read.invalidAt !== undefined) {
      report(io, sources, [diagnostic("not-text", {}, { file: sources.add(file, read.text), start: read.invalidAt, end: read.invalidAt + 1 })], "text");
      if (code === EXIT.ok) code = EXIT.policy;
      continue;
    }
    const result = formatPolicyText(read.text);
    if (!result.ok) {
      sources.add(file, result.text);
      report(io, sources, result.diagnostics, "text");
      if (code === EXIT.ok) code = EXIT.policy;
      continue;
    }
    if (result.text === read.text) continue;
    if (values.check) {
      io.out(`${file}\n`);
      if (code === EXIT.ok) code = EXIT.policy;
      continue;
    }
    try {
      writeFileAtomic(file, result.text);
    } catch (e) {
      report(io, sources, [diagnostic("cannot-write-output", { path: file, reason: (e as NodeJS.ErrnoException).code ?? (e as Error).message })], "text");
      code = EXIT.usage;
    }
  }
  return code;
}

/** `wgpc explain-code CODE`: what a diagnostic means. */
function explainCode(args: string[], io: Io): number {
  const code = args[0]?.toUpperCase();
  const entry = Object.entries(catalogue).find(([, e]) => e.code === code);
  if (!entry) return usageError(io, `no diagnostic has the code \`${args[0] ?? ""}\` (see docs/diagnostics.md)`, "text");
  const [slug, e] = entry;
  io.out(`${e.code} ${slug} (${e.severity})\n\n${e.explanation}\n`);
  return EXIT.ok;
}

export function main(argv: string[], io: Io): number {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case "-h":
      case "--help":
      case "help":
        io.out(`${HELP.main}\n`);
        return command === undefined ? EXIT.usage : EXIT.ok;
      case "--version":
        io.out(`wgpc ${VERSION}\n`);
        return EXIT.ok;
      case "compile":
        return runCompile(rest, io, true);
      case "check":
        return runCompile(rest, io, false);
      case "test":
        return runTest(rest, io);
      case "explain-code":
        return explainCode(rest, io);
      case "fmt":
        return runFmt(rest, io);
      default:
        return usageError(io, `unknown command \`${command}\``, "text");
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code?.startsWith("ERR_PARSE_ARGS")) {
      // node's own wording, reduced to the house style
      const option = (e as Error).message.match(/'([^']+)'/)?.[1];
      const detail =
        code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option ? `unknown option \`${option}\``
        : code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option ? `option \`${option.split(" ")[0]}\` needs a value`
        : (e as Error).message.split(". ")[0]!.toLowerCase();
      return usageError(io, detail, "text");
    }
    const detail = e instanceof Error ? e.message : String(e);
    report(io, new Sources(), [diagnostic("internal-error", { detail }, undefined, { help: "please report this with the policy that caused it" })], "text");
    return EXIT.internal;
  }
}

const invokedDirectly = process.argv[1] !== undefined && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  process.exitCode = main(process.argv.slice(2), {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
}
