// The full-kernel lab: Debian's stock kernel, fetched from Debian's
// packages, booted under QEMU (software emulation) with an initramfs of this
// machine's tools. The VM has no network device; everything stays inside it.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect } from "vitest";
import { ROOT } from "../support/compile.js";
import { rootIt } from "../support/netns.js";

const BOOT = path.join(ROOT, "test/kernel-lab/boot.sh");

describe("the full-kernel lab", () => {
  rootIt("boots Debian's kernel, which has netem, fq_codel and WireGuard", () => {
    const r = spawnSync("bash", [BOOT, path.join(ROOT, "test/kernel-lab/smoke.sh")], { encoding: "utf8", timeout: 200_000 });
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
});
