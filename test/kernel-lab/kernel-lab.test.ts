// The full-kernel lab: Debian's stock kernel, fetched from Debian's
// packages, booted under QEMU (software emulation) with an initramfs of this
// machine's tools. The VM has no network device; everything stays inside it.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect } from "vitest";
import { compile } from "../../src/compile.js";
import { backends } from "../../src/backends/registry.js";
import { diskReader, STDLIB_DIR } from "../../src/cli/disk-reader.js";
import { ROOT, rendered } from "../support/compile.js";
import { seedWithFreshKeys } from "../support/lab-keys.js";
import { rootIt } from "../support/netns.js";
import { runAsync } from "../support/run-async.js";

const BOOT = path.join(ROOT, "test/kernel-lab/boot.sh");

/** Boots the VM; a QEMU run can take about a minute, so without blocking the worker. */
const boot = (args: string[]) => runAsync("bash", [BOOT, ...args], { timeout: 200_000 });

describe("the full-kernel lab", () => {
  rootIt("boots Debian's kernel, which has netem, fq_codel and WireGuard", async () => {
    const r = await boot([path.join(ROOT, "test/kernel-lab/smoke.sh")]);
    console.log(r.stdout);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^kernel \d+\.\d+\.\d+-\d+-amd64$/m);
    // netem's 100 ms on one side of the pair
    const rtt = Number(r.stdout.match(/rtt min\/avg\/max\/mdev = ([\d.]+)\//)![1]);
    expect(rtt).toBeGreaterThanOrEqual(100);
    expect(rtt).toBeLessThan(110);
    expect(r.stdout).toContain("qdisc fq_codel");
    expect(r.stdout).toContain("interface: wg0");
    expect(r.stdout).toContain("smoke-ok");
  }, 240_000);

  rootIt("runs the seed's policy as it is: 500 ms of netem on the hub's wg0, every tc line, native XDP; both firewalls", async () => {
    const lab = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-kernel-lab-"));
    try {
      // everything is built here: keys, bundles, the XDP object; the guest only applies
      const { text, keys } = seedWithFreshKeys();
      fs.writeFileSync(path.join(lab, "policy.wgp"), text);
      const result = compile([path.join(lab, "policy.wgp")], diskReader, STDLIB_DIR, { targets: backends });
      expect(result.bundles, rendered(result)).toBeDefined();
      for (const b of result.bundles!) {
        for (const a of b.artifacts) {
          const file = path.join(lab, "out", b.host, a.path);
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, a.text, { mode: a.executable ? 0o755 : 0o644 });
        }
      }
      fs.mkdirSync(path.join(lab, "keys"));
      for (const [host, k] of Object.entries(keys)) fs.writeFileSync(path.join(lab, "keys", `${host}.key`), `${k.private}\n`, { mode: 0o600 });
      const xdp = path.join(lab, "out/vpn-core/xdp");
      for (const line of fs.readFileSync(path.join(xdp, "interfaces"), "utf8").trim().split("\n")) {
        const [iface, l3, size] = line.split(" ");
        const cc = spawnSync("clang", ["-O2", "-g", "-target", "bpf", "-Wall", "-Werror", `-DWGPC_L3_DEVICE=${l3}`, `-DWGPC_LPM_ENTRIES=${size}`,
          `-I/usr/include/${os.arch() === "x64" ? "x86_64" : "aarch64"}-linux-gnu`, "-c", path.join(xdp, "wgpc_xdp.c"), "-o", path.join(xdp, iface!, "wgpc_xdp.o")], { encoding: "utf8" });
        expect(cc.status, cc.stderr).toBe(0);
      }
      const r = await boot([path.join(ROOT, "test/kernel-lab/seed.sh"), lab]);
      console.log(r.stdout);
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      const results = new Map([...r.stdout.matchAll(/^RESULT (\S+) (\S+) (.*)$/gm)].map((m) => [`${m[1]} ${m[2]}`, m[3]!.trim()]));
      for (const backend of ["nftables", "iptables"]) {
        for (const h of ["vpn-core", "client-a", "client-b"]) expect(results.get(`${backend} apply-${h}`), `${backend} ${h}`).toBe("ok");
        // (a) 500 ms each way through the hub
        const rtt = Number(results.get(`${backend} rtt-min-ms`));
        expect(rtt, `${backend} RTT`).toBeGreaterThanOrEqual(1000);
        expect(rtt, `${backend} RTT`).toBeLessThan(1100);
        // (b) the policy's class for client-b counted the packets
        expect(Number(results.get(`${backend} storage-class-packets`))).toBeGreaterThan(0);
        // (c) native XDP drops the demo source and counts it; others still get answers
        expect(results.get(`${backend} xdp-mode`)).toBe("prog/xdp");
        expect(results.get(`${backend} demo-source`)).toBe("dropped");
        expect(results.get(`${backend} outsider-ping`)).toBe("answered");
        expect(Number(results.get(`${backend} demo-source-drops`))).toBeGreaterThan(0);
      }
    } finally {
      fs.rmSync(lab, { recursive: true, force: true });
    }
  }, 240_000);
});
