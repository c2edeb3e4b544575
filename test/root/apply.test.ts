// apply.sh in a scratch namespace: it refuses a bundle whose files differ
// from SHA256SUMS, validates with --dry-run, and applies the firewall (nft
// or iptables), tc and XDP of a host. Pins go under a directory of this
// test's own; everything is removed afterwards.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect } from "vitest";
import { compile } from "../../src/compile.js";
import { backends } from "../../src/backends/registry.js";
import { diskReader, STDLIB_DIR } from "../../src/cli/disk-reader.js";
import { ROOT, rendered } from "../support/compile.js";
import { rootIt, withNetns, type Netns } from "../support/netns.js";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-apply-"));
const pins = `/sys/fs/bpf/wgpc-apply-${process.pid}`;
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(pins, { recursive: true, force: true });
});

/** The seed lab as this kernel can take it: no netem, a leaf qdisc it has. */
function bundleFor(host: string, dir: string): void {
  const source = fs.readFileSync(path.join(ROOT, "examples/seed-lab/policy.wgp"), "utf8").replace(/^delay .*$/m, "");
  const file = path.join(work, "policy.wgp");
  fs.writeFileSync(file, source);
  const result = compile([file], diskReader, STDLIB_DIR, { targets: backends, leafQdisc: "pfifo" });
  expect(result.bundles, rendered(result)).toBeDefined();
  for (const a of result.bundles!.find((b) => b.host === host)!.artifacts) {
    const target = path.join(dir, a.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, a.text, { mode: a.executable ? 0o755 : 0o644 });
  }
}

/** A test case's bundle for one host. */
function caseBundle(caseFile: string, host: string, dir: string): void {
  const result = compile([path.join(ROOT, "test/cases", caseFile)], diskReader, STDLIB_DIR, { targets: backends });
  expect(result.bundles, rendered(result)).toBeDefined();
  for (const a of result.bundles!.find((b) => b.host === host)!.artifacts) {
    const target = path.join(dir, a.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, a.text, { mode: a.executable ? 0o755 : 0o644 });
  }
}

function apply(ns: Netns, dir: string, ...args: string[]) {
  return spawnSync("nsenter", [`--net=/run/netns/${ns.name}`, "sh", path.join(dir, "apply.sh"), ...args], {
    encoding: "utf8",
    env: { ...process.env, WGPC_BPFFS: pins },
  });
}

describe("apply.sh", () => {
  rootIt("with iptables, a machine without masquerade gets no nat table; an older bundle's masquerade chains leave, other tools' nat rules stay", () => {
    // (a case without shaping or early drop, so that the firewall is all apply.sh does here)
    const hub = path.join(work, "nat-router");
    const spoke = path.join(work, "nat-intranet");
    caseBundle("masquerade-via.wgp", "router", hub);
    caseBundle("masquerade-via.wgp", "intranet", spoke);
    expect(fs.readFileSync(path.join(hub, "iptables.rules"), "utf8")).toContain("\n*nat\n");
    expect(fs.readFileSync(path.join(spoke, "iptables.rules"), "utf8")).not.toContain("*nat");
    withNetns("nat", (ns) => {
      // a machine that never masqueraded: no nat table at all (the kernel's NAT hooks stay out of the path)
      const first = apply(ns, spoke, "--firewall", "iptables");
      expect(first.status, first.stderr).toBe(0);
      expect(ns.run("nft", ["list", "tables"])).not.toMatch(/table ip6? nat/);
      // the hub's bundle masquerades, then another tool adds a nat rule of its own
      const masq = apply(ns, hub, "--firewall", "iptables");
      expect(masq.status, masq.stderr).toBe(0);
      expect(ns.run("iptables-save", ["-t", "nat"])).toContain("-j MASQUERADE");
      ns.run("iptables", ["-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "ACCEPT"]);
      // now the bundle without masquerade: wgpc's chains go, the other rule stays
      const again = apply(ns, spoke, "--firewall", "iptables");
      expect(again.status, again.stderr).toBe(0);
      const nat = ns.run("iptables-save", ["-t", "nat"]);
      expect(nat).not.toContain("wgpc-");
      expect(nat).not.toContain("MASQUERADE");
      expect(nat).toContain("-A POSTROUTING -o lo -j ACCEPT");
    });
  });

  rootIt("applies a host's nft firewall, or its iptables one, and refuses a changed bundle", () => {
    const dir = path.join(work, "client-b");
    bundleFor("client-b", dir);
    withNetns("apply", (ns) => {
      const dry = apply(ns, dir, "--dry-run");
      expect(dry.status, dry.stderr).toBe(0);
      expect(dry.stdout).toContain("dry run: the firewall files are valid");
      expect(ns.run("nft", ["list", "ruleset"])).toBe("");

      const nft = apply(ns, dir);
      expect(nft.status, nft.stderr).toBe(0);
      expect(ns.run("nft", ["list", "table", "inet", "wgpc"])).toContain('iifname "wg0" ip saddr 192.168.4.0/24 tcp dport 1234 accept');

      const ipt = apply(ns, dir, "--firewall", "iptables");
      expect(ipt.status, ipt.stderr).toBe(0);
      expect(ns.run("iptables-save", [])).toContain("-A wgpc-input-rules -s 192.168.4.0/24 -i wg0 -p tcp -m tcp --dport 1234");
      // one firewall per machine: switching removes the other one's rules
      expect(ipt.stdout).toContain("firewall: removed the table inet wgpc an nftables bundle loaded");
      expect(ns.run("nft", ["list", "tables"])).not.toContain("table inet wgpc");
      const back = apply(ns, dir, "--firewall", "nftables");
      expect(back.status, back.stderr).toBe(0);
      expect(back.stdout).toContain("firewall: removed the rules an iptables bundle loaded (iptables)");
      expect(ns.run("iptables-save", ["-t", "filter"])).not.toContain("wgpc-");
      expect(ns.run("iptables-save", ["-t", "filter"])).toContain(":INPUT ACCEPT");
      expect(ns.run("nft", ["list", "table", "inet", "wgpc"])).toContain("tcp dport 1234 accept");

      fs.appendFileSync(path.join(dir, "ruleset.nft"), "# changed by hand\n");
      const refused = apply(ns, dir);
      expect(refused.status).toBe(3);
      expect(refused.stderr).toContain("refusing to apply: files differ from SHA256SUMS");
    });
  });

  rootIt("applies the hub's firewall, tc batch and XDP program, and again to the same state", () => {
    const dir = path.join(work, "vpn-core");
    bundleFor("vpn-core", dir);
    withNetns("applyhub", (ns) => {
      ns.run("ip", ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]);
      ns.run("ip", ["tuntap", "add", "dev", "wg0", "mode", "tun"]);
      for (const d of ["eth0", "eth0-peer", "wg0"]) ns.run("ip", ["link", "set", d, "up"]);
      try {
        for (let run = 0; run < 2; run++) {
          const r = apply(ns, dir);
          expect(r.status, r.stderr).toBe(0);
          for (const step of ["firewall: nftables applied", "tc: applied", "xdp: applied"]) expect(r.stdout).toContain(step);
        }
        expect(ns.run("tc", ["class", "show", "dev", "wg0"])).toContain("rate 100Mbit ceil 200Mbit");
        expect(ns.run("ip", ["-d", "link", "show", "eth0"])).toMatch(/prog\/xdp id \d+/);
        expect(ns.run("sysctl", ["-n", "net.ipv4.ip_forward"]).trim()).toBe("1");
      } finally {
        spawnSync("nsenter", [`--net=/run/netns/${ns.name}`, "sh", path.join(dir, "xdp/load.sh"), "detach"], { env: { ...process.env, WGPC_BPFFS: pins } });
        fs.rmSync(pins, { recursive: true, force: true });
      }
    });
  });

  rootIt("loads iptables' ipsets before the rules, swaps them whole on a second apply, and removes the ones a newer bundle does not use", () => {
    const dir = path.join(work, "db");
    caseBundle("large-sets.wgp", "db", dir);
    const sets = [...fs.readFileSync(path.join(dir, "ipset.rules"), "utf8").matchAll(/^create (\S+)-n /gm)].map((m) => m[1]!).sort();
    expect(sets.length).toBeGreaterThanOrEqual(3);
    const listed = (ns: Netns) => ns.run("ipset", ["list", "-n"]).split("\n").filter((n) => n !== "").sort();
    withNetns("ipsets", (ns) => {
      // a dry run needs the sets for iptables-restore --test, and leaves none behind
      const dry = apply(ns, dir, "--dry-run", "--firewall", "iptables");
      expect(dry.status, dry.stderr).toBe(0);
      expect(listed(ns)).toEqual([]);

      for (let run = 0; run < 2; run++) {
        const r = apply(ns, dir, "--firewall", "iptables");
        expect(r.status, r.stderr).toBe(0);
        // the sets under their own names, none of the temporary ones left
        expect(listed(ns)).toEqual(sets);
        expect(ns.run("iptables-save", [])).toContain(`-m set --match-set ${sets.find((s) => s.includes("-n"))} src -m comment --comment "large-sets.wgp:9" -j DROP`);
        const blocklist = ns.run("ipset", ["save", sets.find((s) => s.includes("-n"))!]);
        expect(blocklist).toContain("add wgpc-in4-n1 100.64.0.0/10");
      }

      // a bundle without sets: its rules replace the ones that used them, and the sets go
      const plain = path.join(work, "client-b-plain");
      bundleFor("client-b", plain);
      const r = apply(ns, plain, "--firewall", "iptables");
      expect(r.status, r.stderr).toBe(0);
      expect(listed(ns)).toEqual([]);
    });
  });
});
