// `wgpc apply`: verify a host's bundle, refuse one that would lock out the
// admin's SSH session, save what it replaces, apply it with the bundle's own
// apply.sh, and keep it only when confirmed in time; otherwise put the saved
// state back. The wait runs in a detached watcher, so that a session the new
// rules cut off (and its SIGHUP) cannot stop the rollback.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import { IR_FILE, IrFileError, readInputIr } from "../ir/serialize.js";
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
  readonly log: (line: string) => void;
}

export interface Outcome {
  readonly exit: number;
  readonly diagnostics: readonly Diagnostic[];
}

/** What the watcher and `--confirm` find in the state directory. */
interface Pending {
  readonly id: string;
  readonly bundle: string;
  readonly bundleId: string;
  readonly firewall: Firewall;
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

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

function writeJson(file: string, value: unknown): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(temp, file);
}

/** The waiting apply, if one is alive; a stale one (its watcher gone) is cleared. */
function waiting(state: string): (Pending & { watcher?: number }) | undefined {
  const p = paths(state);
  if (!fs.existsSync(p.pending)) return undefined;
  const pending = readJson<Pending>(p.pendingFile);
  const watcher = Number(fs.existsSync(p.watcherPid) ? fs.readFileSync(p.watcherPid, "utf8") : NaN);
  if (pending && Number.isInteger(watcher) && alive(watcher)) return { ...pending, watcher };
  // being set up right now by another apply (no watcher yet): not stale while young
  if (Date.now() - fs.statSync(p.pending).mtimeMs < 30_000 && !pending) return { id: "?", bundle: "?", bundleId: "?", firewall: "nftables", deadline: 0, timeout: 0, devices: [] };
  if (pending && !Number.isInteger(watcher) && Date.now() < pending.deadline) return pending;
  fs.rmSync(p.pending, { recursive: true, force: true });
  return undefined;
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
  fs.cpSync(bundle.dir, staging, { recursive: true });
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
  return readJson<Applied>(paths(state).applied);
}

export { xdpHash };

function restoreDiagnostics(problems: readonly string[]): Diagnostic[] {
  return problems.length === 0 ? [] : [diagnostic("restore-inexact", { detail: problems.join("; ") })];
}

/** Waits for the watcher's outcome of apply `id`. */
function awaitOutcome(state: string, id: string, ask: boolean, deadline: number, log: (l: string) => void): Result {
  const p = paths(state);
  const file = path.join(p.outcomes, `${id}.json`);
  if (ask) {
    log(`keep the new rules? type y and Enter within ${Math.max(0, Math.round((deadline - Date.now()) / 1000))} s (anything else rolls back now)`);
    const answer = terminalAnswer(deadline - Date.now());
    if (answer !== undefined) fs.writeFileSync(/^y(es)?$/i.test(answer.trim()) ? p.confirm : p.reject, "");
  }
  for (;;) {
    const result = readJson<Result>(file);
    if (result) return result;
    if (!fs.existsSync(p.pending) && !fs.existsSync(file)) return { result: "failed", detail: "the watcher ended without an outcome", problems: [] };
    sleep(100);
  }
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

  const other = waiting(o.stateDir);
  if (other) {
    if (o.yes && other.bundleId === bundle.id) return confirmPending(o.stateDir, log);
    return { exit: 1, diagnostics: [diagnostic("apply-in-progress", { pid: (other as { watcher?: number }).watcher ?? 0 })] };
  }

  // the lockout check, before anything changes
  if (o.session) {
    let verdict: ReturnType<typeof checkLockout> | undefined;
    try {
      verdict = bundle.has(IR_FILE) ? checkLockout(readInputIr(bundle.read(IR_FILE)), o.session, interfaceHolding(o.session.server)) : { error: `the bundle has no ${IR_FILE}` };
    } catch (e) {
      if (!(e instanceof IrFileError)) throw e;
      verdict = { error: `${IR_FILE}: ${e.message}` };
    }
    const s = o.session;
    if ("error" in verdict) {
      if (!o.force) return { exit: 1, diagnostics: [diagnostic("no-ssh-check", { reason: verdict.error }, undefined, { help: "apply with --force, and confirm only once a new session works" })] };
      log(`--force: applying without the lockout check (${verdict.error})`);
    } else if (verdict.cut) {
      const d = diagnostic("would-lock-out", { client: s.client, server: s.server, port: s.port, decided: verdict.decided }, undefined, {
        help: "allow the admins' source to the SSH port in the policy; or, knowingly, --force (unconfirmed, it is rolled back)",
      });
      if (!o.force) return { exit: 1, diagnostics: [d] };
      log(`--force: ${d.message}`);
    } else log(`lockout check: a new SSH connection from ${s.client} to ${s.server}:${s.port} ${verdict.decided}`);
  }

  const p = paths(o.stateDir);
  fs.mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
  try {
    fs.mkdirSync(p.pending);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return { exit: 1, diagnostics: [diagnostic("apply-in-progress", { pid: 0 })] };
    throw e;
  }
  const previous = previousBundle(o.stateDir);
  const devices = devicesOf(bundle, previous);
  const before = readState(devices);
  writeJson(p.snapshot, before);
  log(`saved the live state: ${before.nft === null ? "no" : "the"} nft table inet wgpc, iptables ${before.iptables === "" ? "empty" : "rules"}, ${Object.keys(before.tc).length} tc devices, ${Object.keys(before.xdp).length} XDP interfaces`);

  const rollback = (why: string): string[] => {
    log(`rolling back: ${why}`);
    const problems = restoreState({ before, previousBundle: previous, devices, log, env: process.env });
    log(problems.length === 0 ? "rolled back: the live state equals the saved one" : `rolled back, with differences: ${problems.join("; ")}`);
    return problems;
  };

  const applied = run("sh", [path.join(bundle.dir, "apply.sh"), "--firewall", firewall]);
  for (const line of `${applied.stdout}${applied.stderr}`.split("\n").filter(Boolean)) log(`apply.sh: ${line}`);
  if (applied.status !== 0) {
    const problems = rollback("apply.sh failed");
    fs.rmSync(p.pending, { recursive: true, force: true });
    const detail = (applied.stderr || applied.stdout).trim().split("\n").slice(-2).join("; ") || `exit ${applied.status}`;
    return { exit: 1, diagnostics: [diagnostic("apply-failed", { step: "apply.sh", detail }), ...restoreDiagnostics(problems)] };
  }

  if (o.yes) {
    commit(o.stateDir, bundle, firewall, devices);
    fs.rmSync(p.pending, { recursive: true, force: true });
    log(`applied and kept (--yes): ${bundle.dir}`);
    return { exit: 0, diagnostics: [] };
  }

  const id = `${Date.now()}-${process.pid}`;
  const pending: Pending = { id, bundle: bundle.dir, bundleId: bundle.id, firewall, deadline: Date.now() + o.timeout * 1000, timeout: o.timeout, devices };
  writeJson(p.pendingFile, pending);
  fs.mkdirSync(p.outcomes, { recursive: true });
  const watcher = spawn(process.execPath, [fileURLToPath(new URL("../cli/main.js", import.meta.url)), "apply", "--watch", "--state-dir", o.stateDir], {
    detached: true,
    stdio: "ignore",
    env: process.env,
  });
  watcher.unref();
  fs.writeFileSync(p.watcherPid, String(watcher.pid));
  log(`applied; waiting ${o.timeout} s for \`wgpc apply --confirm\`${o.interactive ? " or a y here" : ""}, else the saved state comes back (watcher pid ${watcher.pid})`);
  const result = awaitOutcome(o.stateDir, id, o.interactive, pending.deadline, log);
  if (result.result === "confirmed") {
    log(`confirmed: ${bundle.dir} stays applied`);
    return { exit: 0, diagnostics: [] };
  }
  if (result.result === "rolled-back") log(result.problems.length === 0 ? "rolled back: the live state equals the saved one" : "rolled back, with differences (below)");
  return {
    exit: 1,
    diagnostics: [
      result.result === "rolled-back" ? diagnostic("not-confirmed", { seconds: o.timeout }) : diagnostic("apply-failed", { step: "confirmation", detail: result.detail }),
      ...restoreDiagnostics(result.problems),
    ],
  };
}

/** The watcher: confirm, reject or the deadline, whichever comes first. */
export function watch(stateDir: string, log: (line: string) => void): number {
  const p = paths(stateDir);
  const pending = readJson<Pending>(p.pendingFile);
  const before = readJson<LiveState>(p.snapshot);
  if (!pending || !before) return 1;
  const finish = (result: Result) => {
    writeJson(path.join(p.outcomes, `${pending.id}.json`), result);
    fs.rmSync(p.pending, { recursive: true, force: true });
  };
  for (;;) {
    if (fs.existsSync(p.confirm)) {
      try {
        commit(stateDir, verifyBundle(pending.bundle), pending.firewall, pending.devices);
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
      finish({ result: "rolled-back", detail: rejected ? "answered no" : "timeout", problems });
      return 0;
    }
    sleep(100);
  }
}

/** `wgpc apply --confirm`: tells the watcher, and waits for it to keep the bundle. */
export function confirmPending(stateDir: string, log: (line: string) => void): Outcome {
  const pending = waiting(stateDir);
  if (!pending || pending.id === "?") return { exit: 1, diagnostics: [diagnostic("nothing-pending", { stateDir })] };
  const p = paths(stateDir);
  fs.writeFileSync(p.confirm, "");
  const file = path.join(p.outcomes, `${pending.id}.json`);
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const result = readJson<Result>(file);
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
  const pending = waiting(stateDir);
  const applied = readApplied(stateDir);
  const lines = [
    !pending ? "nothing waiting for confirmation"
    : pending.id === "?" || !fs.existsSync(paths(stateDir).watcherPid) ? "applying: not yet waiting for confirmation"
    : `waiting for confirmation: ${pending.bundle} (${Math.max(0, Math.round((pending.deadline - Date.now()) / 1000))} s left)`,
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
