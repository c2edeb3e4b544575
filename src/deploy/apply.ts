// `wgpc apply`: verify a host's bundle, refuse one that would lock out the
// admin's SSH session, save what it replaces, apply it with the bundle's own
// apply.sh, and keep it only when confirmed in time; otherwise put the saved
// state back. The wait runs in a detached watcher, so that a session the new
// rules cut off (and its SIGHUP) cannot stop the rollback.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import { Sources } from "../syntax/source.js";
import type { Span } from "../syntax/ast.js";
import { IR_FILE, IrFileError, readInputIr, type InputIr, type RuleSource } from "../ir/serialize.js";
import { BundleError, verifyBundle, type VerifiedBundle } from "./bundle.js";
import { readState, restoreState, run, tcDevices, type LiveState } from "./live.js";
import { checkLockout, type SshSession } from "./lockout.js";

export type Firewall = "nftables" | "iptables";

export interface ApplyOptions {
  readonly bundleDir: string;
  readonly stateDir: string;
  readonly firewall?: Firewall;
  /** seconds to wait for a confirmation */
  readonly timeout: number;
  /** confirmed up front (a controller that checks reachability itself), or confirms the waiting apply of this bundle */
  readonly yes: boolean;
  /** apply even when the lockout check says the session would be cut */
  readonly force: boolean;
  readonly session?: SshSession;
  /** whether to ask on the terminal */
  readonly interactive: boolean;
  /** verify, check the session and validate the firewall files (apply.sh --dry-run); change nothing */
  readonly dryRun?: boolean;
  readonly log: (line: string) => void;
}

export interface Outcome {
  readonly exit: number;
  readonly diagnostics: readonly Diagnostic[];
  /** the policy lines the diagnostics point at (from ir.json), for rendering */
  readonly sources?: Sources;
}

/** What the watcher and `--confirm` find in the state directory. */
interface Pending {
  readonly id: string;
  /** the `wgpc apply` that applies; the watcher takes over once it waits */
  readonly owner: number;
  readonly bundle: string;
  readonly bundleId: string;
  readonly firewall: Firewall;
  /** when the watcher rolls back; 0 while the bundle is still being applied */
  readonly deadline: number;
  readonly timeout: number;
  readonly devices: readonly string[];
}

interface Result {
  readonly result: "confirmed" | "rolled-back" | "failed";
  readonly detail: string;
  readonly problems: readonly string[];
}

/** The record of the bundle kept after a confirmation: `wgpc diff` compares tc and XDP with it. */
export interface Applied {
  readonly bundleId: string;
  readonly firewall: Firewall;
  readonly tcBatch: string | null;
  readonly xdp: string | null;
  readonly state: Pick<LiveState, "tc" | "xdp">;
}

const paths = (state: string) => ({
  pending: path.join(state, "pending"),
  pendingFile: path.join(state, "pending", "pending.json"),
  snapshot: path.join(state, "pending", "snapshot.json"),
  watcherPid: path.join(state, "pending", "watcher.pid"),
  /** the bundle being applied, as verified */
  staged: path.join(state, "pending", "bundle"),
  confirm: path.join(state, "pending", "confirm"),
  reject: path.join(state, "pending", "reject"),
  outcomes: path.join(state, "outcomes"),
  current: path.join(state, "current"),
  applied: path.join(state, "applied.json"),
  log: path.join(state, "apply.log"),
});

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

export function logger(stateDir: string, echo: (line: string) => void): (line: string) => void {
  return (line) => {
    echo(line);
    try {
      fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      fs.appendFileSync(paths(stateDir).log, `${new Date().toISOString()} [${process.pid}] ${line}\n`);
    } catch {
      // the log is a convenience; applying does not depend on it
    }
  };
}

/** A process that runs (a zombie, dead but not yet reaped, does not). */
function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** A small state file's text; undefined when it is missing, not a regular file, or unreadable. */
function readSmall(file: string): string | undefined {
  try {
    const stat = fs.lstatSync(file);
    return stat.isFile() && stat.size < 64 * 1024 * 1024 ? fs.readFileSync(file, "utf8") : undefined;
  } catch {
    return undefined;
  }
}

function readJson<T>(file: string, valid: (value: unknown) => boolean = (v) => typeof v === "object" && v !== null): T | undefined {
  try {
    const text = readSmall(file);
    const value: unknown = text === undefined ? undefined : JSON.parse(text);
    return value !== undefined && valid(value) ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isPending = (v: unknown): boolean =>
  isRecord(v) &&
  typeof v.id === "string" && typeof v.owner === "number" && typeof v.bundle === "string" && typeof v.bundleId === "string" &&
  (v.firewall === "nftables" || v.firewall === "iptables") && typeof v.deadline === "number" && typeof v.timeout === "number" &&
  Array.isArray(v.devices) && v.devices.every((d) => typeof d === "string");
const isStrings = (v: unknown): boolean => isRecord(v) && Object.values(v).every((x) => typeof x === "string");
const isXdpState = (v: unknown): boolean => isRecord(v) && Object.values(v).every((x) => isRecord(x) && typeof x.attached === "string" && isStrings(x.maps));
/** A snapshot as readState writes it: restoring trusts every field. */
const isLiveState = (v: unknown): boolean =>
  isRecord(v) &&
  (v.nft === null || typeof v.nft === "string") && typeof v.iptables === "string" && typeof v.ip6tables === "string" && typeof v.ipsets === "string" &&
  typeof v.tables === "string" && isStrings(v.tc) && isXdpState(v.xdp) && isStrings(v.sysctl) && Array.isArray(v.ifbs) && v.ifbs.every((x) => typeof x === "string");
const isResult = (v: unknown): boolean => isRecord(v) && typeof v.result === "string" && typeof v.detail === "string" && Array.isArray(v.problems);

function writeJson(file: string, value: unknown): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(temp, file);
}

type Inspected =
  | { readonly kind: "live"; readonly pending: Pending; readonly watcher?: number }
  /** an apply whose process and watcher are gone without an outcome: its snapshot must be put back */
  | { readonly kind: "stale"; readonly pending?: Pending; readonly before?: LiveState };

/** The apply under way in this state directory, if any. */
function inspect(state: string): Inspected | undefined {
  const p = paths(state);
  if (!fs.existsSync(p.pending)) return undefined;
  const pending = readJson<Pending>(p.pendingFile, isPending);
  const pidText = readSmall(p.watcherPid);
  const watcher = pidText === undefined ? undefined : Number(pidText);
  if (pending && watcher !== undefined && alive(watcher)) return { kind: "live", pending, watcher };
  if (pending && watcher === undefined && alive(pending.owner)) return { kind: "live", pending };
  // the lock is taken before pending.json is written: young and without it, it is being set up
  if (!pending && Date.now() - fs.statSync(p.pending).mtimeMs < 10_000) return { kind: "live", pending: { id: "?", owner: 0, bundle: "?", bundleId: "?", firewall: "nftables", deadline: 0, timeout: 0, devices: [] } };
  return { kind: "stale", pending, before: readJson<LiveState>(p.snapshot, isLiveState) };
}

const WATCHER_GONE = "its watcher was gone";
const ANSWERED_NO = "answered no";
const IN_PROGRESS_HELP = "confirm it with `wgpc apply --confirm`, or wait for it to roll back (`wgpc apply --status` says how long)";

/** What to do about a bundle that would cut the session: an early drop is not undone by an allow rule. */
export function lockoutHelp(verdict: { readonly decided: string }): string {
  const fix = verdict.decided.includes("early (XDP") ? "take the admins' source out of the early drop (XDP drops it before any allow rule)" : "allow the admins' source to the SSH port in the policy";
  return `${fix}; or, knowingly, --force (unconfirmed, it is rolled back)`;
}

/** What to do about a failed apply.sh, when its words say. */
function applyHelp(detail: string): string | undefined {
  if (/qdisc kind is unknown/i.test(detail)) return "this kernel lacks a qdisc the bundle uses (fq_codel, or netem for `delay`): load its module, or compile with another `leaf_qdisc` in wgpc.toml";
  if (/Cannot find device/i.test(detail)) return "the interfaces the bundle names must exist first: bring the VPN interface up (wg-quick) before applying";
  return undefined;
}

/** Puts back what a dead apply saved, and clears it. */
function restoreStale(state: string, stale: Extract<Inspected, { kind: "stale" }>, log: (line: string) => void): string[] {
  const p = paths(state);
  let problems: string[] = [];
  if (stale.before) {
    log(`an apply of ${stale.pending?.bundle ?? "a bundle"} was never confirmed and its watcher is gone: putting back what it saved`);
    problems = restoreState({ before: stale.before, previousBundle: previousBundle(state), devices: stale.pending?.devices ?? Object.keys(stale.before.tc), log, env: process.env });
    log(problems.length === 0 ? "rolled back: the live state equals the saved one" : `rolled back, with differences: ${problems.join("; ")}`);
  }
  else log("an apply was never confirmed and its watcher is gone, but what it saved is unreadable: nothing to put back; check the firewall by hand (`wgpc diff`)");
  if (stale.pending) writeOutcome(state, stale.pending.id, { result: "rolled-back", detail: WATCHER_GONE, problems });
  fs.rmSync(p.pending, { recursive: true, force: true });
  return problems;
}

function writeOutcome(state: string, id: string, result: Result): void {
  const dir = paths(state).outcomes;
  // wgpc's own folder: anything else in its place (a file, a link) only held old outcomes
  if (fs.existsSync(dir) && !fs.lstatSync(dir).isDirectory()) fs.rmSync(dir, { force: true });
  fs.mkdirSync(dir, { recursive: true });
  // outcomes are read right after they are written: a day's are plenty
  for (const f of fs.readdirSync(dir)) {
    const entry = path.join(dir, f);
    if (Date.now() - fs.lstatSync(entry).mtimeMs > 86_400_000) fs.rmSync(entry, { recursive: true, force: true });
  }
  writeJson(path.join(dir, `${id}.json`), result);
}

function devicesOf(bundle: VerifiedBundle, previous: string | undefined): string[] {
  const devices = new Set<string>(bundle.has("tc.batch") ? tcDevices(bundle.read("tc.batch")) : []);
  const before = previous && fs.existsSync(path.join(previous, "tc.batch")) ? tcDevices(fs.readFileSync(path.join(previous, "tc.batch"), "utf8")) : [];
  before.forEach((d) => devices.add(d));
  return [...devices].sort();
}

const previousBundle = (state: string) => (fs.existsSync(paths(state).current) ? paths(state).current : undefined);

/** The hash of a bundle's XDP part: its maps and program, which decide what the kernel holds. */
function xdpHash(bundle: VerifiedBundle): string | null {
  const parts = [...bundle.files].filter(([f]) => f.startsWith("xdp/")).sort(([a], [b]) => a.localeCompare(b));
  return parts.length === 0 ? null : sha256(parts.map(([f, h]) => `${h}  ${f}`).join("\n"));
}

/** Keeps the bundle as the one applied: a copy under the state directory and what the kernel holds for tc and XDP. */
function commit(state: string, bundle: VerifiedBundle, firewall: Firewall, devices: readonly string[]): void {
  const p = paths(state);
  const staging = `${p.current}.new`;
  fs.rmSync(staging, { recursive: true, force: true });
  // only what SHA256SUMS vouches for: the kept copy is run as root on a later rollback
  copyBundle(bundle, staging);
  fs.rmSync(`${p.current}.old`, { recursive: true, force: true });
  if (fs.existsSync(p.current)) fs.renameSync(p.current, `${p.current}.old`);
  fs.renameSync(staging, p.current);
  fs.rmSync(`${p.current}.old`, { recursive: true, force: true });
  const live = readState(devices);
  const applied: Applied = {
    bundleId: bundle.id,
    firewall,
    tcBatch: bundle.has("tc.batch") ? bundle.files.get("tc.batch")! : null,
    xdp: xdpHash(bundle),
    state: { tc: live.tc, xdp: live.xdp },
  };
  writeJson(p.applied, applied);
}

export function readApplied(state: string): Applied | undefined {
  return readJson<Applied>(
    paths(state).applied,
    (a) =>
      isRecord(a) && typeof a.bundleId === "string" && (a.firewall === "nftables" || a.firewall === "iptables") &&
      (a.tcBatch === null || typeof a.tcBatch === "string") && (a.xdp === null || typeof a.xdp === "string") &&
      isRecord(a.state) && isStrings(a.state.tc) && isXdpState(a.state.xdp),
  );
}

export { xdpHash };

function restoreDiagnostics(problems: readonly string[]): Diagnostic[] {
  return problems.length === 0 ? [] : [diagnostic("restore-inexact", { detail: problems.join("; ") })];
}

/** Waits for the watcher's outcome of apply `id`; puts the snapshot back itself if the watcher dies. */
function awaitOutcome(state: string, id: string, ask: boolean, deadline: number, log: (l: string) => void): Result {
  const p = paths(state);
  const file = path.join(p.outcomes, `${id}.json`);
  if (ask) {
    log(`keep the new rules? type y and Enter within ${Math.max(0, Math.round((deadline - Date.now()) / 1000))} s (anything else rolls back now)`);
    const answer = terminalAnswer(deadline - Date.now());
    if (answer !== undefined && fs.existsSync(p.pending)) fs.writeFileSync(/^y(es)?$/i.test(answer.trim()) ? p.confirm : p.reject, "");
  }
  for (;;) {
    const result = readJson<Result>(file, isResult);
    if (result) return result;
    const now = inspect(state);
    if (now?.kind === "stale") restoreStale(state, now, log);
    else if (!now) return readJson<Result>(file, isResult) ?? { result: "failed", detail: "the watcher ended without an outcome", problems: [] };
    sleep(100);
  }
}

/** The deciding rule's line as a one-file source table, so the refusal renders like any diagnostic: file:line:col, the line, a caret. */
function sourceSpan(src: RuleSource | undefined): { sources: Sources; span: Span } | undefined {
  if (!src) return undefined;
  const sources = new Sources();
  const prefix = "\n".repeat(src.line - 1);
  // the line comes from the bundle: control characters (a terminal's escapes) are not printed
  const text = src.text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "\ufffd");
  const file = sources.add(src.path, `${prefix}${text}\n`);
  const chars = [...text];
  const start = prefix.length + chars.slice(0, src.column - 1).join("").length;
  const end = start + chars.slice(src.column - 1, src.column - 1 + src.length).join("").length;
  return { sources, span: { file, start, end } };
}

/** One line from the terminal, or undefined when none came in time. */
function terminalAnswer(ms: number): string | undefined {
  if (ms <= 0) return undefined;
  // head reads the terminal itself; spawnSync's timeout ends it when nobody answers
  const r = spawnSync("head", ["-n", "1"], { stdio: ["inherit", "pipe", "inherit"], timeout: ms, encoding: "utf8" });
  return r.status === 0 ? r.stdout : undefined;
}

export function applyBundle(o: ApplyOptions): Outcome {
  const { log } = o;
  let bundle: VerifiedBundle;
  try {
    bundle = verifyBundle(o.bundleDir);
  } catch (e) {
    if (e instanceof BundleError) return { exit: 1, diagnostics: [diagnostic("bundle-not-verified", { dir: o.bundleDir, reason: e.message })] };
    throw e;
  }
  log(`verified ${bundle.dir}: ${bundle.files.size} files match SHA256SUMS`);
  const firewall: Firewall = o.firewall ?? (bundle.has("ruleset.nft") ? "nftables" : "iptables");
  if (!bundle.has(firewall === "nftables" ? "ruleset.nft" : "iptables.rules")) {
    return { exit: 1, diagnostics: [diagnostic("bundle-not-verified", { dir: o.bundleDir, reason: `it has no ${firewall} files` })] };
  }

  const other = inspect(o.stateDir);
  if (other?.kind === "live") {
    if (o.yes && other.pending.bundleId === bundle.id) return confirmPending(o.stateDir, log);
    return { exit: 1, diagnostics: [diagnostic("apply-in-progress", { pid: other.watcher ?? other.pending.owner }, undefined, { help: IN_PROGRESS_HELP })] };
  }

  // the lockout check, before anything changes
  if (o.session) {
    let verdict: ReturnType<typeof checkLockout> | undefined;
    let ir: InputIr | undefined;
    try {
      ir = bundle.has(IR_FILE) ? readInputIr(bundle.read(IR_FILE)) : undefined;
      verdict = ir ? checkLockout(ir, o.session, interfaceHolding(o.session.server)) : { error: `the bundle has no ${IR_FILE}` };
    } catch (e) {
      // whatever is wrong with the file, the check could not be made: said, never a crash
      verdict = { error: `${IR_FILE}: ${e instanceof IrFileError ? e.message : `unreadable (${(e as Error).message})`}` };
    }
    const s = o.session;
    if ("error" in verdict) {
      if (!o.force) return { exit: 1, diagnostics: [diagnostic("no-ssh-check", { reason: verdict.error }, undefined, { help: "apply with --force, and confirm only once a new session works" })] };
      log(`--force: applying without the lockout check (${verdict.error})`);
    } else if (verdict.cut) {
      const where = verdict.label && ir && Object.hasOwn(ir.sources, verdict.label) ? sourceSpan(ir.sources[verdict.label]) : undefined;
      const d = diagnostic("would-lock-out", { client: s.client, server: s.server, port: s.port, decided: verdict.decided }, where?.span, {
        help: lockoutHelp(verdict),
      });
      if (!o.force) return { exit: 1, diagnostics: [d], sources: where?.sources };
      log(`--force: ${d.message}`);
    } else log(`lockout check: a new SSH connection from ${s.client} to ${s.server}:${s.port} ${verdict.decided}`);
  } else log("no SSH session here (SSH_CONNECTION): no lockout check");

  if (o.dryRun) {
    const dry = run("sh", [path.join(bundle.dir, "apply.sh"), "--dry-run", "--firewall", firewall]);
    for (const line of `${dry.stdout}${dry.stderr}`.split("\n").filter(Boolean)) log(`apply.sh: ${line}`);
    if (dry.status !== 0) return { exit: 1, diagnostics: [diagnostic("apply-failed", { step: "apply.sh --dry-run", detail: (dry.stderr || dry.stdout).trim().split("\n").slice(-2).join("; ") || `exit ${dry.status}` })] };
    log("dry run: nothing was changed");
    return { exit: 0, diagnostics: [] };
  }

  const p = paths(o.stateDir);
  if (other?.kind === "stale") {
    const problems = restoreStale(o.stateDir, other, log);
    if (problems.length > 0) return { exit: 1, diagnostics: restoreDiagnostics(problems) };
  }
  try {
    fs.mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
    fs.accessSync(o.stateDir, fs.constants.W_OK);
    fs.mkdirSync(p.pending);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST" && fs.existsSync(p.pending)) return { exit: 1, diagnostics: [diagnostic("apply-in-progress", { pid: 0 }, undefined, { help: IN_PROGRESS_HELP })] };
    return { exit: 2, diagnostics: [diagnostic("cannot-write-output", { path: o.stateDir, reason: `the state directory cannot be used (${code ?? (e as Error).message})` })] };
  }
  // From here until the watcher holds the deadline, a signal (a dropped
  // session's SIGHUP, Ctrl-C) must not end this process half-way and leave
  // new rules with nothing to roll them back: it is held off (this code runs
  // without turning the event loop, so the listener only keeps the default
  // action away), the steps go on, and the watcher then rolls back unless
  // someone confirms.
  const holdOff = () => {};
  const signals = ["SIGHUP", "SIGINT", "SIGTERM"] as const;
  for (const s of signals) process.on(s, holdOff);
  const release = () => signals.forEach((s) => process.off(s, holdOff));
  try {
    return applyLocked(o, bundle, firewall, release);
  } finally {
    release();
  }
}

/** Copies what SHA256SUMS vouches for (and it) into `to`: the copy is what runs, and what is kept. */
function copyBundle(bundle: VerifiedBundle, to: string): void {
  for (const file of [...bundle.files.keys(), "SHA256SUMS"]) {
    fs.mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    fs.copyFileSync(path.join(bundle.dir, file), path.join(to, file));
    fs.chmodSync(path.join(to, file), fs.statSync(path.join(bundle.dir, file)).mode & 0o755);
  }
}

/** applyBundle once the state directory is ours: stage, snapshot, apply, hand over to the watcher. */
function applyLocked(o: ApplyOptions, verified: VerifiedBundle, firewall: Firewall, releaseSignals: () => void): Outcome {
  const { log } = o;
  const p = paths(o.stateDir);
  // the bundle as verified, copied into the state directory: a recompile or a changed file
  // while this apply waits cannot change what runs or what is kept
  let bundle: VerifiedBundle;
  try {
    copyBundle(verified, p.staged);
    bundle = verifyBundle(p.staged);
    if (bundle.id !== verified.id) throw new BundleError("it changed while it was copied");
  } catch (e) {
    fs.rmSync(p.pending, { recursive: true, force: true });
    if (e instanceof BundleError) return { exit: 1, diagnostics: [diagnostic("bundle-not-verified", { dir: o.bundleDir, reason: e.message })] };
    return { exit: 2, diagnostics: [diagnostic("cannot-write-output", { path: o.stateDir, reason: `the bundle could not be copied there (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` })] };
  }
  const id = `${Date.now()}-${process.pid}`;
  const previous = previousBundle(o.stateDir);
  const devices = devicesOf(bundle, previous);
  // written first, so that a crash from here on leaves a stale apply whose snapshot the next one puts back
  let pending: Pending = { id, owner: process.pid, bundle: verified.dir, bundleId: bundle.id, firewall, deadline: 0, timeout: o.timeout, devices };
  writeJson(p.pendingFile, pending);
  const before = readState(devices);
  writeJson(p.snapshot, before);
  const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;
  log(
    `saved the live state: nft table inet wgpc ${before.nft === null ? "absent" : "present"}; iptables ${count(before.iptables, /^-A /gm)} and ip6tables ${count(before.ip6tables, /^-A /gm)} rules; ` +
      `${count(before.ipsets, /^create /gm)} wgpc ipsets; tc on ${Object.keys(before.tc).join(", ") || "no devices"}; XDP on ${Object.keys(before.xdp).join(", ") || "no interfaces"}; the forwarding sysctls`,
  );

  const rollback = (why: string): string[] => {
    log(`rolling back: ${why}`);
    const problems = restoreState({ before, previousBundle: previous, devices, log, env: process.env });
    log(problems.length === 0 ? "rolled back: the live state equals the saved one" : `rolled back, with differences: ${problems.join("; ")}`);
    return problems;
  };

  // (run: in a session of its own, so a signal to this terminal's processes does not cut it short)
  const applied = run("sh", [path.join(bundle.dir, "apply.sh"), "--firewall", firewall]);
  for (const line of `${applied.stdout}${applied.stderr}`.split("\n").filter(Boolean)) log(`apply.sh: ${line}`);
  if (applied.status !== 0) {
    const problems = rollback("apply.sh failed");
    fs.rmSync(p.pending, { recursive: true, force: true });
    const detail = (applied.stderr || applied.stdout).trim().split("\n").slice(-2).join("; ") || `exit ${applied.status}`;
    return { exit: 1, diagnostics: [diagnostic("apply-failed", { step: "apply.sh", detail }, undefined, { help: applyHelp(`${applied.stderr}${applied.stdout}`) }), ...restoreDiagnostics(problems)] };
  }

  if (o.yes) {
    try {
      commit(o.stateDir, bundle, firewall, devices);
    } catch (e) {
      const problems = rollback(`keeping the bundle failed: ${(e as Error).message}`);
      fs.rmSync(p.pending, { recursive: true, force: true });
      return { exit: 1, diagnostics: [diagnostic("apply-failed", { step: "keeping the bundle", detail: (e as Error).message }), ...restoreDiagnostics(problems)] };
    }
    fs.rmSync(p.pending, { recursive: true, force: true });
    log(`applied and kept (--yes): ${verified.dir}`);
    return { exit: 0, diagnostics: [] };
  }

  pending = { ...pending, deadline: Date.now() + o.timeout * 1000 };
  writeJson(p.pendingFile, pending);
  // the watcher is started through a shell that exits at once: it belongs to init, not to this
  // process, so it outlives it (a cut SSH session, a SIGHUP) and is never left a zombie
  const main = fileURLToPath(new URL("../cli/main.js", import.meta.url));
  spawnSync("sh", ["-c", 'setsid "$@" </dev/null >/dev/null 2>&1 &', "sh", process.execPath, main, "apply", "--watch", "--state-dir", o.stateDir], { env: process.env });
  let watcher: number | undefined;
  for (let i = 0; i < 100 && watcher === undefined; i++) {
    const pidText = readSmall(p.watcherPid);
    if (pidText !== undefined) watcher = Number(pidText);
    else sleep(50);
  }
  if (watcher === undefined) {
    const problems = rollback("the watcher did not start");
    fs.rmSync(p.pending, { recursive: true, force: true });
    return { exit: 1, diagnostics: [diagnostic("apply-failed", { step: "starting the watcher", detail: "no watcher within 5 s" }), ...restoreDiagnostics(problems)] };
  }
  // the watcher has the deadline now: this process may end (a cut session) without harm
  releaseSignals();
  log(`applied; waiting ${o.timeout} s for \`wgpc apply --confirm\`${o.interactive ? " or a y here" : ""}, else the saved state comes back (watcher pid ${watcher})`);
  const result = awaitOutcome(o.stateDir, id, o.interactive, pending.deadline, log);
  if (result.result === "confirmed") {
    log(`confirmed: ${verified.dir} stays applied`);
    return { exit: 0, diagnostics: [] };
  }
  if (result.result === "rolled-back" && result.detail !== WATCHER_GONE) log(result.problems.length === 0 ? "rolled back: the live state equals the saved one" : "rolled back, with differences (below)");
  return {
    exit: 1,
    diagnostics: [
      result.result === "rolled-back" && result.detail !== WATCHER_GONE ? diagnostic("not-confirmed", { why: result.detail === ANSWERED_NO ? "(answered no)" : `within ${o.timeout} s` })
      : diagnostic("apply-failed", { step: "waiting for the confirmation", detail: result.detail === WATCHER_GONE ? "the watcher died; the saved state was put back" : result.detail }),
      ...restoreDiagnostics(result.problems),
    ],
  };
}

/** The watcher: confirm, reject or the deadline, whichever comes first. */
export function watch(stateDir: string, log: (line: string) => void): number {
  const p = paths(stateDir);
  const pending = readJson<Pending>(p.pendingFile, isPending);
  const before = readJson<LiveState>(p.snapshot, isLiveState);
  if (!pending || !before) return 1;
  fs.writeFileSync(p.watcherPid, String(process.pid));
  const finish = (result: Result) => {
    writeOutcome(stateDir, pending.id, result);
    fs.rmSync(p.pending, { recursive: true, force: true });
  };
  for (;;) {
    if (fs.existsSync(p.confirm)) {
      try {
        const kept = verifyBundle(p.staged);
        if (kept.id !== pending.bundleId) throw new BundleError("the copy under the state directory changed");
        commit(stateDir, kept, pending.firewall, pending.devices);
        log(`confirmed: ${pending.bundle} is kept`);
        finish({ result: "confirmed", detail: "", problems: [] });
      } catch (e) {
        log(`confirmed, but keeping the bundle failed: ${(e as Error).message}; rolling back`);
        const problems = restoreState({ before, previousBundle: previousBundle(stateDir), devices: pending.devices, log, env: process.env });
        finish({ result: "failed", detail: `keeping the bundle failed: ${(e as Error).message}`, problems });
      }
      return 0;
    }
    const rejected = fs.existsSync(p.reject);
    if (rejected || Date.now() >= pending.deadline) {
      log(rejected ? "not kept (answered no): rolling back" : `not confirmed within ${pending.timeout} s: rolling back`);
      const problems = restoreState({ before, previousBundle: previousBundle(stateDir), devices: pending.devices, log, env: process.env });
      log(problems.length === 0 ? "rolled back: the live state equals the saved one" : `rolled back, with differences: ${problems.join("; ")}`);
      finish({ result: "rolled-back", detail: rejected ? ANSWERED_NO : "timeout", problems });
      return 0;
    }
    sleep(100);
  }
}

/** `wgpc apply --confirm`: tells the watcher, and waits for it to keep the bundle. */
export function confirmPending(stateDir: string, log: (line: string) => void): Outcome {
  const now = inspect(stateDir);
  if (now?.kind !== "live" || now.pending.id === "?" || now.pending.deadline === 0) return { exit: 1, diagnostics: [diagnostic("nothing-pending", { stateDir })] };
  const pending = now.pending;
  const p = paths(stateDir);
  fs.writeFileSync(p.confirm, "");
  const file = path.join(p.outcomes, `${pending.id}.json`);
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const result = readJson<Result>(file, isResult);
    if (result?.result === "confirmed") {
      log(`confirmed: ${pending.bundle} stays applied`);
      return { exit: 0, diagnostics: [] };
    }
    if (result) return { exit: 1, diagnostics: [diagnostic("apply-failed", { step: "confirmation", detail: result.detail || result.result }), ...restoreDiagnostics(result.problems)] };
    sleep(100);
  }
  return { exit: 1, diagnostics: [diagnostic("apply-failed", { step: "confirmation", detail: "the watcher did not answer within 30 s" })] };
}

/** What `wgpc apply --status` prints. */
export function status(stateDir: string): string {
  const now = inspect(stateDir);
  const applied = readApplied(stateDir);
  const lines = [
    !now ? "nothing waiting for confirmation"
    : now.kind === "stale" ? "an apply was never confirmed and its watcher is gone: the next `wgpc apply` puts back what it saved"
    : now.pending.deadline === 0 || now.watcher === undefined ? "applying: not yet waiting for confirmation"
    : `waiting for confirmation: ${now.pending.bundle} (${Math.max(0, Math.round((now.pending.deadline - Date.now()) / 1000))} s left)`,
  ];
  lines.push(applied ? `applied and kept: bundle ${applied.bundleId.slice(0, 12)} (${applied.firewall})` : "no bundle kept by wgpc apply yet");
  return lines.join("\n");
}

/** The interface that holds an address of this machine (where a connection to it arrives). */
export function interfaceHolding(address: string): string | undefined {
  const r = run("ip", ["-j", "address", "show"]);
  if (r.status !== 0) return undefined;
  const links = JSON.parse(r.stdout) as { ifname: string; addr_info?: { local?: string }[] }[];
  return links.find((l) => (l.addr_info ?? []).some((a) => a.local === address))?.ifname;
}
