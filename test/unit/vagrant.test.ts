// The Vagrantfile cannot run here: its Ruby is checked by `ruby -c`, its
// machines against the seed policy, and the host-side preparation it relies
// on is run for real.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../support/compile.js";

describe("the Vagrant lab", () => {
  const vagrantfile = fs.readFileSync(path.join(ROOT, "Vagrantfile"), "utf8");

  it("is valid Ruby", () => {
    const r = spawnSync("ruby", ["-c", path.join(ROOT, "Vagrantfile")], { encoding: "utf8" });
    expect(r.stdout.trim(), r.stderr).toBe("Syntax OK");
  });

  it("has the seed's machines at the seed's addresses", () => {
    const machines = Object.fromEntries([...vagrantfile.matchAll(/"([\w-]+)" => "([\d.]+)"/g)].map((m) => [m[1], m[2]]));
    const seed = fs.readFileSync(path.join(ROOT, "examples/seed-lab/policy.wgp"), "utf8");
    const hosts = Object.fromEntries([...seed.matchAll(/^host ([\w-]+) ([\d.]+)/gm)].map((m) => [m[1], m[2]]));
    expect(machines).toEqual(hosts);
  });

  it("prepares keys and bundles on the host, with no private key in any bundle", () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, "scripts/vagrant-prepare.mjs")], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const dir = path.join(ROOT, ".vagrant/wgpc");
    for (const host of ["vpn-core", "client-a", "client-b"]) {
      expect(fs.statSync(path.join(dir, "keys", `${host}.key`)).mode & 0o777).toBe(0o600);
      const key = fs.readFileSync(path.join(dir, "keys", `${host}.key`), "utf8").trim();
      for (const f of fs.readdirSync(path.join(dir, "out", host), { recursive: true }) as string[]) {
        const file = path.join(dir, "out", host, f);
        if (fs.statSync(file).isFile()) expect(fs.readFileSync(file, "utf8")).not.toContain(key);
      }
      expect(fs.existsSync(path.join(dir, "out", host, "apply.sh"))).toBe(true);
    }
    expect(fs.readFileSync(path.join(dir, "out/vpn-core/iptables.rules"), "utf8")).toContain("-s 10.0.2.2/32 -p tcp -m tcp --dport 22");
  });
});
