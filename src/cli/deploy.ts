// The machine-side commands: `wgpc apply` and `wgpc diff`. They only wire
// src/deploy/ to arguments, the terminal and the process tree.
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { Sources } from "../syntax/source.js";
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import { applyBundle, confirmPending, logger, status, watch, type Firewall } from "../deploy/apply.js";
import { BundleError } from "../deploy/bundle.js";
import { diffBundle } from "../deploy/diff.js";
import { parseSshConnection, type SshSession } from "../deploy/lockout.js";

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}
type Report = (io: Io, sources: Sources, diagnostics: readonly Diagnostic[], output: { format: "text"; quiet: boolean; strict: boolean }) => void;

const TEXT = { format: "text", quiet: false, strict: false } as const;
const DEFAULT_STATE = "/var/lib/wgpc";

export const DEPLOY_HELP: Record<string, string> = {
  apply: `usage: wgpc apply DIR/HOST [--timeout S] [--firewall nftables|iptables] [--dry-run] [--force] [--yes] [--ssh-connection S] [--state-dir D]
       wgpc apply --confirm | --status [--state-dir D]

Run on the machine, as root, with one host's directory of a \`wgpc compile\`
output. Verifies every file against SHA256SUMS (and manifest.json beside it);
from an SSH session, refuses a bundle under which that session's source could
not open a new connection to the SSH port (the reference semantics decide,
from the bundle's ir.json); saves the firewall, ipsets, tc and XDP state it
replaces; applies the bundle with its apply.sh; then waits for
\`wgpc apply --confirm\` from a new session (or a y on its terminal). Without
one in time, it puts the saved state back, checks it reads back the same,
and exits 1. A failure half-way restores too. Steps go to stderr and to
STATE/apply.log.

  --timeout S      seconds to wait for the confirmation (default 60)
  --firewall F     nftables (default when the bundle has it) or iptables
  --dry-run        verify, run the lockout check and validate the firewall files
                   (apply.sh --dry-run); change nothing
  --force          apply although the lockout check says the session would be cut
  --yes            keep without waiting (for a controller that checks reachability
                   itself), or confirm the waiting apply of this same bundle
  --confirm        confirm the apply that is waiting
  --status         say whether an apply is waiting (exit 0 either way)
  --state-dir D    where snapshots and the kept bundle live (default ${DEFAULT_STATE})
  --ssh-connection "CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT"
                   the session to keep reachable, for a controller whose sudo or
                   background job hides SSH_CONNECTION (default: found from the
                   environment of this process or its ancestors; "" for none)

exit codes: 0 applied and kept (or confirmed); 1 refused, not confirmed
(rolled back) or failed (restored); 2 usage; 3 internal error`,
  diff: `usage: wgpc diff DIR/HOST [--firewall nftables|iptables] [--state-dir D]

Run on the machine: compares the live kernel state with the bundle, datapath
by datapath. The firewall (nft table inet wgpc, or the iptables filter and
nat tables and the wgpc ipsets) is compared with the bundle's files as the
tools print them back; tc and XDP with what the kernel held when
\`wgpc apply\` kept this bundle.

exit codes: 0 no drift; 1 drift (each difference printed); 2 usage or an
unreadable bundle`,
};

/**
 * The SSH session this command runs in: SSH_CONNECTION here, or in the
 * environment of an ancestor (sudo drops it). An SSH_CONNECTION here that
 * cannot be read is said (the lockout check would be skipped silently).
 */
export function findSshSession(env: NodeJS.ProcessEnv = process.env): SshSession | undefined | "unreadable" {
  const own = parseSshConnection(env.SSH_CONNECTION);
  if (own) return own;
  if ((env.SSH_CONNECTION ?? "").trim() !== "") return "unreadable";
  let pid = process.ppid;
  for (let hops = 0; pid > 1 && hops < 64; hops++) {
    try {
      const environ = fs.readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
      const value = environ.find((e) => e.startsWith("SSH_CONNECTION="))?.slice("SSH_CONNECTION=".length);
      const found = parseSshConnection(value);
      if (found) return found;
      // the sudo case: the session is an ancestor's, and it cannot be read either
      if ((value ?? "").trim() !== "") return "unreadable";
      // the fourth field of stat after the command's parenthesis is the parent's pid
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

const isFirewall = (f: string | undefined): f is Firewall | undefined => f === undefined || f === "nftables" || f === "iptables";

function usage(io: Io, report: Report, detail: string): number {
  report(io, new Sources(), [diagnostic("usage", { detail }, undefined, { help: "see `wgpc apply --help` and `wgpc diff --help`" })], TEXT);
  return 2;
}

export function runApply(args: string[], io: Io, report: Report): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      timeout: { type: "string" },
      firewall: { type: "string" },
      force: { type: "boolean", default: false },
      yes: { type: "boolean", default: false },
      confirm: { type: "boolean", default: false },
      status: { type: "boolean", default: false },
      watch: { type: "boolean", default: false },
      "dry-run": { type: "boolean", default: false },
      "state-dir": { type: "string" },
      "ssh-connection": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.out(`${DEPLOY_HELP.apply}\n`);
    return 0;
  }
  const stateDir = values["state-dir"] ?? DEFAULT_STATE;
  const log = logger(stateDir, (line) => io.err(`wgpc apply: ${line}\n`));
  if (values.watch) return watch(stateDir, logger(stateDir, () => {}));
  if (values.status) {
    io.out(`${status(stateDir)}\n`);
    return 0;
  }
  if (process.getuid?.() !== 0) return usage(io, report, "`wgpc apply` changes the kernel's firewall: run it as root");
  const finish = (o: { exit: number; diagnostics: readonly Diagnostic[]; sources?: Sources }) => {
    report(io, o.sources ?? new Sources(), o.diagnostics, TEXT);
    return o.exit;
  };
  if (values.confirm) {
    if (positionals.length > 0) return usage(io, report, "`wgpc apply --confirm` takes no bundle");
    return finish(confirmPending(stateDir, log));
  }
  if (positionals.length !== 1) return usage(io, report, "`wgpc apply` takes one host's bundle directory, e.g. out/lab/client-b");
  if (!isFirewall(values.firewall)) return usage(io, report, `unknown firewall \`${values.firewall}\` (nftables, iptables)`);
  // given by a controller whose sudo and async wrapper hide the session (the playbook does)
  const given = values["ssh-connection"];
  const session = given !== undefined ? parseSshConnection(given) : findSshSession();
  if (given !== undefined && given.trim() !== "" && !session) return usage(io, report, "--ssh-connection takes what SSH_CONNECTION holds: CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT");
  if (session === "unreadable") {
    return usage(io, report, "SSH_CONNECTION is set but is not CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT, so the lockout check cannot know the session: name it with --ssh-connection (or --ssh-connection '' when no SSH session needs keeping)");
  }
  const timeout = values.timeout === undefined ? 60 : /^\d{1,4}$/.test(values.timeout) ? Number(values.timeout) : NaN;
  if (!(timeout >= 1 && timeout <= 3600)) return usage(io, report, "--timeout takes whole seconds from 1 to 3600");
  const options = {
    bundleDir: positionals[0]!,
    stateDir,
    firewall: values.firewall,
    timeout,
    yes: values.yes ?? false,
    force: values.force ?? false,
    session,
    interactive: process.stdin.isTTY === true && !values.yes,
    dryRun: values["dry-run"] ?? false,
    log,
  };
  try {
    return finish(applyBundle(options));
  } catch (e) {
    // the state directory failing under it (a full disk, a file where wgpc keeps a folder): said,
    // never a trace; an apply that had begun is put back by the next one (`wgpc apply --status` says so)
    const code = (e as NodeJS.ErrnoException).code;
    if (!code) throw e;
    return finish({ exit: 2, diagnostics: [diagnostic("cannot-write-output", { path: stateDir, reason: `the state directory failed (${code}: ${(e as Error).message})` })] });
  }
}

export function runDiff(args: string[], io: Io, report: Report): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { firewall: { type: "string" }, "state-dir": { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    io.out(`${DEPLOY_HELP.diff}\n`);
    return 0;
  }
  if (positionals.length !== 1) return usage(io, report, "`wgpc diff` takes one host's bundle directory, e.g. out/lab/client-b");
  // without root the tools print nothing back, which would read as drift
  if (process.getuid?.() !== 0) return usage(io, report, "`wgpc diff` reads the kernel's firewall, tc and XDP: run it as root");
  if (!isFirewall(values.firewall)) return usage(io, report, `unknown firewall \`${values.firewall}\` (nftables, iptables)`);
  try {
    const drift = diffBundle(positionals[0]!, values["state-dir"] ?? DEFAULT_STATE, values.firewall);
    if (drift.length === 0) {
      io.out(`no drift: the live state matches ${positionals[0]}\n`);
      return 0;
    }
    for (const d of drift) io.out(`drift in ${d.datapath}:\n    ${d.detail}\n`);
    io.out(`drift in ${drift.length} place${drift.length === 1 ? "" : "s"} against ${positionals[0]}\n`);
    return 1;
  } catch (e) {
    if (!(e instanceof BundleError)) throw e;
    report(io, new Sources(), [diagnostic("bundle-not-verified", { dir: positionals[0]!, reason: e.message })], TEXT);
    return 2;
  }
}
