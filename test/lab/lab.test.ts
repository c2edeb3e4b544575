// The namespace lab: the seed's three machines (and an outsider) as network
// namespaces on one bridge, WireGuard from Debian's wireguard-go (userspace:
// this kernel has no WireGuard module) with keys made for this run only,
// each machine's compiled bundle applied by its own apply.sh and wg-quick.
// Then real traffic checks the seed's scenarios, once with the nftables
// bundle and once with the iptables one. Traffic stays between the lab's
// namespaces; everything is removed afterwards, also on failure.
//
//   npm run lab        (root) runs this file alone
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect } from "vitest";
import { compile } from "../../src/compile.js";
import { backends } from "../../src/backends/registry.js";
import { diskReader, STDLIB_DIR } from "../../src/cli/disk-reader.js";
import { rendered } from "../support/compile.js";
import { rootIt } from "../support/netns.js";
import { checkScenarios, Lab, labPolicy, MEMBERS } from "../support/lab.js";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-lab-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe("the namespace lab", () => {
  for (const firewall of ["nftables", "iptables"] as const) {
    rootIt(`the seed's scenarios hold with the ${firewall} bundle`, async () => {
      fs.mkdirSync("/run/wireguard", { recursive: true });
      fs.mkdirSync("/etc/wireguard", { recursive: true });
      const dir = fs.mkdtempSync(path.join(work, `${firewall}-`));
      const { policy, keys } = labPolicy(dir);
      const result = compile([policy], diskReader, STDLIB_DIR, { targets: backends, leafQdisc: "pfifo" });
      expect(result.bundles, rendered(result)).toBeDefined();
      const out = path.join(dir, "out");
      for (const b of result.bundles!) {
        for (const a of b.artifacts) {
          const file = path.join(out, b.host, a.path);
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, a.text, { mode: a.executable ? 0o755 : 0o644 });
        }
        // no private key in any bundle, only the file-loading indirection
        for (const a of b.artifacts) expect(a.text, `${b.host}/${a.path}`).not.toMatch(/PrivateKey\s*=/);
      }
      const pins = `/sys/fs/bpf/wgpc-lab-${process.pid}-${firewall}`;
      const lab = new Lab();
      try {
        const started = Date.now();
        // WireGuard first: the hub's tc and firewall refer to wg0
        for (const host of MEMBERS) {
          // the configs are valid wg-quick syntax
          expect(spawnSync("wg-quick", ["strip", path.join(out, host, "wg0.conf")]).status).toBe(0);
          lab.wgUp(host, path.join(out, host, "wg0.conf"), keys[host]!.private);
        }
        for (const host of MEMBERS) {
          const applied = spawnSync("nsenter", [`--net=/run/netns/${lab.ns[host].name}`, "sh", path.join(out, host, "apply.sh"), "--firewall", firewall], {
            encoding: "utf8",
            // each machine has a bpffs of its own; here, a directory each
            env: { ...process.env, WGPC_BPFFS: `${pins}/${host}` },
          });
          expect(applied.status, `${host}: ${applied.stderr}`).toBe(0);
        }
        lab.handshake();
        console.log(`${firewall}: lab up with handshakes in ${Date.now() - started} ms`);

        await checkScenarios(lab, keys, pins, firewall);
      } finally {
        // deleting the namespaces detaches the program; its pins go here
        fs.rmSync(pins, { recursive: true, force: true });
        lab.close();
      }
    }, 120_000);
  }
});
