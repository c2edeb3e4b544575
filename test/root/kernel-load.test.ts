// Every emitted file, for both examples and every test case, is parsed by
// the real tools (--test, nft -c), then loaded for real into a scratch
// namespace and dumped back: the dump must equal what wgpc emitted.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect } from "vitest";
import { allPolicies, compileFiles, rendered } from "../support/compile.js";
import { rootIt, withNetns, type Netns } from "../support/netns.js";
import { nftTableForm, restoreForm } from "../../src/deploy/normalise.js";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-kernel-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/**
 * Loads an ipset.rules file as apply.sh does (under temporary names, then
 * swapped in or renamed) and checks that ipset holds exactly its members,
 * with each port range as the ports ipset stores for it.
 */
function loadIpsets(ns: Netns, file: string, text: string): void {
  ns.run("ipset", ["restore", "-f", file]);
  const names = [...text.matchAll(/^create (\S+)-n /gm)].map((m) => m[1]!);
  const existing = new Set(ns.run("ipset", ["list", "-n"]).split("\n"));
  for (const name of names) {
    if (existing.has(name)) {
      ns.run("ipset", ["swap", `${name}-n`, name]);
      ns.run("ipset", ["destroy", `${name}-n`]);
    } else ns.run("ipset", ["rename", `${name}-n`, name]);
  }
  for (const name of names) {
    const want = [...text.matchAll(new RegExp(`^add ${name}-n (\\S+)$`, "gm"))].flatMap((m) => {
      const range = m[1]!.match(/^(.*:)(\d+)-(\d+)$/);
      if (!range) return [m[1]!];
      return Array.from({ length: Number(range[3]) - Number(range[2]) + 1 }, (_, k) => `${range[1]}${Number(range[2]) + k}`);
    });
    const have = [...ns.run("ipset", ["save", name]).matchAll(/^add \S+ (\S+)$/gm)].map((m) => m[1]!);
    expect(have.sort(), `ipset ${name}`).toEqual(want.sort());
  }
}

describe("artifacts in the real kernel tools", () => {
  for (const policy of allPolicies()) {
    rootIt(`${policy.name}: every host's files pass --test, load, and dump back unchanged`, () => {
      const result = compileFiles([policy.file]);
      expect(result.bundles, rendered(result)).toBeDefined();
      withNetns("load", (ns) => {
        for (const bundle of result.bundles!) {
          const dir = path.join(work, policy.name, bundle.host);
          fs.mkdirSync(dir, { recursive: true });
          const files: Record<string, string> = {};
          for (const a of bundle.artifacts) {
            files[a.path] = path.join(dir, a.path);
            fs.mkdirSync(path.dirname(files[a.path]!), { recursive: true });
            fs.writeFileSync(files[a.path]!, a.text);
          }
          const text = (name: string) => bundle.artifacts.find((a) => a.path === name)!.text;

          if (files["ipset.rules"]) loadIpsets(ns, files["ipset.rules"], text("ipset.rules"));
          ns.run("iptables-restore", ["--test", files["iptables.rules"]!]);
          ns.run("ip6tables-restore", ["--test", files["ip6tables.rules"]!]);
          ns.run("nft", ["-c", "-f", files["ruleset.nft"]!]);

          // the hosts load one after the other: a nat table another host's file made is taken out
          // first (a file without one leaves the nat table alone; apply.sh clears wgpc's chains there)
          for (const table of ["ip nat", "ip6 nat"]) spawnSync("ip", ["netns", "exec", ns.name, "nft", "delete", "table", ...table.split(" ")]);
          ns.run("iptables-restore", [files["iptables.rules"]!]);
          expect(restoreForm(ns.run("iptables-save", [])), `${bundle.host} iptables`).toBe(restoreForm(text("iptables.rules")));
          ns.run("ip6tables-restore", [files["ip6tables.rules"]!]);
          expect(restoreForm(ns.run("ip6tables-save", [])), `${bundle.host} ip6tables`).toBe(restoreForm(text("ip6tables.rules")));
          ns.run("nft", ["-f", files["ruleset.nft"]!]);
          // loading twice must work too: the script replaces its own table
          ns.run("nft", ["-f", files["ruleset.nft"]!]);
          expect(nftTableForm(ns.run("nft", ["list", "table", "inet", "wgpc"])), `${bundle.host} nft`).toBe(nftTableForm(text("ruleset.nft")));
        }
      });
    });
  }
});
