// The deploy stage without the kernel: ir.json means what the IR means, the
// lockout check decides as the reference semantics, bundles are verified
// before use, the generated Ansible files name every machine, and the
// state directory refuses a second apply.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { allPolicies, compileFiles, compileText, rendered, ROOT } from "../support/compile.js";
import { packetGrid } from "../support/packets.js";
import { evaluate, evaluateChain } from "../../src/ir/evaluate.js";
import { earlyVerdict } from "../../src/ir/early.js";
import { inputIrText, IrFileError, readInputIr } from "../../src/ir/serialize.js";
import { checkLockout, parseSshConnection } from "../../src/deploy/lockout.js";
import { verifyBundle, BundleError } from "../../src/deploy/bundle.js";
import { applyBundle, confirmPending, lockoutHelp } from "../../src/deploy/apply.js";
import { ansibleBundle, packagesFor } from "../../src/deploy/ansible.js";
import { ipsetMembers, lineDifference, nftTableForm, restoreForm } from "../../src/deploy/normalise.js";
import { renderText } from "../../src/diagnostics/render.js";

const SEED = path.join(ROOT, "examples/seed-lab/policy.wgp");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-deploy-unit-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function writeBundle(dir: string, files: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  const sums: string[] = [];
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
    sums.push(`${createHash("sha256").update(text).digest("hex")}  ${name}`);
  }
  fs.writeFileSync(path.join(dir, "SHA256SUMS"), `${sums.join("\n")}\n`);
}

describe("ir.json", () => {
  for (const policy of allPolicies().filter((p) => p.name !== "example-atlas-lab")) {
    it(`${policy.name}: read back, it decides every grid packet as the IR does`, () => {
      const result = compileFiles([policy.file]);
      expect(result.hosts, rendered(result)).toBeDefined();
      let compared = 0;
      for (const host of result.hosts!) {
        const back = readInputIr(inputIrText(host));
        expect(back.host).toBe(host.name);
        for (const p of packetGrid(result.policy!, host.name, 200)) {
          if (p.oif !== undefined) continue;
          const want = evaluate(host, "input", p);
          const have = evaluateChain(back.input[p.family], p);
          expect([have.verdict, have.rule?.origin.label], `${host.name} ${JSON.stringify(p, (_k, v) => (typeof v === "bigint" ? v.toString(16) : v))}`).toEqual([want.verdict, want.rule?.origin.label]);
          compared++;
        }
        for (const [i, program] of back.early.entries()) expect(program).toEqual(host.early[i]);
      }
      expect(compared).toBeGreaterThan(50);
    });
  }

  it("refuses what is not an ir.json of this version", () => {
    expect(() => readInputIr("{")).toThrow(IrFileError);
    expect(() => readInputIr('{"format":"wgpc-input-ir","version":2}')).toThrow(/version 1/);
    expect(() => readInputIr('{"format":"wgpc-input-ir","version":1,"host":"x","input":{"4":{"sections":[{"rules":[{"match":{"saddr":["10.0.0.1/8"]}}]}]},"6":{}},"early":[]}')).toThrow(/not a prefix/);
  });
});

describe("the lockout check", () => {
  const seed = compileFiles([SEED]);
  const ir = (host: string) => readInputIr(inputIrText(seed.hosts!.find((h) => h.name === host)!));

  it("reads SSH_CONNECTION, also with an IPv4-mapped client", () => {
    expect(parseSshConnection("198.51.100.10 51234 10.0.123.4 22")).toEqual({ client: "198.51.100.10", server: "10.0.123.4", port: 22 });
    expect(parseSshConnection("::ffff:198.51.100.10 51234 ::ffff:10.0.123.4 2222")).toEqual({ client: "198.51.100.10", server: "10.0.123.4", port: 2222 });
    expect(parseSshConnection("198.51.100.10 51234 10.0.123.4")).toBeUndefined();
    expect(parseSshConnection("a b c 70000")).toBeUndefined();
    // a port as sshd writes it, decimal digits only
    for (const port of ["22.0", "0x16", "1e1", "+22"]) expect(parseSshConnection(`198.51.100.10 51234 10.0.123.4 ${port}`), port).toBeUndefined();
    expect(parseSshConnection(undefined)).toBeUndefined();
  });

  it("lets the seed's admins in, and names the rule that would cut anyone else", () => {
    expect(checkLockout(ir("client-b"), { client: "198.51.100.10", server: "10.0.123.4", port: 22 }, "eth0")).toEqual({ cut: false, decided: expect.stringMatching(/^is accepted by policy\.wgp:\d+$/), label: expect.stringMatching(/^policy\.wgp:\d+$/) });
    expect(checkLockout(ir("client-b"), { client: "2001:db8:ad::7", server: "2001:db8:123::4", port: 22 }, "eth0")).toMatchObject({ cut: false });
    // a VPN member over wg0, but not the same address over the physical wire
    expect(checkLockout(ir("client-b"), { client: "192.168.4.2", server: "192.168.4.3", port: 22 }, "wg0")).toMatchObject({ cut: false });
    expect(checkLockout(ir("client-b"), { client: "192.168.4.2", server: "10.0.123.4", port: 22 }, "eth0")).toEqual({ cut: true, decided: "would be dropped by the default policy (no rule allows it)", label: undefined });
    // sshd on another port: the policy opens 22 only
    expect(checkLockout(ir("client-b"), { client: "198.51.100.10", server: "10.0.123.4", port: 2222 }, "eth0")).toMatchObject({ cut: true });
    const cut = compileText(fs.readFileSync(SEED, "utf8").replace("allow admins -> any:ssh", "deny admins -> client-b:ssh\nallow admins -> any:ssh"));
    const line = fs.readFileSync(SEED, "utf8").split("\n").findIndex((l) => l.startsWith("allow admins -> any:ssh")) + 1;
    const verdict = checkLockout(readInputIr(inputIrText(cut.hosts!.find((h) => h.name === "client-b")!)), { client: "198.51.100.10", server: "10.0.123.4", port: 22 }, "eth0");
    expect(verdict).toEqual({ cut: true, decided: `would be dropped by policy.wgp:${line}`, label: `policy.wgp:${line}` });
  });

  it("sees the hub's early drops before its firewall", () => {
    const hub = ir("vpn-core");
    const session = { client: "10.0.123.66", server: "10.0.123.2", port: 22 };
    expect(earlyVerdict(hub.early.find((p) => p.iface === "eth0")!, { family: 4, saddr: 0x0a007b42n, daddr: 0x0a007b02n, proto: 6, l4: true, dport: 22 }).verdict).toBe("drop");
    const early = checkLockout(hub, session, "eth0");
    expect(early).toEqual({ cut: true, decided: expect.stringMatching(/^would be dropped early \(XDP on eth0\) by policy\.wgp:\d+$/), label: expect.stringMatching(/^policy\.wgp:\d+$/) });
    // the help says what undoes it: an allow rule would not
    expect(lockoutHelp(early as { decided: string })).toMatch(/^take the admins' source out of the early drop/);
    expect(checkLockout(hub, { ...session, client: "198.51.100.10" }, "eth0")).toMatchObject({ cut: false });
  });
});

describe("bundles on the machine", () => {
  it("verifies every file against SHA256SUMS and the manifest beside it", () => {
    const dir = path.join(work, "lab", "web");
    writeBundle(dir, { "apply.sh": "#!/bin/sh\n", "ruleset.nft": "table inet wgpc {\n}\n" });
    const bundle = verifyBundle(dir);
    expect([...bundle.files.keys()]).toEqual(["apply.sh", "ruleset.nft"]);
    expect(bundle.id).toMatch(/^[0-9a-f]{64}$/);
    fs.writeFileSync(path.join(dir, "ruleset.nft"), "table inet wgpc {}\n");
    expect(() => verifyBundle(dir)).toThrow(new BundleError("ruleset.nft differs from SHA256SUMS"));
    writeBundle(dir, { "apply.sh": "#!/bin/sh\n", "ruleset.nft": "table inet wgpc {\n}\n" });
    fs.writeFileSync(path.join(work, "lab", "manifest.json"), JSON.stringify({ outputs: [{ path: "web/ruleset.nft", host: "web", sha256: "0".repeat(64) }] }));
    expect(() => verifyBundle(dir)).toThrow(/ruleset\.nft differs from manifest\.json/);
    fs.rmSync(path.join(work, "lab", "manifest.json"));
    fs.appendFileSync(path.join(dir, "SHA256SUMS"), `${"0".repeat(64)}  ../../etc/passwd\n`);
    expect(() => verifyBundle(dir)).toThrow(/a line wgpc did not write/);
    expect(() => verifyBundle(path.join(work, "nothing"))).toThrow(/not a directory/);
  });

  it("refuses an unverified bundle (E1001) and a bundle without ir.json from an SSH session (E1008), before changing anything", () => {
    const state = path.join(work, "state-a");
    const dir = path.join(work, "b1", "web");
    writeBundle(dir, { "apply.sh": "#!/bin/sh\nexit 9\n", "ruleset.nft": "table inet wgpc {\n}\n" });
    fs.appendFileSync(path.join(dir, "apply.sh"), "# changed\n");
    const log: string[] = [];
    const base = { bundleDir: dir, stateDir: state, timeout: 5, yes: false, force: false, interactive: false, log: (l: string) => log.push(l) };
    const unverified = applyBundle(base);
    expect(unverified.exit).toBe(1);
    expect(unverified.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([`E1001 \`${dir}\` is not a bundle wgpc can apply: apply.sh differs from SHA256SUMS`]);
    writeBundle(dir, { "apply.sh": "#!/bin/sh\nexit 9\n", "ruleset.nft": "table inet wgpc {\n}\n" });
    const noIr = applyBundle({ ...base, session: { client: "198.51.100.10", server: "10.0.123.4", port: 22 } });
    expect(noIr.diagnostics.map((d) => d.code)).toEqual(["E1008"]);
    expect(noIr.diagnostics[0]!.message).toBe("cannot check that this SSH session survives: the bundle has no ir.json");
    expect(fs.existsSync(path.join(state, "pending"))).toBe(false);
  });

  it("checks ir.json's whole shape: a damaged one is E1008 from an SSH session, never a crash", () => {
    const seed = compileFiles([SEED]);
    const good = JSON.parse(inputIrText(seed.hosts!.find((h) => h.name === "client-b")!));
    const damaged: [string, (v: any) => unknown][] = [
      ["null", () => null],
      ["sections gone", (v) => (delete v.input["4"].sections, v)],
      ["a chain a number", (v) => ((v.input["4"] = 1), v)],
      ["rules null", (v) => ((v.input["4"].sections[0].rules = null), v)],
      ["a match null", (v) => ((v.input["4"].sections[0].rules[0].match = null), v)],
      ["a verdict unknown", (v) => ((v.input["4"].sections[0].rules[0].verdict = { kind: "banana" }), v)],
      ["saddr a number", (v) => ((v.input["6"].sections[1].rules[0].match.saddr = 5), v)],
      ["ctState a number", (v) => ((v.input["4"].sections[0].rules[1].match.ctState = 5), v)],
      ["an l4 of another kind", (v) => ((v.input["4"].sections[0].rules[3].match.l4 = { kind: "x" }), v)],
      ["the policy a fruit", (v) => ((v.input["4"].policy = "banana"), v)],
      ["early drops of nothing", (v) => ((v.early = [{}]), v)],
    ];
    for (const [what, damage] of damaged) {
      const text = JSON.stringify(damage(structuredClone(good)));
      expect(() => readInputIr(text), what).toThrow(IrFileError);
      const dir = path.join(work, "damaged", what.replace(/ /g, "-"), "client-b");
      writeBundle(dir, { "apply.sh": "#!/bin/sh\nexit 9\n", "ruleset.nft": "table inet wgpc {\n}\n", "ir.json": text });
      const r = applyBundle({ bundleDir: dir, stateDir: path.join(work, "state-damaged"), timeout: 5, yes: false, force: false, interactive: false, log: () => {}, session: { client: "198.51.100.10", server: "10.0.123.4", port: 22 } });
      expect(r.diagnostics.map((d) => d.code), what).toEqual(["E1008"]);
      expect(r.diagnostics[0]!.message, what).toMatch(/^cannot check that this SSH session survives: ir\.json: /);
    }
  });

  it("hashes only regular files of the bundle, and quotes a strange line", () => {
    const dir = path.join(work, "odd", "web");
    writeBundle(dir, { "apply.sh": "#!/bin/sh\n" });
    fs.symlinkSync("/dev/zero", path.join(dir, "zero"));
    fs.appendFileSync(path.join(dir, "SHA256SUMS"), `${"0".repeat(64)}  zero\n`);
    expect(() => verifyBundle(dir)).toThrow(new BundleError("zero is not a regular file"));
    writeBundle(dir, { "apply.sh": "#!/bin/sh\n" });
    fs.appendFileSync(path.join(dir, "SHA256SUMS"), "\u001b[31mred\n");
    expect(() => verifyBundle(dir)).toThrow('SHA256SUMS has a line wgpc did not write: "\\u001b[31mred"');
    writeBundle(dir, { "apply.sh": "#!/bin/sh\n" });
    fs.appendFileSync(path.join(dir, "SHA256SUMS"), `${"0".repeat(64)}  .\n`);
    expect(() => verifyBundle(dir)).toThrow(/a line wgpc did not write/);
  });

  it("refuses a bundle that would cut the SSH session (E1002), pointing at the rule's line with a caret, before changing anything", () => {
    const text = fs.readFileSync(SEED, "utf8").replace("allow admins -> any:ssh", "deny  admins -> client-b:ssh   # too strict\nallow admins -> any:ssh");
    const line = text.split("\n").findIndex((l) => l.startsWith("deny  admins")) + 1;
    const cut = compileText(text);
    const dir = path.join(work, "cut", "client-b");
    const files = Object.fromEntries(cut.bundles!.find((b) => b.host === "client-b")!.artifacts.filter((a) => a.path !== "SHA256SUMS").map((a) => [a.path, a.text]));
    writeBundle(dir, files);
    const state = path.join(work, "state-cut");
    const r = applyBundle({ bundleDir: dir, stateDir: state, timeout: 5, yes: false, force: false, interactive: false, log: () => {}, session: { client: "198.51.100.10", server: "10.0.123.4", port: 22 } });
    expect(r.exit).toBe(1);
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E1002"]);
    const label = cut.hosts![0]!.families[4].filter.input.sections[1]!.rules[0]!.origin.label.split(":")[0];
    expect(renderText(r.sources!, r.diagnostics[0]!).split("\n")).toEqual([
      `${label}:${line}:1: error[E1002]: applying would cut this SSH session off: a new connection from 198.51.100.10 to 10.0.123.4 port 22/tcp would be dropped by ${label}:${line}`,
      "   |",
      `${line} | deny  admins -> client-b:ssh   # too strict`,
      `   | ${"^".repeat("deny  admins -> client-b:ssh".length)}`,
      "  = help: allow the admins' source to the SSH port in the policy; or, knowingly, --force (unconfirmed, it is rolled back)",
    ]);
    expect(fs.existsSync(path.join(state, "pending"))).toBe(false);
  });

  it("allows one apply at a time (E1006); --confirm with none waiting is E1005", () => {
    const state = path.join(work, "state-b");
    const dir = path.join(work, "b2", "web");
    writeBundle(dir, { "apply.sh": "#!/bin/sh\n", "ruleset.nft": "table inet wgpc {\n}\n" });
    expect(confirmPending(state, () => {}).diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([`E1005 no \`wgpc apply\` is waiting for confirmation (state in \`${state}\`)`]);
    // a waiting apply whose watcher is alive (this process stands in for it)
    fs.mkdirSync(path.join(state, "pending"), { recursive: true });
    fs.writeFileSync(path.join(state, "pending/pending.json"), JSON.stringify({ id: "1", owner: 999999999, bundle: "/elsewhere", bundleId: "x", firewall: "nftables", deadline: Date.now() + 60_000, timeout: 60, devices: [] }));
    fs.writeFileSync(path.join(state, "pending/watcher.pid"), String(process.pid));
    const second = applyBundle({ bundleDir: dir, stateDir: state, timeout: 5, yes: false, force: false, interactive: false, log: () => {} });
    expect(second.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([`E1006 another \`wgpc apply\` (pid ${process.pid}) is waiting for confirmation`]);
    // a dead watcher's apply cannot be confirmed, and its saved state is kept for the next apply to put back
    fs.writeFileSync(path.join(state, "pending/watcher.pid"), "999999999");
    expect(confirmPending(state, () => {}).diagnostics.map((d) => d.code)).toEqual(["E1005"]);
    expect(fs.existsSync(path.join(state, "pending/pending.json"))).toBe(true);
  });
});

describe("the Ansible files", () => {
  it("name every machine of the seed with its address and the packages its bundle needs", () => {
    const seed = compileFiles([SEED]);
    const files = ansibleBundle(seed.policy!, seed.bundles!);
    expect(files.host).toBe("ansible");
    const inventory = files.artifacts.find((a) => a.path === "inventory.yml")!.text;
    for (const [host, address] of [["vpn-core", "10.0.123.2"], ["client-a", "10.0.123.3"], ["client-b", "10.0.123.4"]]) {
      expect(inventory).toContain(`        "${host}":\n          ansible_host: "${address}"\n`);
    }
    expect(inventory).toMatch(/wgpc_hub:\n {6}hosts:\n {8}"vpn-core":/);
    const hub = seed.bundles!.find((b) => b.host === "vpn-core")!;
    expect(packagesFor(hub)).toEqual(["bpftool", "clang", "iproute2", "iptables", "libbpf-dev", "linux-libc-dev", "llvm", "nftables", "nodejs", "wireguard-tools"]);
    expect(packagesFor(seed.bundles!.find((b) => b.host === "client-a")!)).toEqual(["iproute2", "iptables", "nftables", "nodejs", "wireguard-tools"]);
    const playbook = files.artifacts.find((a) => a.path === "playbook.yml")!.text;
    // confirmation only over a new connection, after the apply is waiting
    const order = ["apply {{ wgpc_root }}/incoming", "apply --status", "meta: reset_connection", "wait_for_connection", "apply --confirm"].map((s) => playbook.indexOf(s));
    expect(order.every((at, i) => at > 0 && (i === 0 || at > order[i - 1]!))).toBe(true);
    expect(playbook).toContain('serial: "{{ wgpc_serial | default(5) }}"');
    expect(playbook).toContain('max_fail_percentage: "{{ wgpc_max_fail_percentage | default(0) }}"');
  });

  it("refuse a machine named like a group of the inventory or the ansible directory, at its name", () => {
    // in the inventory such a host would stand for the group: the playbook would run on it alone
    for (const name of ["wgpc", "all", "ungrouped", "wgpc_hub", "wgpc_peers", "wgpc_hosts", "ansible"]) {
      const result = compileText(`host ${name} 10.0.0.8 on eth0\nhost b 10.0.0.9 on eth0\nallow b -> ${name}:22/tcp\n`);
      expect(result.bundles, name).toBeUndefined();
      const d = result.diagnostics.find((x) => x.slug === "invalid-machine-name");
      expect(d?.message, name).toBe(`\`${name}\` cannot name a machine: \`--emit ansible\` uses it (a directory, or a group of the inventory)`);
      expect(result.sources.position(d!.span!.file, d!.span!.start)).toEqual({ line: 1, column: 6 });
    }
  });
});

describe("the compared forms", () => {
  it("leave out comments and counters, and sort hash sets", () => {
    expect(restoreForm("# Generated by iptables-save\n*filter\n:INPUT DROP [12:3400]\n-A INPUT -j ACCEPT\nCOMMIT\n# Completed\n")).toBe("*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\nCOMMIT");
    const nft = "# header\ntable inet wgpc {\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.2, 10.0.0.1 }\n\t}\n}\n";
    expect(nftTableForm(nft)).toBe("table inet wgpc {\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1,\n\t\t\t     10.0.0.2 }\n\t}\n}");
    expect(ipsetMembers("create wgpc-a-n hash:net,port family inet\nadd wgpc-a-n 10.0.0.0/8,tcp:80-82\nadd wgpc-a-n 10.1.0.0/16,tcp:22\n", "-n")).toEqual(
      new Map([["wgpc-a", ["10.0.0.0/8,tcp:80", "10.0.0.0/8,tcp:81", "10.0.0.0/8,tcp:82", "10.1.0.0/16,tcp:22"]]]),
    );
    expect(ipsetMembers("create wgpc-b hash:net family inet\nadd wgpc-b 10.0.0.1\n", "")).toEqual(new Map([["wgpc-b", ["10.0.0.1"]]]));
    expect(lineDifference("a\nb\nc", "a\nc\nd")).toEqual({ missing: ["b"], extra: ["d"], missingCount: 1, extraCount: 1 });
    expect(lineDifference("x\nx\nx\ny", "y", 2)).toEqual({ missing: ["x", "x"], extra: [], missingCount: 3, extraCount: 0 });
  });
});
