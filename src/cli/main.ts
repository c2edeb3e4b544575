#!/usr/bin/env node
// The command line. It only wires the pipeline (src/compile.ts) to files,
// the configuration and the terminal; every decision lives in the stages.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { compile } from "../compile.js";
import { explain, renderExplanation } from "../explain.js";
import { diskReader, readStdin, STDLIB_DIR } from "./disk-reader.js";
import { Sources } from "../syntax/source.js";
import { backendNames, backends, findBackend } from "../backends/registry.js";
import type { Backend } from "../backends/types.js";
import { diagnostic, hasErrors, type Diagnostic } from "../diagnostics/diagnostic.js";
import { catalogue } from "../diagnostics/catalogue.js";
import { renderText, toJson } from "../diagnostics/render.js";
import { toSarif } from "../diagnostics/sarif.js";
import { buildManifest, OutputDirError, writeBundles, writeFileAtomic } from "../bundle/write.js";
import { formatPolicyText } from "../format/format.js";
import { loadConfig, type Config } from "./config.js";
import { VERSION } from "../version.js";
import { ansibleBundle } from "../deploy/ansible.js";
import { runApply, runDiff, DEPLOY_HELP } from "./deploy.js";

export const EXIT = { ok: 0, policy: 1, usage: 2, internal: 3 } as const;


const EXIT_CODES = `exit codes:
  0  ok (warnings allowed, unless --strict)
  1  the policy has errors, an expectation fails, or (with --strict) there are warnings
  2  usage or I/O error (bad arguments, unreadable file, invalid wgpc.toml, unwritable output)
  3  internal error (a bug in wgpc; please report it)`;

const OUTPUT_OPTIONS = `  --strict            warnings fail the command (exit 1)
  -q, --quiet         print only errors (and warnings under --strict): nothing
                      on success`;

const HELP: Record<string, string> = {
  ...DEPLOY_HELP,
  main: `wgpc ${VERSION}: the WireGuard policy compiler

usage: wgpc <command> [options]

commands:
  compile FILE...   compile a policy into per-host bundles
  check FILE...     check a policy; write nothing
  test FILE...      evaluate the policy's expect statements; print "N passed, N failed"
  explain FILE... 'SRC -> DST[:SVC]'
                    what the policy does with that traffic, machine by machine
  explain-code CODE what a diagnostic code means (also: wgpc explain --code CODE)
  fmt FILE...       format policy files in place (--check, --stdin)
  apply DIR/HOST    on the machine, as root: apply its bundle, roll back unless confirmed
  diff DIR/HOST     on the machine: the live kernel state against its bundle (exit 1: drift)

options:
  -h, --help        show help (also: wgpc <command> --help)
  --version         print the version

compile, check and test take --strict (warnings fail) and --quiet (only
errors); compile and check take --format text|json|sarif.

${EXIT_CODES}`,
  compile: `usage: wgpc compile FILE... [-o DIR] [--host NAME]... [--target LIST] [--format text|json|sarif] [--strict] [--quiet]

Compiles the policy made of FILE... (one policy may span several files) into
DIR/<host>/ for every machine, plus DIR/manifest.json. Nothing is written when
the policy has an error (or, with --strict, a warning); a previous output in
DIR stays as it was.

  -o, --output DIR    output directory (default: wgpc.toml's output, else ./out)
  --host NAME         only this machine (repeatable)
  --target LIST       comma-separated backends (default: all): ${backendNames().join(", ")}
  --emit ansible      also write DIR/ansible/: an inventory and a playbook
                      that roll the bundles out (see README, "Deploy to a fleet")
  --format FMT        diagnostics as text (default) or json on stderr, or as
                      a SARIF 2.1.0 log on stdout (the "wrote" lines then go
                      to stderr), e.g. --format sarif > wgpc.sarif; the log
                      is written even when empty, and under --quiet
${OUTPUT_OPTIONS}

A wgpc.toml next to the first FILE may set: output = "DIR", targets = [..],
leaf_qdisc = "fq_codel" (the qdisc under each shaping class).

${EXIT_CODES}`,
  test: `usage: wgpc test FILE... [--strict] [--quiet]

Evaluates every \`expect\` statement with the reference semantics and prints
each failure (naming the rule that decided) and a summary line.

${OUTPUT_OPTIONS}

${EXIT_CODES}`,
  explain: `usage: wgpc explain FILE... 'SRC -> DST[:SERVICE] [family 4|6] [state S] [on IFACE]' [--format text|json]
       wgpc explain --code CODE

Traces the traffic through the compiled policy with the reference semantics:
for every path (straight to the destination, or through the VPN hub) and
representative packet, each enforcement point's verdict, the rule that
decided (with its source line) and the policy rules passed over. The
question uses the policy's names, like an \`expect\` statement without the
verdict; state is new unless given. Exit 0 when explained, 1 when the
policy or the question has an error, 2 on a usage error.`,
  fmt: `usage: wgpc fmt FILE... [--check]
       wgpc fmt --stdin

Formats policy files in the one house layout (docs/formatting.md). Each file
is rewritten in place, atomically, only when its text changes; meaning never
changes. A file with a syntax error is reported and left as it is.

  --check   write nothing; list the files that are not formatted (exit 1 if any)
  --stdin   format standard input to standard output (for editors)`,
  check: `usage: wgpc check FILE... [--format text|json|sarif] [--strict] [--quiet]

Runs every stage of compile (parse, check, lower, expectations, backends)
and writes nothing; prints "ok: …" when the policy has no error.

  --format FMT        diagnostics as text (default) or json on stderr, or as
                      a SARIF 2.1.0 log on stdout (the "ok" line then goes to
                      stderr), e.g. --format sarif > wgpc.sarif; the log is
                      written even when empty, and under --quiet
${OUTPUT_OPTIONS}

${EXIT_CODES}`,
};

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const FORMATS = ["text", "json", "sarif"] as const;
type Format = (typeof FORMATS)[number];

/** How diagnostics and progress lines reach the user. */
interface Output {
  readonly format: Format;
  /** only errors, and nothing at all on success */
  readonly quiet: boolean;
  /** warnings fail the command (exit 1) */
  readonly strict: boolean;
}

const TEXT: Output = { format: "text", quiet: false, strict: false };

const isFormat = (f: string): f is Format => (FORMATS as readonly string[]).includes(f);

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

const warningsFail = (diagnostics: readonly Diagnostic[], output: Output): boolean =>
  output.strict && diagnostics.some((d) => d.severity === "warning");

function report(io: Io, sources: Sources, diagnostics: readonly Diagnostic[], output: Output): void {
  // --strict turns warnings into failures, so --quiet must not hide them then
  const shown = output.quiet ? diagnostics.filter((d) => d.severity === "error" || (output.strict && d.severity === "warning")) : diagnostics;
  if (output.format === "sarif") {
    // the log is the product, written even when empty, on stdout for redirection
    io.out(`${JSON.stringify(toSarif(sources, shown, { baseDir: process.cwd() }), null, 2)}\n`);
    return;
  }
  if (output.format === "json") {
    if (!(output.quiet && shown.length === 0)) io.err(`${JSON.stringify(shown.map((d) => toJson(sources, d)), null, 2)}\n`);
    return;
  }
  for (const d of shown) io.err(`${renderText(sources, d)}\n`);
  if (output.quiet || shown.length === 0) return;
  const errors = shown.filter((d) => d.severity === "error").length;
  const warnings = shown.filter((d) => d.severity === "warning").length;
  const notes = shown.filter((d) => d.severity === "note").length;
  const strict = warningsFail(shown, output) ? " (--strict: warnings fail)" : "";
  io.err(`${count(errors, "error")}, ${count(warnings, "warning")}${notes > 0 ? `, ${count(notes, "note")}` : ""}${strict}\n`);
}

/** A progress or summary line: silent under --quiet, off stdout when stdout carries SARIF. */
function say(io: Io, output: Output, line: string): void {
  if (output.quiet) return;
  (output.format === "sarif" ? io.err : io.out)(`${line}\n`);
}

function usageError(io: Io, detail: string, output: Output): number {
  report(io, new Sources(), [diagnostic("usage", { detail }, undefined, { help: "see `wgpc --help`" })], output);
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
      emit: { type: "string", multiple: true },
      format: { type: "string", default: "text" },
      strict: { type: "boolean", default: false },
      quiet: { type: "boolean", short: "q", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.out(`${HELP[command]}\n`);
    return EXIT.ok;
  }
  const format = values.format ?? "text";
  if (!isFormat(format)) return usageError(io, `unknown format \`${format}\` (${FORMATS.join(", ")})`, TEXT);
  const output: Output = { format, quiet: values.quiet ?? false, strict: values.strict ?? false };
  if (positionals.length === 0) return usageError(io, `\`wgpc ${command}\` needs at least one policy file`, output);
  if (!write && (values.output || values.host || values.target || values.emit)) {
    return usageError(io, "`wgpc check` writes nothing and takes no -o, --host, --target or --emit", output);
  }
  const extra = new Set((values.emit ?? []).flatMap((e) => e.split(",")).map((e) => e.trim()));
  for (const e of extra) if (e !== "ansible") return usageError(io, `unknown --emit \`${e}\` (known: ansible)`, output);

  const config: Config | { diagnostics: Diagnostic[]; sources: Sources } = loadConfig(path.dirname(positionals[0]!));
  if ("diagnostics" in config) {
    report(io, config.sources, config.diagnostics, output);
    return EXIT.usage;
  }
  const targetNames = values.target !== undefined ? values.target.split(",").map((t) => t.trim()).filter((t) => t !== "") : config.targets ?? backendNames();
  const { targets, unknown } = selectTargets([...new Set(targetNames)]);
  if (unknown.length > 0) {
    report(io, new Sources(), unknown.map((name) => diagnostic("unknown-target", { name, known: backendNames().join(", ") })), output);
    return EXIT.usage;
  }
  if (targets.length === 0) return usageError(io, `no target selected (known: ${backendNames().join(", ")})`, output);
  if (values.output === "") return usageError(io, "the output directory (-o) is empty", output);

  const result = compile(positionals, diskReader, STDLIB_DIR, { targets: write ? targets : [...backends], hosts: values.host, leafQdisc: config.leafQdisc });
  if (hasErrors(result.diagnostics) || !result.bundles) {
    report(io, result.sources, result.diagnostics, output);
    const io2 = result.diagnostics.some((d) => d.slug === "cannot-read-file" || d.slug === "unknown-host-selected");
    return io2 ? EXIT.usage : EXIT.policy;
  }
  // under --strict a warning fails like an error: nothing is written
  if (warningsFail(result.diagnostics, output)) {
    report(io, result.sources, result.diagnostics, output);
    return EXIT.policy;
  }
  const expectations = result.policy?.expects.length ?? 0;
  const held = expectations === 0 ? "" : expectations === 1 ? ", 1 expectation holds" : `, ${expectations} expectations hold`;
  if (!write) {
    report(io, result.sources, result.diagnostics, output);
    say(io, output, `ok: ${count(result.bundles.length, "machine")} checked${held}`);
    return EXIT.ok;
  }
  const outputDir = values.output ?? config.output ?? "out";
  const written = [...result.bundles];
  if (extra.has("ansible")) {
    written.push(ansibleBundle(result.policy!, result.bundles));
  }
  // inputs are named from the output directory, so the manifest does not
  // depend on where wgpc ran; the stdlib by its own name
  const inputs = result.sources.all().map((s) => {
    const absolute = path.resolve(s.path);
    const inStdlib = absolute.startsWith(`${STDLIB_DIR}${path.sep}`);
    const name = inStdlib ? `<stdlib>/${path.relative(STDLIB_DIR, absolute)}` : path.relative(path.resolve(outputDir), absolute);
    return { path: name, text: s.text };
  });
  try {
    writeBundles(outputDir, written, buildManifest(inputs, written));
  } catch (e) {
    const reason = e instanceof OutputDirError ? e.message : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    // one report, so --format json and sarif stay one document
    report(io, result.sources, [...result.diagnostics, diagnostic("cannot-write-output", { path: outputDir, reason })], output);
    return EXIT.usage;
  }
  report(io, result.sources, result.diagnostics, output);
  for (const b of written) {
    say(io, output, `wrote ${path.join(outputDir, b.host)}/: ${b.artifacts.map((a) => a.path).join(", ")}`);
  }
  say(io, output, `wrote ${path.join(outputDir, "manifest.json")} (${count(result.bundles.length, "host")}, targets: ${targets.map((t) => t.name).join(", ")}${held})`);
  return EXIT.ok;
}

/** `wgpc test`: the policy's `expect` statements alone, with a summary line. */
function runTest(args: string[], io: Io): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      strict: { type: "boolean", default: false },
      quiet: { type: "boolean", short: "q", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.out(`${HELP.test}\n`);
    return EXIT.ok;
  }
  const output: Output = { format: "text", quiet: values.quiet ?? false, strict: values.strict ?? false };
  if (positionals.length === 0) return usageError(io, "`wgpc test` needs at least one policy file", output);
  const result = compile(positionals, diskReader, STDLIB_DIR, { targets: [] });
  const failed = result.diagnostics.filter((d) => d.slug === "expectation-failed");
  const other = result.diagnostics.filter((d) => d.slug !== "expectation-failed" && d.severity === "error");
  report(io, result.sources, result.diagnostics, output);
  if (other.length > 0 || !result.policy) return other.some((d) => d.slug === "cannot-read-file") ? EXIT.usage : EXIT.policy;
  const total = result.policy.expects.length;
  say(io, output, `${total - failed.length} passed, ${failed.length} failed`);
  return failed.length > 0 || warningsFail(result.diagnostics, output) ? EXIT.policy : EXIT.ok;
}

/** `wgpc explain FILE... QUESTION`: the path of some traffic through the policy. */
function runExplain(args: string[], io: Io): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { format: { type: "string", default: "text" }, code: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    io.out(`${HELP.explain}\n`);
    return EXIT.ok;
  }
  if (values.code !== undefined) return explainCode([values.code], io);
  const format = values.format ?? "text";
  if (format !== "text" && format !== "json") return usageError(io, `unknown format \`${format}\` (text or json)`, TEXT);
  const output: Output = { format, quiet: false, strict: false };
  if (positionals.length < 2) return usageError(io, "`wgpc explain` needs policy files and a question such as 'a -> b:ssh'", output);
  const files = positionals.slice(0, -1);
  const result = explain(files, diskReader, STDLIB_DIR, positionals[positionals.length - 1]!, format === "json" ? Infinity : undefined);
  if (!result.explanation) {
    report(io, result.sources, result.diagnostics, output);
    return result.diagnostics.some((d) => d.slug === "cannot-read-file") ? EXIT.usage : EXIT.policy;
  }
  io.out(format === "json" ? `${JSON.stringify(result.explanation, null, 2)}\n` : renderExplanation(result.explanation));
  return EXIT.ok;
}

/** Input that is not UTF-8, positioned at the first byte that is not. */
const notText = (sources: Sources, name: string, text: string, at: number) =>
  diagnostic("not-text", {}, { file: sources.add(name, text), start: at, end: at + 1 });

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
    if (positionals.length > 0 || values.check) return usageError(io, "`wgpc fmt --stdin` takes no files and no --check", TEXT);
    const input = readStdin();
    if ("error" in input) {
      report(io, new Sources(), [diagnostic("cannot-read-file", { path: "<stdin>", reason: input.error })], TEXT);
      return EXIT.usage;
    }
    if (input.invalidAt !== undefined) {
      const sources = new Sources();
      report(io, sources, [notText(sources, "<stdin>", input.text, input.invalidAt)], TEXT);
      return EXIT.policy;
    }
    const result = formatPolicyText(input.text);
    if (!result.ok) {
      const sources = new Sources();
      sources.add("<stdin>", result.text);
      report(io, sources, result.diagnostics, TEXT);
      return EXIT.policy;
    }
    io.out(result.text);
    return EXIT.ok;
  }
  if (positionals.length === 0) return usageError(io, "`wgpc fmt` needs at least one policy file (or --stdin)", TEXT);
  let code: number = EXIT.ok;
  for (const file of positionals) {
    const sources = new Sources();
    const read = diskReader.read(file);
    if ("error" in read) {
      report(io, sources, [diagnostic("cannot-read-file", { path: file, reason: read.error })], TEXT);
      code = EXIT.usage;
      continue;
    }
    if (read.invalidAt !== undefined) {
      report(io, sources, [notText(sources, file, read.text, read.invalidAt)], TEXT);
      if (code === EXIT.ok) code = EXIT.policy;
      continue;
    }
    const result = formatPolicyText(read.text);
    if (!result.ok) {
      sources.add(file, result.text);
      report(io, sources, result.diagnostics, TEXT);
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
      report(io, sources, [diagnostic("cannot-write-output", { path: file, reason: (e as NodeJS.ErrnoException).code ?? (e as Error).message })], TEXT);
      code = EXIT.usage;
    }
  }
  return code;
}

/** `wgpc explain-code CODE`: what a diagnostic means. */
function explainCode(args: string[], io: Io): number {
  const code = args[0]?.toUpperCase();
  const entry = Object.entries(catalogue).find(([, e]) => e.code === code);
  if (!entry) return usageError(io, `no diagnostic has the code \`${args[0] ?? ""}\` (see docs/diagnostics.md)`, TEXT);
  const [slug, e] = entry;
  io.out(`${e.code} ${slug} (${e.severity})\n\n${e.explanation}\n`);
  return EXIT.ok;
}

/** The format asked for, read from the raw arguments when parsing them failed: a CI job that asked for SARIF still gets a log. */
function sniffOutput(command: string | undefined, args: readonly string[]): Output {
  if (command !== "compile" && command !== "check") return TEXT;
  const at = args.indexOf("--format");
  const format = at >= 0 ? args[at + 1] : args.find((a) => a.startsWith("--format="))?.slice("--format=".length);
  return { ...TEXT, format: format !== undefined && isFormat(format) ? format : "text" };
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
      case "explain":
        return runExplain(rest, io);
      case "explain-code":
        return explainCode(rest, io);
      case "fmt":
        return runFmt(rest, io);
      case "apply":
        return runApply(rest, io, report);
      case "diff":
        return runDiff(rest, io, report);
      default:
        return usageError(io, `unknown command \`${command}\``, TEXT);
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
      return usageError(io, detail, sniffOutput(command, rest));
    }
    const detail = e instanceof Error ? e.message : String(e);
    report(io, new Sources(), [diagnostic("internal-error", { detail }, undefined, { help: "please report this with the policy that caused it" })], sniffOutput(command, rest));
    return EXIT.internal;
  }
}

const invokedDirectly = process.argv[1] !== undefined && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  // a reader that stops early (`wgpc diff … | head -1`) is no error: the exit code stands;
  // output that cannot be written at all (a full disk) is said in one line, never a trace
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
      if (stream === process.stdout) process.stderr.write(`wgpc: cannot write the output (${e.code ?? e.message})\n`);
      process.exit(EXIT.usage);
    });
  }
  process.exitCode = main(process.argv.slice(2), {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
}
