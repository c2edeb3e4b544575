#!/usr/bin/env node
// Prepares the Vagrant lab on this machine (Node 20 and a built wgpc):
// a key pair per machine under .vagrant/wgpc/keys/ (never committed), the
// seed policy with those public keys and the VMs' interface (eth1: eth0 is
// Vagrant's NAT, whose SSH the policy lets through), compiled into
// .vagrant/wgpc/out/. The Vagrantfile's provisioning applies the bundles.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dir = path.join(root, ".vagrant", "wgpc");
fs.mkdirSync(path.join(dir, "keys"), { recursive: true, mode: 0o700 });

let policy = fs.readFileSync(path.join(root, "examples/seed-lab/policy.wgp"), "utf8");
for (const m of [...policy.matchAll(/(hub|peer)\s+(\S+)\s.*key "([^"]+)"/g)]) {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  const raw = (key, type) => key.export({ type, format: "der" }).subarray(-32).toString("base64");
  fs.writeFileSync(path.join(dir, "keys", `${m[2]}.key`), `${raw(privateKey, "pkcs8")}\n`, { mode: 0o600 });
  policy = policy.replace(m[3], raw(publicKey, "spki"));
}
policy = policy.replaceAll(" on eth0", " on eth1").replace(/^link eth0 /m, "link eth1 ");
policy += "\n# Vagrant reaches each VM by SSH through its NAT interface\nallow 10.0.2.2 -> any:ssh\n";
fs.writeFileSync(path.join(dir, "policy.wgp"), policy);
execFileSync(process.execPath, [path.join(root, "dist/src/cli/main.js"), "compile", path.join(dir, "policy.wgp"), "-o", path.join(dir, "out")], { stdio: "inherit" });
