// `wgpc apply` and `wgpc diff` on the real kernel, in scratch namespaces:
// confirmed bundles stay, unconfirmed ones roll back to exactly what the
// tools printed before (firewall, ipsets, tc, XDP maps), a failure half-way
// restores, a state wgpc cannot rebuild is reported, and diff sees drift.
// Pins and state go under this test's own directories; all is removed.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect } from "vitest";
import { ROOT } from "../support/compile.js";
import { rootIt, withNetns, withNetnsAsync, type Netns } from "../support/netns.js";
import { runAsync } from "../support/run-async.js";

const CLI = path.join(ROOT, "dist/src/cli/main.js");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-deploy-"));
const pins = `/sys/fs/bpf/wgpc-deploy-${process.pid}`;
afterAll(() => {
  spawnSync("pkill", ["-KILL", "-f", work]);
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(pins, { recursive: true, force: true });
});

/** The seed (no netem: this kernel lacks it), edited, compiled into DIR/out. */
function compileSeed(name: string, edit: (text: string) => string = (t) => t): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "policy.wgp"), edit(fs.readFileSync(path.join(ROOT, "examples/seed-lab/policy.wgp"), "utf8").replace(/^delay .*$/m, "")));
  fs.writeFileSync(path.join(dir, "wgpc.toml"), 'leaf_qdisc = "pfifo"\n');
  const r = spawnSync(process.execPath, [CLI, "compile", path.join(dir, "policy.wgp"), "-o", path.join(dir, "out")], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return path.join(dir, "out");
}

/** The seed with one more rule on client-b: a second bundle that differs from the first. */
const withPort8080 = (text: string) => text.replace("allow vpn    -> any:web", "allow vpn    -> any:web\nallow any -> client-b:8080/tcp");

const env = { ...process.env, WGPC_BPFFS: pins, SSH_CONNECTION: "" };
const wgpc = (ns: Netns, state: string, ...args: string[]) =>
  spawnSync("nsenter", [`--net=/run/netns/${ns.name}`, process.execPath, CLI, ...args, "--state-dir", state], { encoding: "utf8", env });
const wgpcAsync = (ns: Netns, state: string, ...args: string[]) => runAsync("nsenter", [`--net=/run/netns/${ns.name}`, process.execPath, CLI, ...args, "--state-dir", state], { env });

/** The hub's devices: eth0 a veth, wg0 a tun (this kernel has no WireGuard). */
function hubDevices(ns: Netns): void {
  ns.run("ip", ["-batch", "-"], "link set lo up\nlink add eth0 type veth peer name eth1\ntuntap add wg0 mode tun\nlink set eth0 up\nlink set eth1 up\nlink set wg0 up\n");
}

/** Everything the tools print back for the datapaths a bundle touches. */
function printed(ns: Netns): string {
  const maps = fs.existsSync(`${pins}/eth0`)
    ? fs.readdirSync(`${pins}/eth0`).filter((m) => m.startsWith("wgpc_") && !m.includes("stats")).map((m) => spawnSync("bpftool", ["map", "dump", "pinned", `${pins}/eth0/${m}`], { encoding: "utf8" }).stdout)
    : [];
  return [
    ns.run("nft", ["list", "ruleset"]),
    ns.run("iptables-save", []).replace(/^#.*\n/gm, ""),
    ns.run("ip6tables-save", []).replace(/^#.*\n/gm, ""),
    ns.run("ipset", ["save"]),
    ...["eth0", "wg0"].flatMap((d) => ["qdisc", "class", "filter"].map((what) => spawnSync("ip", ["netns", "exec", ns.name, "tc", what, "show", "dev", d], { encoding: "utf8" }).stdout)),
    spawnSync("ip", ["netns", "exec", ns.name, "ip", "-d", "link", "show", "eth0"], { encoding: "utf8" }).stdout.match(/prog\/xdp\S* id \d+/)?.[0] ?? "no xdp",
    ...maps,
  ].join("\n--\n");
}

describe("wgpc apply and wgpc diff", () => {
  rootIt("keeps a confirmed hub bundle, rolls an unconfirmed one back exactly (nft, tc, XDP maps), and diff sees drift", async () => {
    const first = compileSeed("hub-1");
    const second = compileSeed("hub-2", (t) => t.replace("shape each vpn 20mbit", "shape each vpn 30mbit").replace("drop from 10.0.123.66 early", "drop from 10.0.123.67 early").replace("allow vpn    -> any:web", "allow vpn    -> any:web\nallow any -> vpn-core:8080/tcp"));
    await withNetnsAsync("deploy-hub", async (ns) => {
      hubDevices(ns);
      const state = path.join(work, "state-hub");
      // confirmed from another process while the first waits
      const waiting = wgpcAsync(ns, state, "apply", path.join(first, "vpn-core"), "--timeout", "30");
      let status = "";
      for (let i = 0; i < 100 && !status.startsWith("waiting"); i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = wgpc(ns, state, "apply", "--status").stdout;
      }
      expect(status).toMatch(/^waiting for confirmation: .*hub-1\/out\/vpn-core \(\d+ s left\)/);
      const confirmed = wgpc(ns, state, "apply", "--confirm");
      expect(confirmed.status, confirmed.stderr).toBe(0);
      const kept = await waiting;
      expect(kept.status, kept.stderr).toBe(0);
      expect(kept.stderr).toContain("confirmed: ");
      expect(wgpc(ns, state, "apply", "--status").stdout).toMatch(/^nothing waiting for confirmation\napplied and kept: bundle [0-9a-f]{12} \(nftables\)/);
      const noDrift = wgpc(ns, state, "diff", path.join(first, "vpn-core"));
      expect(noDrift.status, noDrift.stdout).toBe(0);
      const before = printed(ns);
      expect(before).toContain("class htb 1:11 parent 1:1 leaf 11: prio 0 rate 20Mbit");
      expect(before).toMatch(/prog\/xdp\S* id \d+/);

      // the second bundle, not confirmed: everything comes back
      const unconfirmed = wgpc(ns, state, "apply", path.join(second, "vpn-core"), "--timeout", "2");
      expect(unconfirmed.status).toBe(1);
      expect(unconfirmed.stderr).toContain("apply.sh: tc: applied");
      expect(unconfirmed.stderr).toContain("apply.sh: xdp: applied");
      expect(unconfirmed.stderr).toContain("error[E1004]: not confirmed within 2 s: the previous state was restored");
      expect(unconfirmed.stderr).toContain("rolled back: the live state equals the saved one");
      expect(printed(ns)).toBe(before);
      expect(wgpc(ns, state, "diff", path.join(first, "vpn-core")).status).toBe(0);
      // against the bundle that is not applied, diff says what differs, datapath by datapath
      const other = wgpc(ns, state, "diff", path.join(second, "vpn-core"));
      expect(other.status).toBe(1);
      expect(other.stdout).toContain('missing: tcp dport 8080 accept comment "policy.wgp:');
      expect(other.stdout).toContain("drift in tc:\n    the bundle's tc.batch is not the one applied");
      expect(other.stdout).toContain("drift in xdp:\n    the bundle's XDP maps are not the ones applied");

      // drift made by hand, in each datapath
      ns.run("tc", ["class", "change", "dev", "wg0", "parent", "1:1", "classid", "1:11", "htb", "rate", "5mbit", "ceil", "20mbit", "burst", "2500", "cburst", "2500", "quantum", "200000"]);
      spawnSync("bpftool", ["map", "update", "pinned", `${pins}/eth0/wgpc_src4`, "key", "hex", "20", "00", "00", "00", "0a", "00", "7b", "63", "value", "hex", "01", "00", "00", "00", "00", "00", "00", "00"]);
      const drift = wgpc(ns, state, "diff", path.join(first, "vpn-core"));
      expect(drift.status).toBe(1);
      expect(drift.stdout).toContain("drift in tc wg0:");
      expect(drift.stdout).toContain("rate 5Mbit");
      expect(drift.stdout).toContain("drift in xdp eth0 wgpc_src4:");
      // another XDP program put on the interface by hand, in the same mode: drift too
      const passC = path.join(work, "pass.c");
      fs.writeFileSync(passC, '#include <linux/bpf.h>\n__attribute__((section("xdp"), used)) int pass(void *ctx) { return XDP_PASS; }\nchar _license[] __attribute__((section("license"), used)) = "GPL";\n');
      const passO = path.join(work, "pass.o");
      const cc = spawnSync("clang", ["-O2", "-target", "bpf", `-I/usr/include/${process.arch === "x64" ? "x86_64" : "aarch64"}-linux-gnu`, "-c", passC, "-o", passO], { encoding: "utf8" });
      expect(cc.status, cc.stderr).toBe(0);
      ns.run("ip", ["-force", "link", "set", "dev", "eth0", "xdpdrv", "obj", passO, "sec", "xdp"]);
      const foreign = wgpc(ns, state, "diff", path.join(first, "vpn-core"));
      expect(foreign.status).toBe(1);
      expect(foreign.stdout).toMatch(/drift in xdp eth0:\n {4}attached prog\/xdp id \d+, not the pinned program, applied prog\/xdp/);
    });
  });

  rootIt("rolls back when the watcher dies, and the next apply puts back what a dead apply saved", async () => {
    const first = compileSeed("dead-1");
    const second = compileSeed("dead-2", withPort8080);
    await withNetnsAsync("deploy-dead", async (ns) => {
      ns.run("ip", ["link", "set", "lo", "up"]);
      const state = path.join(work, "state-dead");
      expect(wgpc(ns, state, "apply", path.join(first, "client-b"), "--yes").status).toBe(0);
      const before = printed(ns);
      const waitFor = async (pattern: RegExp) => {
        for (let i = 0; i < 100 && !pattern.test(wgpc(ns, state, "apply", "--status").stdout); i++) await new Promise((r) => setTimeout(r, 100));
        return wgpc(ns, state, "apply", "--status").stdout;
      };
      // the watcher killed: the waiting apply notices, puts the saved state back itself and says so
      const waiting = wgpcAsync(ns, state, "apply", path.join(second, "client-b"), "--timeout", "60");
      expect(await waitFor(/^waiting/)).toMatch(/^waiting/);
      expect(printed(ns)).not.toBe(before);
      process.kill(Number(fs.readFileSync(path.join(state, "pending/watcher.pid"), "utf8")), "SIGKILL");
      const ended = await waiting;
      expect(ended.status).toBe(1);
      expect(ended.stderr).toContain("error[E1003]: waiting for the confirmation failed: the watcher died; the saved state was put back");
      expect(printed(ns)).toBe(before);
      // both killed: nothing is left to roll back, until the next apply puts back what was saved
      const again = wgpcAsync(ns, state, "apply", path.join(second, "client-b"), "--timeout", "60");
      expect(await waitFor(/^waiting/)).toMatch(/^waiting/);
      spawnSync("pkill", ["-KILL", "-f", "--", `--state-dir ${state}`]);
      await again;
      expect(wgpc(ns, state, "apply", "--status").stdout).toMatch(/^an apply was never confirmed and its watcher is gone/);
      const next = wgpc(ns, state, "apply", path.join(first, "client-b"), "--yes");
      expect(next.status, next.stderr).toBe(0);
      expect(next.stderr).toContain("was never confirmed and its watcher is gone: putting back what it saved");
      expect(next.stderr).toContain("rolled back: the live state equals the saved one");
      expect(printed(ns)).toBe(before);
    });
  });

  rootIt("a SIGHUP while apply.sh runs (the session dropped) does not end the apply half-way: the watcher takes over and rolls back", async () => {
    const first = compileSeed("hup-1");
    const second = compileSeed("hup-2", withPort8080);
    await withNetnsAsync("deploy-hup", async (ns) => {
      ns.run("ip", ["link", "set", "lo", "up"]);
      const state = path.join(work, "state-hup");
      expect(wgpc(ns, state, "apply", path.join(first, "client-b"), "--yes").status).toBe(0);
      const before = printed(ns);
      // an nft that takes two seconds after loading: the signal comes while apply.sh runs
      const slow = path.join(work, "slow-bin");
      fs.mkdirSync(slow, { recursive: true });
      const nft = spawnSync("sh", ["-c", "command -v nft"], { encoding: "utf8" }).stdout.trim();
      fs.writeFileSync(path.join(slow, "nft"), `#!/bin/sh\n${nft} "$@"; r=$?; case "$*" in *ruleset.nft*) sleep 2;; esac; exit $r\n`, { mode: 0o755 });
      const child = spawn("nsenter", [`--net=/run/netns/${ns.name}`, process.execPath, CLI, "apply", path.join(second, "client-b"), "--timeout", "3", "--state-dir", state], {
        env: { ...env, PATH: `${slow}:${process.env.PATH}` },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      for (let i = 0; i < 100 && !stderr.includes("saved the live state"); i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
      child.kill("SIGHUP");
      const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
      // apply.sh finished, the watcher took the deadline, and nobody confirmed
      expect(stderr).toContain("apply.sh: firewall: nftables applied");
      expect(stderr).toContain("applied; waiting 3 s");
      expect(status, stderr).toBe(1);
      expect(stderr).toContain("error[E1004]: not confirmed within 3 s: the previous state was restored");
      expect(printed(ns)).toBe(before);
    });
  });

  rootIt("refuses to guess the session when SSH_CONNECTION cannot be read, its own or an ancestor's (the sudo case)", () => {
    const seed = compileSeed("ssh-env");
    withNetns("deploy-sshenv", (ns) => {
      const dry = `${process.execPath} ${CLI} apply ${path.join(seed, "client-b")} --dry-run --state-dir ${path.join(work, "state-sshenv")}`;
      const own = spawnSync("nsenter", [`--net=/run/netns/${ns.name}`, "sh", "-c", dry], { encoding: "utf8", env: { ...env, SSH_CONNECTION: "198.51.100.10 5555 10.0.123.4 22.0" } });
      expect(own.status).toBe(2);
      expect(own.stderr).toContain("SSH_CONNECTION is set but is not CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT");
      // sudo drops it from wgpc's own environment; the shell above still has it
      const parent = spawnSync("nsenter", [`--net=/run/netns/${ns.name}`, "sh", "-c", `env -u SSH_CONNECTION ${dry}; exit $?`], { encoding: "utf8", env: { ...env, SSH_CONNECTION: "garbage" } });
      expect(parent.status).toBe(2);
      expect(parent.stderr).toContain("SSH_CONNECTION is set but is not CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT");
    });
  });

  rootIt("keeps the bundle as it was applied, even when the output is compiled again while it waits", async () => {
    const first = compileSeed("recompile-1");
    const other = compileSeed("recompile-2", withPort8080);
    await withNetnsAsync("deploy-recompile", async (ns) => {
      ns.run("ip", ["link", "set", "lo", "up"]);
      const state = path.join(work, "state-recompile");
      const waiting = wgpcAsync(ns, state, "apply", path.join(first, "client-b"), "--timeout", "30");
      for (let i = 0; i < 100 && !wgpc(ns, state, "apply", "--status").stdout.startsWith("waiting"); i++) await new Promise((r) => setTimeout(r, 100));
      // the output directory now holds another policy's bundle
      fs.rmSync(path.join(first, "client-b"), { recursive: true });
      fs.cpSync(path.join(other, "client-b"), path.join(first, "client-b"), { recursive: true });
      expect(wgpc(ns, state, "apply", "--confirm").status).toBe(0);
      expect((await waiting).status).toBe(0);
      // what is kept is what runs: the first policy's bundle, with no 8080 rule
      expect(fs.readFileSync(path.join(state, "current/ruleset.nft"), "utf8")).not.toContain("8080");
      expect(ns.run("nft", ["list", "table", "inet", "wgpc"])).not.toContain("8080");
      expect(wgpc(ns, state, "diff", path.join(other, "client-b")).status).toBe(1);
    });
  });

  rootIt("asks on its terminal: y keeps the bundle, anything else rolls it back at once", () => {
    const first = compileSeed("tty-1");
    const second = compileSeed("tty-2", withPort8080);
    withNetns("deploy-tty", (ns) => {
      ns.run("ip", ["link", "set", "lo", "up"]);
      const state = path.join(work, "state-tty");
      // script(1) gives the apply a terminal; what is piped in is typed on it
      const onTerminal = (answer: string, bundle: string) =>
        spawnSync("script", ["-qec", `nsenter --net=/run/netns/${ns.name} ${process.execPath} ${CLI} apply ${bundle} --timeout 30 --state-dir ${state}`, "/dev/null"], { input: answer, encoding: "utf8", env, timeout: 25_000 });
      const started = Date.now();
      const kept = onTerminal("y\n", path.join(first, "client-b"));
      expect(kept.status, kept.stdout).toBe(0);
      expect(kept.stdout).toContain("keep the new rules? type y and Enter within");
      expect(kept.stdout).toContain("confirmed: ");
      const before = printed(ns);
      const refused = onTerminal("n\n", path.join(second, "client-b"));
      expect(refused.status).toBe(1);
      expect(refused.stdout).toContain("error[E1004]: not confirmed (answered no): the previous state was restored");
      expect(refused.stdout).toContain("rolled back: the live state equals the saved one");
      expect(printed(ns)).toBe(before);
      // both answered long before the 30 s timeout
      expect(Date.now() - started).toBeLessThan(20_000);
    });
  });

  rootIt("rolls iptables and ipsets back byte for byte", () => {
    const first = compileSeed("ipt-1", (t) => `${t}\ngroup many = ${Array.from({ length: 20 }, (_, i) => `203.0.113.${2 * i + 1}`).join(", ")}\nallow many -> client-b:2000/tcp\n`);
    const second = compileSeed("ipt-2", (t) => `${t}\ngroup many = ${Array.from({ length: 20 }, (_, i) => `198.18.0.${2 * i + 1}`).join(", ")}\nallow many -> client-b:2001/tcp\n`);
    withNetns("deploy-ipt", (ns) => {
      ns.run("ip", ["link", "set", "lo", "up"]);
      const state = path.join(work, "state-ipt");
      const kept = wgpc(ns, state, "apply", path.join(first, "client-b"), "--firewall", "iptables", "--yes");
      expect(kept.status, kept.stderr).toBe(0);
      const before = printed(ns);
      expect(before).toContain("add wgpc-");
      expect(before).toMatch(/^add wgpc-\S+ 203\.0\.113\.39,tcp:2000$/m);
      expect(wgpc(ns, state, "diff", path.join(first, "client-b")).status).toBe(0);
      // a dry run validates the files (the sets made for the test and removed) and changes nothing
      const dry = wgpc(ns, state, "apply", path.join(second, "client-b"), "--firewall", "iptables", "--dry-run");
      expect(dry.status, dry.stderr).toBe(0);
      expect(dry.stderr).toContain("apply.sh: dry run: the firewall files are valid");
      expect(dry.stderr).toContain("dry run: nothing was changed");
      expect(printed(ns)).toBe(before);
      const rolled = wgpc(ns, state, "apply", path.join(second, "client-b"), "--firewall", "iptables", "--timeout", "2");
      expect(rolled.status).toBe(1);
      expect(rolled.stderr).toContain("error[E1004]");
      expect(printed(ns)).toBe(before);
      // client-b does not masquerade: another tool's nat rule is not drift, a wgpc chain left in nat is
      ns.run("iptables", ["-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "ACCEPT"]);
      expect(wgpc(ns, state, "diff", path.join(first, "client-b")).status).toBe(0);
      ns.run("iptables", ["-t", "nat", "-N", "wgpc-postrouting-rules"]);
      const natDrift = wgpc(ns, state, "diff", path.join(first, "client-b"));
      expect(natDrift.status).toBe(1);
      expect(natDrift.stdout).toContain("chains of an older bundle's masquerade are still there: wgpc-postrouting-rules");
      ns.run("nft", ["delete", "table", "ip", "nat"]);
      // the other firewall's rules loaded too: drift
      ns.run("nft", ["add", "table", "inet", "wgpc"]);
      const both = wgpc(ns, state, "diff", path.join(first, "client-b"));
      expect(both.status).toBe(1);
      expect(both.stdout).toContain("drift in nftables:\n    table inet wgpc of an nftables bundle is loaded too");
      ns.run("nft", ["delete", "table", "inet", "wgpc"]);
      // a set changed by hand is drift
      ns.run("ipset", ["add", before.match(/^add (wgpc-\S+) 203\.0\.113\.39,tcp:2000$/m)![1]!, "192.0.2.99,tcp:2000"]);
      const drift = wgpc(ns, state, "diff", path.join(first, "client-b"));
      expect(drift.status).toBe(1);
      expect(drift.stdout).toContain("not in the bundle: 192.0.2.99,tcp:2000");
    });
  });

  rootIt("restores when applying fails half-way (E1003), and says when it cannot restore exactly (E1007)", () => {
    const hub = compileSeed("hub-fail");
    withNetns("deploy-fail", (ns) => {
      // no wg0: the firewall goes in, then the tc batch fails on the missing device
      ns.run("ip", ["-batch", "-"], "link set lo up\nlink add eth0 type veth peer name eth1\nlink set eth0 up\n");
      const state = path.join(work, "state-fail");
      const before = printed(ns);
      const failed = wgpc(ns, state, "apply", path.join(hub, "vpn-core"), "--yes");
      expect(failed.status).toBe(1);
      expect(failed.stderr).toContain("apply.sh: firewall: nftables applied");
      expect(failed.stderr).toMatch(/error\[E1003\]: apply\.sh failed: .*wg0/);
      expect(failed.stderr).toContain("rolled back: the live state equals the saved one");
      expect(printed(ns)).toBe(before);
      expect(fs.existsSync(path.join(state, "applied.json"))).toBe(false);
    });
    withNetns("deploy-inexact", (ns) => {
      hubDevices(ns);
      // a qdisc wgpc did not make: a rollback cannot rebuild it, and must say so
      ns.run("tc", ["qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms"]);
      const state = path.join(work, "state-inexact");
      const r = wgpc(ns, state, "apply", path.join(hub, "vpn-core"), "--timeout", "1");
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("error[E1004]");
      expect(r.stderr).toContain("error[E1007]: the previous state was restored, but not exactly: tc on eth0 differs from the saved state");
      // the firewall and XDP did come back
      expect(ns.run("nft", ["list", "ruleset"])).toBe("");
      expect(ns.run("ip", ["-d", "link", "show", "eth0"])).not.toMatch(/prog\/xdp/);
    });
  });
});
