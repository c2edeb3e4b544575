// The command line as a user runs it: exit codes, what is written, what is
// left alone. Runs the built CLI (npm test builds first).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ROOT } from "./support/compile.js";

const CLI = path.join(ROOT, "dist/src/cli/main.js");
const SEED = path.join(ROOT, "examples/seed-lab/policy.wgp");
let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-cli-"));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function wgpc(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: "utf8" });
  // a user never sees a stack trace
  expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Every file under dir with its bytes, to prove nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      out[path.relative(dir, file)] = fs.readFileSync(file, "utf8");
    }
  }
  return out;
}

// a hub, and a machine on the VPN to shape
const HUBBED = 'vpn v on wg0 {\n network 10.9.0.0/24\n hub gw 10.9.0.1 endpoint 192.0.2.1:51820 key "wohuCPBh1+tIOgmVp9ydob7gVOs+XjVaY1CFSWyIB7A="\n peer h 10.9.0.2 key "GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I="\n}\n';

const write = (name: string, text: string) => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
};

describe("wgpc compile", () => {
  it("writes a bundle per host and a manifest whose hashes match the files", () => {
    const r = wgpc("compile", SEED, "-o", "out");
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      "wrote out/vpn-core/: iptables.rules, ip6tables.rules, ruleset.nft, tc.batch, xdp/wgpc_xdp.c, xdp/wgpc_xdp.h, xdp/load.sh, xdp/interfaces, xdp/eth0/maps.batch, xdp/eth0/maps.json, wg0.conf, ir.json, apply.sh, SHA256SUMS",
    );
    expect(r.out).toContain("wrote out/client-a/: iptables.rules, ip6tables.rules, ruleset.nft, wg0.conf, ir.json, apply.sh, SHA256SUMS\n");
    expect(r.out).toContain("(3 hosts, targets: iptables, nftables, tc, xdp, wireguard, 5 expectations hold)");
    for (const host of ["client-a", "client-b"]) {
      expect(fs.readdirSync(path.join(tmp, "out", host)).sort()).toEqual(["SHA256SUMS", "apply.sh", "ip6tables.rules", "iptables.rules", "ir.json", "ruleset.nft", "wg0.conf"]);
    }
    expect(fs.readdirSync(path.join(tmp, "out", "vpn-core")).sort()).toEqual(["SHA256SUMS", "apply.sh", "ip6tables.rules", "iptables.rules", "ir.json", "ruleset.nft", "tc.batch", "wg0.conf", "xdp"]);
    // the load script can be run as it is
    expect(fs.statSync(path.join(tmp, "out/vpn-core/xdp/load.sh")).mode & 0o111).toBe(0o111);
    const manifest = JSON.parse(fs.readFileSync(path.join(tmp, "out/manifest.json"), "utf8"));
    expect(manifest.compiler).toEqual({ name: "wgpc", version: "0.1.0" });
    expect(manifest.outputs).toHaveLength(28);
    for (const o of manifest.outputs) {
      const bytes = fs.readFileSync(path.join(tmp, "out", o.path));
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(o.sha256);
    }
    // named from the output directory, the stdlib by its own name
    const inputs = manifest.inputs.map((i: { path: string }) => i.path).sort();
    expect(inputs).toEqual(["<stdlib>/icmp.wgp", "<stdlib>/services.wgp", path.relative(path.join(tmp, "out"), SEED)].sort());
  });

  it("is deterministic: the same input gives the same bytes", () => {
    wgpc("compile", SEED, "-o", "a");
    wgpc("compile", SEED, "-o", "b");
    expect(snapshot(path.join(tmp, "a"))).toEqual(snapshot(path.join(tmp, "b")));
  });

  it("writes only the selected hosts and targets", () => {
    const r = wgpc("compile", SEED, "-o", "out", "--host", "client-b", "--target", "nftables");
    expect(r.code).toBe(0);
    expect(Object.keys(snapshot(path.join(tmp, "out"))).sort()).toEqual(["client-b/SHA256SUMS", "client-b/apply.sh", "client-b/ir.json", "client-b/ruleset.nft", "manifest.json"]);
  });

  it.each([
    ["a typo in a name", "host web 192.0.2.1\nallow any -> wbe:22/tcp\n", "policy.wgp:2:14: error[E0201]"],
    ["a bad CIDR", "host web 192.0.2.1\nallow 10.0.0.0/40 -> web:22/tcp\n", "policy.wgp:2:7: error[E0301]"],
    ["port 70000", "host web 192.0.2.1\nallow any -> web:70000/tcp\n", "policy.wgp:2:18: error[E0401]"],
    ["an unknown keyword", "host web 192.0.2.1\npermit any -> web:22/tcp\n", "policy.wgp:2:1: error[E0103]"],
    ["an unterminated string", 'host web 192.0.2.1 allow any -> web:22/tcp comment "x\n', "policy.wgp:1:52: error[E0102]"],
    ["an empty file", "", "policy.wgp:1:1: error[E0104]"],
    ["binary garbage", "\u0000\u0001\u00ff\u00fe", "policy.wgp:1:1: error[E0007]"],
    ["a rate in mbps", `${HUBBED}shape h 100mbps\n`, "policy.wgp:6:9: error[E0701]"],
    ["a ceiling below the rate", `${HUBBED}shape h 10mbit ceil 1mbit\n`, "policy.wgp:6:21: error[E0702]"],
    ["guaranteed rates over the link", `${HUBBED}link wg0 10mbit\nshape h 8mbit\nshape vpn 8mbit\n`, "policy.wgp:7:1: error[E0703]"],
  ])("refuses %s with a positioned diagnostic, exit 1, and leaves the old bundle intact", (_, text, expected) => {
    expect(wgpc("compile", SEED, "-o", "out").code).toBe(0);
    const before = snapshot(path.join(tmp, "out"));
    const bad = write("policy.wgp", text);
    const r = wgpc("compile", bad, "-o", "out");
    expect(r.code).toBe(1);
    expect(r.err).toContain(expected);
    expect(r.err).toMatch(/\n\d+ \| .*\n\s+\| +\^+/);
    expect(snapshot(path.join(tmp, "out"))).toEqual(before);
    // and no half-written staging directory is left next to it
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith(".out"))).toEqual([]);
  });

  it("gives diagnostics as JSON objects with --format json", () => {
    const bad = write("policy.wgp", "host web 192.0.2.1\nallow any -> wbe:22/tcp\n");
    const r = wgpc("compile", bad, "--format", "json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.err)).toEqual([
      {
        code: "E0201",
        slug: "unknown-name",
        severity: "error",
        message: "unknown name `wbe`",
        file: bad,
        line: 2,
        column: 14,
        endLine: 2,
        endColumn: 17,
        help: "did you mean `web`?",
        related: [],
      },
    ]);
  });

  it("refuses to replace a directory that is not a wgpc output", () => {
    fs.mkdirSync(path.join(tmp, "home"));
    fs.writeFileSync(path.join(tmp, "home/thesis.tex"), "precious");
    const r = wgpc("compile", SEED, "-o", "home");
    expect(r.code).toBe(2);
    expect(r.err).toContain("error[E0003]");
    expect(snapshot(path.join(tmp, "home"))).toEqual({ "thesis.tex": "precious" });
  });

  it("never replaces a directory whose manifest.json is not wgpc's, nor an output that holds files wgpc did not write", () => {
    // a project that happens to have a manifest.json
    fs.mkdirSync(path.join(tmp, "proj/src"), { recursive: true });
    fs.writeFileSync(path.join(tmp, "proj/manifest.json"), '{"name":"my web app"}');
    fs.writeFileSync(path.join(tmp, "proj/src/app.js"), "x");
    const project = wgpc("compile", SEED, "-o", "proj");
    expect(project.code).toBe(2);
    expect(project.err).toContain("error[E0003]");
    expect(snapshot(path.join(tmp, "proj"))).toEqual({ "manifest.json": '{"name":"my web app"}', "src/app.js": "x" });
    // a real output with a note added by hand
    expect(wgpc("compile", SEED, "-o", "out").code).toBe(0);
    fs.writeFileSync(path.join(tmp, "out/client-b/notes.txt"), "keep me");
    const before = snapshot(path.join(tmp, "out"));
    const again = wgpc("compile", SEED, "-o", "out");
    expect(again.code).toBe(2);
    expect(again.err).toContain("it holds files that wgpc did not write (client-b/notes.txt)");
    expect(snapshot(path.join(tmp, "out"))).toEqual(before);
    // without the stray file, the output is replaced as before
    fs.rmSync(path.join(tmp, "out/client-b/notes.txt"));
    expect(wgpc("compile", SEED, "-o", "out").code).toBe(0);
    // through a symbolic link: the directory it names is replaced, the link stays a link to it
    fs.symlinkSync("out", path.join(tmp, "current"));
    fs.rmSync(path.join(tmp, "out/client-b/ruleset.nft"));
    expect(wgpc("compile", SEED, "-o", "current").code).toBe(0);
    expect(fs.lstatSync(path.join(tmp, "current")).isSymbolicLink()).toBe(true);
    expect(fs.existsSync(path.join(tmp, "out/client-b/ruleset.nft"))).toBe(true);
  });

  it("reads wgpc.toml next to the policy and reports a bad one with its position", () => {
    const policy = write("policy.wgp", "host web 192.0.2.1\nallow any -> web:22/tcp\n");
    write("wgpc.toml", 'output = "bundles"\ntargets = ["nftables"]\n');
    expect(wgpc("compile", policy).code).toBe(0);
    expect(Object.keys(snapshot(path.join(tmp, "bundles"))).sort()).toEqual(["manifest.json", "web/SHA256SUMS", "web/apply.sh", "web/ir.json", "web/ruleset.nft"]);
    write("wgpc.toml", 'output = "bundles"\ntargetz = ["nftables"]\n');
    const r = wgpc("compile", policy);
    expect(r.code).toBe(2);
    expect(r.err).toContain("wgpc.toml:2:1: error[E0004]: invalid wgpc.toml: unknown key `targetz`");
  });
});

describe("wgpc check and usage", () => {
  it("says in one line when its output cannot be written, and is quiet when the reader stops early", () => {
    const full = fs.openSync("/dev/full", "w");
    try {
      const r = spawnSync(process.execPath, [CLI, "--help"], { stdio: ["ignore", full, "pipe"], encoding: "utf8" });
      expect(r.status).toBe(2);
      expect(r.stderr).toBe("wgpc: cannot write the output (ENOSPC)\n");
    } finally {
      fs.closeSync(full);
    }
    // far more than a pipe holds, read 10 bytes of: the writer gets EPIPE
    const big = Array.from({ length: 20_000 }, (_, i) => `host h${i} 10.${i >> 8}.${i & 255}.1`).join("\n");
    const piped = spawnSync("sh", ["-c", `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} fmt --stdin | head -c 10 >/dev/null`], { input: big, encoding: "utf8" });
    expect(piped.stderr).toBe("");
  });

  it("checks without writing", () => {
    const r = wgpc("check", SEED);
    expect(r.code).toBe(0);
    expect(r.out).toBe("ok: 3 machines checked, 5 expectations hold\n");
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it.each([
    [["frobnicate"], "wgpc: error[E0001]: unknown command `frobnicate`"],
    [["compile"], "wgpc: error[E0001]: `wgpc compile` needs at least one policy file"],
    [["compile", "missing.wgp"], "wgpc: error[E0002]: cannot read `missing.wgp`: no such file"],
    [["compile", SEED, "--target", "pf"], "wgpc: error[E0005]: unknown target `pf` (known: iptables, nftables, tc, xdp, wireguard)"],
    [["compile", SEED, "--bogus"], "wgpc: error[E0001]: unknown option `--bogus`"],
    [["compile", SEED, "--host", "nobody"], "wgpc: error[E0006]: no machine called `nobody` in the policy"],
    [["check", SEED, "--format", "xml"], "wgpc: error[E0001]: unknown format `xml` (text, json, sarif)"],
  ])("exits 2 on %j", (args, message) => {
    const r = wgpc(...args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });

  it("refuses a file too large to be a policy without reading it", () => {
    // sparse: 16 MiB and one byte that take no room on the disk
    const big = write("big.wgp", "");
    fs.truncateSync(big, 16 * 1024 * 1024 + 1);
    const r = wgpc("check", "big.wgp");
    expect(r.code).toBe(2);
    expect(r.err).toContain("wgpc: error[E0002]: cannot read `big.wgp`: it is larger than 16 MiB");
  });

  it("tests a policy's expectations alone, naming the rule that decides a failed one", () => {
    const ok = wgpc("test", SEED);
    expect(ok.code).toBe(0);
    expect(ok.out).toBe("5 passed, 0 failed\n");
    const broken = write("policy.wgp", fs.readFileSync(SEED, "utf8").replace('allow vpn -> client-b:nc comment "nc for VPN members"', "deny vpn -> client-b:nc"));
    const r = wgpc("test", broken);
    expect(r.code).toBe(1);
    expect(r.out).toBe("3 passed, 2 failed\n");
    expect(r.err).toMatch(/error\[E0605\]: expectation failed: expected allow, got deny at .*\(drop by the rule at policy\.wgp:\d+\)/);
  });

  it("explains a diagnostic code", () => {
    const r = wgpc("explain-code", "e0304");
    expect(r.code).toBe(0);
    expect(r.out).toBe("E0304 family-mismatch (error)\n\nA rule whose source and destination have no address family in common can never match.\n");
    expect(wgpc("explain-code", "E9999").code).toBe(2);
  });

  it("explains a packet the hub's XDP program drops before its firewall sees it, and expectations see that drop too", () => {
    const r = wgpc("explain", SEED, "10.0.123.66 -> client-b:ping");
    expect(r.code).toBe(0);
    const blocks = r.out.split("\n\n");
    // over the VPN the hub's early drop takes it; on the physical network the hub is not on the path
    expect(blocks).toContain(["refused: 10.0.123.66 → 192.168.4.3 icmp type 8, IPv4, state new", "  vpn-core early (XDP on eth0): drop by policy.wgp:46  drop from 10.0.123.66 early"].join("\n"));
    expect(blocks.some((b) => b.startsWith("delivered: 10.0.123.66 → 10.0.123.4 icmp type 8"))).toBe(true);
    const json = JSON.parse(wgpc("explain", SEED, "10.0.123.66 -> vpn-core:ping", "--format", "json").out);
    expect(json.paths[0].hops).toEqual([
      { host: "vpn-core", hook: "early", device: "eth0", family: 4, verdict: "drop", decidedBy: "rule", rule: { label: "policy.wgp:46", text: "drop from 10.0.123.66 early" }, passedOver: [], morePassedOver: 0 },
    ]);
    // an expectation that the early drop keeps the source out holds; the opposite names the drop
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-early-"));
    try {
      const seed = fs.readFileSync(SEED, "utf8");
      fs.writeFileSync(path.join(dir, "holds.wgp"), `${seed}expect 10.0.123.66 -> vpn-core:ping deny\n`);
      expect(wgpc("test", path.join(dir, "holds.wgp")).code).toBe(0);
      fs.writeFileSync(path.join(dir, "fails.wgp"), `${seed}expect 10.0.123.66 -> vpn-core:ping allow\n`);
      const failed = wgpc("test", path.join(dir, "fails.wgp"));
      expect(failed.code).toBe(1);
      expect(failed.err).toContain("got deny at 10.0.123.66 → 10.0.123.2: `vpn-core` early drop on eth0 (drop by the rule at fails.wgp:46)");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("explains a question: per enforcement point, the deciding rule with its line and the rules passed over", () => {
    const r = wgpc("explain", SEED, "client-a -> client-b:1234/tcp");
    expect(r.code).toBe(0);
    const blocks = r.out.split("\n\n");
    expect(blocks[0]).toBe("client-a -> client-b:1234/tcp");
    // the physical path: refused by the deny, after passing over the allow
    expect(blocks).toContain(
      [
        "refused: 10.0.123.3 → 10.0.123.4 tcp/1234, IPv4, state new",
        "  client-b input: drop by policy.wgp:27  deny  any -> client-b:nc",
        '      passed over policy.wgp:26  allow vpn -> client-b:nc comment "nc for VPN members"',
      ].join("\n"),
    );
    // over the VPN: the hub forwards, client-b accepts, both by the allow
    expect(blocks).toContain(
      [
        "delivered: 192.168.4.2 → 192.168.4.3 tcp/1234, IPv4, state new, over the VPN",
        '  vpn-core forward: accept by policy.wgp:26  allow vpn -> client-b:nc comment "nc for VPN members"',
        '  client-b input: accept by policy.wgp:26  allow vpn -> client-b:nc comment "nc for VPN members"',
      ].join("\n"),
    );
    expect(blocks[blocks.length - 1]).toBe("4 paths delivered, 2 refused\n");
  });

  it("explains as JSON, with states and families as asked", () => {
    const r = wgpc("explain", SEED, "2001:db8:ffff::1 -> client-b:ssh family 6", "--format", "json");
    expect(r.code).toBe(0);
    const x = JSON.parse(r.out);
    expect(x.delivered).toBe(0);
    // client-b's physical address, and its overlay one through the hub
    expect(x.paths.map((p: { packet: { family: number; destination: string } }) => `${p.packet.family} ${p.packet.destination}`)).toEqual(["6 2001:db8:123::4", "6 fd00:4::3"]);
    expect(x.paths[0].hops).toEqual([expect.objectContaining({ host: "client-b", hook: "input", verdict: "drop", decidedBy: "default" })]);
    expect(x.paths[1].hops).toEqual([expect.objectContaining({ host: "vpn-core", hook: "forward", verdict: "drop", decidedBy: "default" })]);
    const established = JSON.parse(wgpc("explain", SEED, "2001:db8:ffff::1 -> client-b:ssh state established", "--format", "json").out);
    expect(established.paths[0].hops[0]).toMatchObject({ verdict: "accept", decidedBy: "always-there rule", rule: { label: "established and related" } });
  });

  it("refuses an empty or wrong question with a positioned diagnostic", () => {
    const empty = wgpc("explain", SEED, "  ");
    expect(empty.code).toBe(1);
    expect(empty.err).toContain("<question>:1:1: error[E0109]: the question is empty");
    const unknown = wgpc("explain", SEED, "client-a -> client-c:ssh");
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain("<question>:1:13: error[E0201]: unknown name `client-c`");
    expect(unknown.err).toContain("did you mean `client-a`?");
    expect(wgpc("explain", SEED).code).toBe(2);
    expect(wgpc("explain", "--code", "W0620").out).toContain("W0620 rule-shadowed (warning)");
  });

  it("runs as the README says, `npx wgpc`, from the package", () => {
    expect(fs.statSync(CLI).mode & 0o111, "the entry point is executable").toBe(0o111);
    const r = spawnSync("npx", ["--no-install", "wgpc", "--version"], { cwd: ROOT, encoding: "utf8" });
    expect(r.stdout, r.stderr).toBe("wgpc 0.1.0\n");
  });

  it("has help for each command", () => {
    expect(wgpc("compile", "--help").out).toContain("usage: wgpc compile FILE...");
    expect(wgpc("check", "--help").out).toContain("usage: wgpc check FILE...");
    expect(wgpc("--version").out).toBe("wgpc 0.1.0\n");
  });
});

describe("--strict and --quiet", () => {
  // one warning (host bits set) and an expectation that holds
  const WARNS = "host web 192.0.2.1\nallow 10.1.2.3/8 -> web:22/tcp\nexpect 10.1.2.3 -> web:22/tcp allow\n";
  const CLEAN = "host web 192.0.2.1\nallow any -> web:22/tcp\n";

  it("without them, a warning is printed and the command succeeds", () => {
    const policy = write("policy.wgp", WARNS);
    const check = wgpc("check", policy);
    expect(check.code).toBe(0);
    expect(check.err).toContain("policy.wgp:2:7: warning[W0302]");
    expect(check.err).toContain("0 errors, 1 warning\n");
    expect(check.out).toBe("ok: 1 machine checked, 1 expectation holds\n");
    expect(wgpc("test", policy)).toMatchObject({ code: 0, out: "1 passed, 0 failed\n" });
  });

  it("--strict makes a warning fail check, compile (which then writes nothing) and test", () => {
    const policy = write("policy.wgp", WARNS);
    const check = wgpc("check", policy, "--strict");
    expect(check.code).toBe(1);
    expect(check.err).toContain("warning[W0302]");
    expect(check.err).toContain("0 errors, 1 warning (--strict: warnings fail)\n");
    expect(check.out).toBe("");
    const compile = wgpc("compile", policy, "-o", "out", "--strict");
    expect(compile.code).toBe(1);
    expect(compile.out).toBe("");
    expect(fs.existsSync(path.join(tmp, "out"))).toBe(false);
    const test = wgpc("test", policy, "--strict");
    expect(test.code).toBe(1);
    expect(test.out).toBe("1 passed, 0 failed\n");
    // a policy without warnings passes
    const clean = write("clean.wgp", CLEAN);
    expect(wgpc("check", clean, "--strict")).toMatchObject({ code: 0, out: "ok: 1 machine checked\n", err: "" });
    expect(wgpc("compile", clean, "-o", "out", "--strict").code).toBe(0);
  });

  it("--quiet prints nothing on success, warnings included", () => {
    const policy = write("policy.wgp", WARNS);
    expect(wgpc("check", policy, "--quiet")).toEqual({ code: 0, out: "", err: "" });
    expect(wgpc("check", policy, "-q", "--format", "json")).toEqual({ code: 0, out: "", err: "" });
    expect(wgpc("test", policy, "--quiet")).toEqual({ code: 0, out: "", err: "" });
    expect(wgpc("compile", policy, "-o", "out", "--quiet")).toEqual({ code: 0, out: "", err: "" });
    expect(fs.readdirSync(path.join(tmp, "out")).sort()).toEqual(["manifest.json", "web"]);
  });

  it("--quiet prints only the errors of a failing policy", () => {
    const policy = write("policy.wgp", `${WARNS}allow any -> wbe:22/tcp\n`);
    const r = wgpc("check", policy, "--quiet");
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toContain("policy.wgp:4:14: error[E0201]: unknown name `wbe`");
    expect(r.err).not.toContain("warning");
    expect(r.err).not.toMatch(/\d+ errors?, \d+ warnings?/);
    const json = wgpc("check", policy, "--quiet", "--format", "json");
    expect(JSON.parse(json.err).map((d: { code: string }) => d.code)).toEqual(["E0201"]);
    const broken = write("broken.wgp", WARNS.replace("allow 10.1.2.3/8", "deny 10.1.2.3/8"));
    const test = wgpc("test", broken, "--quiet");
    expect(test.code).toBe(1);
    expect(test.out).toBe("");
    expect(test.err).toContain("error[E0605]");
    expect(test.err).not.toContain("warning");
  });

  it("--quiet --strict still shows the warnings that fail", () => {
    const policy = write("policy.wgp", WARNS);
    const r = wgpc("check", policy, "--quiet", "--strict");
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toContain("warning[W0302]");
  });

  it("documents the exit codes and the flags in every help", () => {
    for (const args of [["--help"], ["compile", "--help"], ["check", "--help"], ["test", "--help"]]) {
      const r = wgpc(...args);
      expect(r.code).toBe(0);
      expect(r.out).toContain("exit codes:\n  0  ok");
      expect(r.out).toContain("1  the policy has errors, an expectation fails, or (with --strict) there are warnings");
      expect(r.out).toContain("2  usage or I/O error");
      expect(r.out).toContain("3  internal error");
      expect(r.out).toContain("--strict");
      expect(r.out).toContain("--quiet");
    }
    expect(wgpc("check", "--help").out).toContain("SARIF 2.1.0 log on stdout");
  });
});
