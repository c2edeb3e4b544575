// `wgpc fmt` as a user and an editor run it, and prettier with the plugin.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ROOT } from "../support/compile.js";

const CLI = path.join(ROOT, "dist/src/cli/main.js");
const PLUGIN = path.join(ROOT, "dist/src/format/plugin.js");
const EXAMPLES = ["examples/seed-lab/policy.wgp", "examples/atlas-lab/policy.wgp"].map((f) => path.join(ROOT, f));
let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-fmt-"));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(command: string, args: string[], input?: string) {
  const r = spawnSync(command, args, { cwd: tmp, encoding: "utf8", input });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const wgpc = (args: string[], input?: string) => run(process.execPath, [CLI, ...args], input);

const write = (name: string, text: string) => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
};

const UNTIDY = "host a 192.0.2.1\nallow any->a:ssh\ndeny 2001:DB8::/32 -> a\n";
const TIDY = "host a 192.0.2.1\nallow any           -> a:ssh\ndeny  2001:db8::/32 -> a\n";

describe("wgpc fmt", () => {
  it("rewrites files in place, leaving nothing else behind", () => {
    const file = write("p.wgp", UNTIDY);
    fs.chmodSync(file, 0o640);
    const r = wgpc(["fmt", file]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toBe(TIDY);
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
    expect(fs.readdirSync(tmp)).toEqual(["p.wgp"]);
  });

  it("--check lists the files that are not formatted and exits 1, writing nothing", () => {
    const untidy = write("untidy.wgp", UNTIDY);
    const tidy = write("tidy.wgp", TIDY);
    const r = wgpc(["fmt", "--check", untidy, tidy]);
    expect(r.code).toBe(1);
    expect(r.out).toBe(`${untidy}\n`);
    expect(fs.readFileSync(untidy, "utf8")).toBe(UNTIDY);
    expect(wgpc(["fmt", "--check", tidy]).code).toBe(0);
  });

  it("--stdin formats standard input to standard output", () => {
    const r = wgpc(["fmt", "--stdin"], UNTIDY.replace(/\n/g, "\r\n"));
    expect(r.code).toBe(0);
    expect(r.out).toBe(TIDY);
  });

  it("leaves a file with a syntax error byte-identical, exits 1 with the positioned diagnostic", () => {
    const text = "host a 192.0.2.1\r\nallow any -> \r\n  # half a rule\r\n";
    const file = write("bad.wgp", text);
    const r = wgpc(["fmt", file]);
    expect(r.code).toBe(1);
    // at the end of input: just past the last token
    expect(r.err).toContain(`${file}:2:13: error[E0103]: expected a name, IPv4 address, IPv6 address, \`[\` or \`{\`, found end of file`);
    expect(r.err).toContain("2 | allow any -> \n");
    expect(r.err).toContain("1 error");
    expect(fs.readFileSync(file)).toEqual(Buffer.from(text));
    expect(fs.readdirSync(tmp)).toEqual(["bad.wgp"]);
  });

  it("refuses a file whose AST would lose an option given twice", () => {
    const text = "shape a 1mbit ceil 2mbit ceil 3mbit\n";
    const file = write("twice.wgp", text);
    expect(wgpc(["fmt", file]).code).toBe(1);
    expect(fs.readFileSync(file, "utf8")).toBe(text);
  });

  it("finds the committed examples formatted, and prettier with the plugin agrees", () => {
    expect(wgpc(["fmt", "--check", ...EXAMPLES])).toMatchObject({ code: 0, out: "" });
    const prettier = path.join(ROOT, "node_modules/.bin/prettier");
    expect(run(prettier, ["--plugin", PLUGIN, "--check", ...EXAMPLES]).code).toBe(0);
    const untidy = write("untidy.wgp", UNTIDY);
    expect(run(prettier, ["--plugin", PLUGIN, "--check", untidy]).code).toBe(1);
    expect(run(prettier, ["--plugin", PLUGIN, untidy]).out).toBe(TIDY);
  });

  it("formats through a symbolic link into the file it names, and leaves a read-only file alone", () => {
    const file = write("p.wgp", UNTIDY);
    fs.symlinkSync("p.wgp", path.join(tmp, "link.wgp"));
    expect(wgpc(["fmt", path.join(tmp, "link.wgp")]).code).toBe(0);
    expect(fs.lstatSync(path.join(tmp, "link.wgp")).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(file, "utf8")).toBe(TIDY);
    const readOnly = write("ro.wgp", UNTIDY);
    fs.chmodSync(readOnly, 0o444);
    const r = wgpc(["fmt", readOnly]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("error[E0003]: cannot write");
    expect(fs.readFileSync(readOnly, "utf8")).toBe(UNTIDY);
  });

  it("takes a UTF-8 byte order mark from a file or stdin, and refuses a directory or endless stdin with a diagnostic", () => {
    const file = path.join(tmp, "bom.wgp");
    fs.writeFileSync(file, `\ufeff${UNTIDY}`);
    expect(wgpc(["fmt", file]).code).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toBe(TIDY);
    expect(wgpc(["fmt", "--stdin"], `\ufeff${UNTIDY}`).out).toBe(TIDY);
    const dir = spawnSync("sh", ["-c", `node ${CLI} fmt --stdin < ${tmp}`], { encoding: "utf8" });
    expect(dir.status).toBe(2);
    expect(dir.stderr).toContain("cannot read `<stdin>`: it is a directory");
    const endless = spawnSync("sh", ["-c", `node ${CLI} fmt --stdin < /dev/zero`], { encoding: "utf8", timeout: 30_000 });
    expect(endless.status).toBe(2);
    expect(endless.stderr).toContain("it is larger than 16 MiB");
  });

  it("has a help entry", () => {
    expect(wgpc(["--help"]).out).toContain("fmt FILE...");
    expect(wgpc(["fmt", "--help"])).toMatchObject({ code: 0 });
  });
});
