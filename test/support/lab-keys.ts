// Run-time WireGuard keys for the labs (never written to the repository),
// and the seed policy with its members' public keys replaced by them.
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "./compile.js";

export interface KeyPair {
  readonly public: string;
  readonly private: string;
}

export function keyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  return {
    public: publicKey.export({ type: "spki", format: "der" }).subarray(-32).toString("base64"),
    private: privateKey.export({ type: "pkcs8", format: "der" }).subarray(-32).toString("base64"),
  };
}

/** The seed policy with a fresh key pair per VPN member. */
export function seedWithFreshKeys(): { text: string; keys: Record<string, KeyPair> } {
  let text = fs.readFileSync(path.join(ROOT, "examples/seed-lab/policy.wgp"), "utf8");
  const keys: Record<string, KeyPair> = {};
  for (const m of [...text.matchAll(/(hub|peer)\s+(\S+)\s.*key "([^"]+)"/g)]) {
    keys[m[2]!] = keyPair();
    text = text.replace(m[3]!, keys[m[2]!]!.public);
  }
  return { text, keys };
}
