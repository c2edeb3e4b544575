// Deploying to a fleet, for real: the namespace lab with an sshd in every
// machine and an admin namespace (the admins' workstation of the seed,
// 198.51.100.10) as the Ansible controller, all on the lab's bridge. The
// playbook that `wgpc compile --emit ansible` writes rolls the bundles out
// over SSH, the seed's scenarios hold afterwards, `wgpc diff` sees no drift
// and then a hand-made change; a bundle that cuts the admin's SSH is refused
// by the lockout check, and, forced without a confirmation, rolled back
// byte for byte, after which SSH connects again. Traffic stays inside the
// lab; everything is removed afterwards.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect } from "vitest";
import { ROOT } from "../support/compile.js";
import { rootIt, type Netns } from "../support/netns.js";
import { checkScenarios, HOSTS, Lab, labPolicy, MEMBERS, type Host } from "../support/lab.js";
import { runAsync } from "../support/run-async.js";

const ADMIN = "198.51.100.10";
const WGPC = `${process.execPath} ${path.join(ROOT, "dist/src/cli/main.js")}`;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-fleet-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** An sshd in the member's namespace (and the host's mount namespace, so that pins stay visible), root by key only. */
function startSshd(ns: Netns, dir: string, publicKey: string): ChildProcess {
  fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "host_key")]);
  fs.writeFileSync(path.join(dir, "authorized_keys"), publicKey, { mode: 0o600 });
  const config = [
    "Port 22",
    "ListenAddress 0.0.0.0",
    "ListenAddress ::",
    `HostKey ${dir}/host_key`,
    `PidFile ${dir}/sshd.pid`,
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "StrictModes no",
    "PrintMotd no",
    "Subsystem sftp /usr/lib/openssh/sftp-server",
  ];
  fs.writeFileSync(path.join(dir, "sshd_config"), `${config.join("\n")}\n`);
  return spawn("nsenter", [`--net=/run/netns/${ns.name}`, "/usr/sbin/sshd", "-D", "-e", "-f", path.join(dir, "sshd_config")], { stdio: "ignore" });
}

describe("deploying to a fleet with Ansible", () => {
  rootIt("rolls the seed out over SSH, sees drift, refuses a lockout and rolls a forced one back", async () => {
    for (const tool of ["ansible-playbook", "/usr/sbin/sshd", "ssh"]) expect(spawnSync("sh", ["-c", `command -v ${tool}`]).status, `${tool} is installed`).toBe(0);
    fs.mkdirSync("/run/wireguard", { recursive: true });
    fs.mkdirSync("/etc/wireguard", { recursive: true });
    const { policy, keys } = labPolicy(work);
    const out = path.join(work, "out");
    const compiled = spawnSync(process.execPath, [path.join(ROOT, "dist/src/cli/main.js"), "compile", policy, "-o", out, "--emit", "ansible"], { encoding: "utf8" });
    expect(compiled.status, compiled.stderr).toBe(0);
    const inventory = path.join(out, "ansible/inventory.yml");
    const playbook = path.join(out, "ansible/playbook.yml");

    // the generated files, as Ansible reads them
    const listed = JSON.parse(spawnSync("ansible-inventory", ["-i", inventory, "--list"], { encoding: "utf8" }).stdout) as { _meta: { hostvars: Record<string, { ansible_host: string }> }; wgpc_hub: { hosts: string[] } };
    for (const host of MEMBERS) expect(listed._meta.hostvars[host]!.ansible_host).toBe(HOSTS[host].v4);
    expect(listed.wgpc_hub.hosts).toEqual(["vpn-core"]);
    const syntax = spawnSync("ansible-playbook", ["-i", inventory, playbook, "--syntax-check"], { encoding: "utf8" });
    expect(syntax.status, syntax.stdout + syntax.stderr).toBe(0);

    const pins = `/sys/fs/bpf/wgpc-fleet-${process.pid}`;
    const lab = new Lab();
    const daemons: ChildProcess[] = [];
    try {
      for (const host of MEMBERS) lab.wgUp(host, path.join(out, host, "wg0.conf"), keys[host]!.private);
      lab.handshake();
      // the admins' workstation: 198.51.100.10 on the lab's wire, the machines' routes back to it
      const admin = lab.plug("admin", [`address add ${ADMIN}/32 dev eth0`, "route add 10.0.123.0/24 dev eth0"]);
      spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(work, "admin_key")]);
      const publicKey = fs.readFileSync(path.join(work, "admin_key.pub"), "utf8");
      for (const host of MEMBERS) {
        lab.ns[host].run("ip", ["route", "add", `${ADMIN}/32`, "dev", "eth0"]);
        daemons.push(startSshd(lab.ns[host], path.join(work, "ssh", host), publicKey));
      }
      const sshArgs = ["-i", path.join(work, "admin_key"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3", "-o", "BatchMode=yes"];
      // each machine's pins in a directory of its own, as the playbook's wgpc_environment says
      const ssh = (host: Host, command: string) => runAsync("ip", ["netns", "exec", admin.name, "ssh", ...sshArgs, `root@${HOSTS[host].v4}`, `WGPC_BPFFS=${pins}/${host} ${command}`]);
      // sshd is up everywhere before anything is rolled out
      for (const host of MEMBERS) {
        let up = false;
        for (let i = 0; i < 50 && !up; i++) up = (await ssh(host, "true")).status === 0 || (await new Promise((r) => setTimeout(r, 100)), false);
        expect(up, `ssh to ${host}`).toBe(true);
      }

      const vars = {
        ansible_user: "root",
        ansible_become: false,
        ansible_python_interpreter: "/usr/bin/python3",
        ansible_ssh_private_key_file: path.join(work, "admin_key"),
        ansible_ssh_common_args: "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        wgpc_command: WGPC,
        wgpc_install_packages: false,
        wgpc_manage_wireguard: false,
        wgpc_timeout: 30,
        wgpc_serial: 2,
      };
      const hostVars = Object.fromEntries(MEMBERS.map((h) => [h, { wgpc_root: stateOf(h), wgpc_environment: { WGPC_BPFFS: `${pins}/${h}` } }]));
      // per-machine variables beside the generated inventory, as an admin would keep them
      fs.mkdirSync(path.join(out, "ansible/host_vars"), { recursive: true });
      for (const [h, v] of Object.entries(hostVars)) fs.writeFileSync(path.join(out, "ansible/host_vars", `${h}.yml`), `${JSON.stringify(v)}\n`);
      fs.writeFileSync(path.join(work, "vars.json"), JSON.stringify(vars));
      // everything Ansible keeps between runs in this run's directory: its SSH control sockets
      // (~/.ansible/cp by default, keyed by address and user) would otherwise carry a concurrent
      // run's commands into this run's namespaces, and the async job files stay out of ~root
      const ansibleEnv = {
        ...process.env,
        ANSIBLE_HOME: path.join(work, "ansible-home"),
        ANSIBLE_LOCAL_TEMP: path.join(work, "ansible-tmp"),
        ANSIBLE_SSH_CONTROL_PATH_DIR: path.join(work, "ansible-cp"),
        ANSIBLE_ASYNC_DIR: path.join(work, "ansible-async"),
        ANSIBLE_REMOTE_TEMP: path.join(work, "ansible-remote-tmp"),
        ANSIBLE_HOST_KEY_CHECKING: "False",
        ANSIBLE_NOCOLOR: "1",
        ANSIBLE_FORCE_COLOR: "0",
      };
      const playbookRun = (...extra: string[]) => runAsync("ip", ["netns", "exec", admin.name, "ansible-playbook", "-i", inventory, playbook, "-e", `@${path.join(work, "vars.json")}`, ...extra], { env: ansibleEnv });

      // the rollout
      const started = Date.now();
      const rollout = await playbookRun();
      console.log(`ansible rollout of ${MEMBERS.length} machines: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      expect(rollout.status, rollout.stdout.slice(-3000) + rollout.stderr).toBe(0);
      for (const host of MEMBERS) expect(rollout.stdout).toMatch(new RegExp(`${host}\\s+: ok=\\d+\\s+changed=\\d+\\s+unreachable=0\\s+failed=0`));
      // in batches of two
      expect(rollout.stdout.match(/^PLAY \[/gm)).toHaveLength(2);
      for (const host of MEMBERS) {
        expect(fs.existsSync(path.join(stateOf(host), "applied.json")), `${host} kept its bundle`).toBe(true);
        // the lockout check ran for the controller's session, passed on by the playbook
        expect(fs.readFileSync(path.join(stateOf(host), "apply.log"), "utf8")).toMatch(new RegExp(`lockout check: a new SSH connection from ${ADMIN.replace(/\./g, "\\.")} to ${HOSTS[host].v4.replace(/\./g, "\\.")}:22 is accepted by policy\\.wgp:\\d+`));
      }
      // a fresh namespace tracks connections only once a firewall uses conntrack: the spokes speak first again
      lab.handshake();
      await checkScenarios(lab, keys, pins, "ansible");

      // no drift after the rollout, then drift after a hand-made change
      for (const host of MEMBERS) {
        const diff = await ssh(host, `${WGPC} diff ${stateOf(host)}/incoming --state-dir ${stateOf(host)}`);
        expect(diff.status, `${host}: ${diff.stdout}${diff.stderr}`).toBe(0);
        expect(diff.stdout).toContain("no drift");
      }
      // run again: nothing drifted, so nothing is applied and nothing changes
      const rerun = await playbookRun();
      expect(rerun.status, rerun.stdout.slice(-3000)).toBe(0);
      for (const host of MEMBERS) expect(rerun.stdout).toMatch(new RegExp(`${host}\\s+: ok=\\d+\\s+changed=0\\s+unreachable=0\\s+failed=0`));
      lab.ns["client-b"].run("nft", ["add", "rule", "inet", "wgpc", "input", "tcp", "dport", "4444", "accept"]);
      const drift = await ssh("client-b", `${WGPC} diff ${stateOf("client-b")}/incoming --state-dir ${stateOf("client-b")}`);
      expect(drift.status).toBe(1);
      expect(drift.stdout).toContain("not in the bundle: tcp dport 4444 accept");
      // --check mode reports it through wgpc diff, and changes nothing
      const check = await playbookRun("--check");
      expect(check.status, check.stdout.slice(-3000)).toBe(0);
      expect(check.stdout).toMatch(/changed: \[client-b\]/);
      expect(check.stdout).not.toMatch(/changed: \[client-a\]/);
      lab.ns["client-b"].run("nft", ["delete", "rule", "inet", "wgpc", "input", "handle", lab.ns["client-b"].run("nft", ["-a", "list", "chain", "inet", "wgpc", "input"]).match(/dport 4444 accept # handle (\d+)/)![1]!]);

      // a policy that cuts the admins off client-b's ssh
      const cutting = path.join(work, "cut");
      fs.mkdirSync(cutting);
      const cutText = fs.readFileSync(policy, "utf8").replace(/^allow admins -> any:ssh$/m, "deny  admins -> client-b:ssh\nallow admins -> any:ssh");
      fs.writeFileSync(path.join(cutting, "policy.wgp"), cutText);
      fs.copyFileSync(path.join(work, "wgpc.toml"), path.join(cutting, "wgpc.toml"));
      const denyLine = cutText.split("\n").findIndex((l) => l.startsWith("deny  admins")) + 1;
      const cutOut = path.join(cutting, "out");
      expect(spawnSync(process.execPath, [path.join(ROOT, "dist/src/cli/main.js"), "compile", path.join(cutting, "policy.wgp"), "-o", cutOut]).status).toBe(0);
      const saved = () => lab.ns["client-b"].run("nft", ["list", "ruleset"]) + lab.ns["client-b"].run("iptables-save", []).replace(/^#.*\n/gm, "");
      const before = saved();
      const refused = await ssh("client-b", `${WGPC} apply ${cutOut}/client-b --state-dir ${stateOf("client-b")}`);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain("error[E1002]");
      expect(refused.stderr).toContain(`from ${ADMIN} to 10.0.123.4 port 22/tcp would be dropped by policy.wgp:${denyLine}`);
      expect(saved()).toBe(before);
      const dryRun = await ssh("client-b", `${WGPC} apply ${cutOut}/client-b --dry-run --state-dir ${stateOf("client-b")}`);
      expect(dryRun.status).toBe(1);
      expect(dryRun.stderr).toContain("error[E1002]");

      // forced and not confirmed: the admin is cut off until the watcher puts the saved state back
      const forced = ssh("client-b", `${WGPC} apply ${cutOut}/client-b --force --timeout 8 --state-dir ${stateOf("client-b")}`);
      let cut = false;
      for (let i = 0; i < 40 && !cut; i++) {
        await new Promise((r) => setTimeout(r, 250));
        cut = fs.readFileSync(path.join(stateOf("client-b"), "apply.log"), "utf8").includes(`waiting 8 s`);
      }
      expect(cut, "the forced apply is waiting").toBe(true);
      expect((await ssh("client-b", "true")).status, "a new ssh connection is cut off").not.toBe(0);
      const rolledBack = await forced;
      expect(rolledBack.status).toBe(1);
      expect(rolledBack.stderr).toContain("error[E1004]: not confirmed within 8 s: the previous state was restored");
      expect(rolledBack.stderr).toContain("rolled back: the live state equals the saved one");
      expect(saved()).toBe(before);
      expect((await ssh("client-b", "true")).status, "ssh connects again").toBe(0);
    } finally {
      for (const d of daemons) d.kill("SIGKILL");
      for (const host of MEMBERS) spawnSync("pkill", ["-KILL", "-f", "--", `--state-dir ${stateOf(host)}`]);
      fs.rmSync(pins, { recursive: true, force: true });
      lab.close();
    }
  }, 300_000);
});

function stateOf(host: Host): string {
  return path.join(work, "root", host);
}
