// `--format sarif` gives a log that the SARIF 2.1.0 schema accepts and that
// says what the text rendering says: same codes, same line:col, same levels.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import type { SarifLog, SarifResult } from "../src/diagnostics/sarif.js";
import { ROOT } from "./support/compile.js";

const schema = JSON.parse(fs.readFileSync(path.join(ROOT, "test/fixtures/sarif-schema-2.1.0.json"), "utf8"));
// strict off: the schema uses keywords and defaults that ajv's strict mode rejects
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);
const validate = ajv.compile(schema);

let tmp: string;
let cwd: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-sarif-"));
  // relative paths, as a CI job passes them, start from here
  cwd = process.cwd();
  process.chdir(tmp);
});
afterAll(() => {
  process.chdir(cwd);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function wgpc(...args: string[]) {
  let out = "";
  let err = "";
  const code = main(args, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

function sarifOf(...args: string[]) {
  const r = wgpc(...args);
  const log = JSON.parse(r.out) as SarifLog;
  expect(validate(log), ajv.errorsText(validate.errors)).toBe(true);
  return { ...r, log, run: log.runs[0] };
}

/** `file:line:col: severity[CODE]` of each diagnostic of the text rendering. */
function textPositions(file: string): { code: string; level: string; line: number; column: number }[] {
  const r = wgpc("check", file);
  return [...r.err.matchAll(/^[^\s:]+:(\d+):(\d+): (error|warning|note)\[(\w+)\]/gm)].map((m) => ({
    code: m[4]!,
    level: m[3]!,
    line: Number(m[1]),
    column: Number(m[2]),
  }));
}

const write = (name: string, text: string) => {
  fs.mkdirSync(path.dirname(name), { recursive: true });
  fs.writeFileSync(name, text);
  return name;
};

describe("wgpc check --format sarif", () => {
  it("describes errors as the text renderer positions them, and is a valid SARIF 2.1.0 log", () => {
    // an astral character before the mistake: columns count code points, not UTF-16 units
    const file = write(
      "policies/errors.wgp",
      'host web 192.0.2.1\nallow any -> web:22/tcp comment "ok 😀" allow any -> wbe:22/tcp\ngroup web = 192.0.2.0/24\nallow any -> web:70000/tcp\n',
    );
    const { code, run } = sarifOf("check", file, "--format", "sarif");
    expect(code).toBe(1);
    expect(run.tool.driver.name).toBe("wgpc");
    expect(run.tool.driver.version).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version);
    expect(run.columnKind).toBe("unicodeCodePoints");

    const text = textPositions(file);
    expect(text.map((t) => t.code).sort()).toEqual(["E0201", "E0202", "E0401"]);
    expect(run.results).toHaveLength(text.length);
    run.results.forEach((r, i) => {
      const rule = run.tool.driver.rules[r.ruleIndex];
      expect(r.ruleId).toBe(text[i]!.code);
      expect(rule.id).toBe(r.ruleId);
      expect(r.level).toBe(text[i]!.level);
      expect(rule.defaultConfiguration.level).toBe(r.level);
      const location = r.locations![0]!.physicalLocation;
      expect(location.artifactLocation).toEqual({ uri: "policies/errors.wgp", uriBaseId: "%SRCROOT%" });
      expect([location.region.startLine, location.region.startColumn]).toEqual([text[i]!.line, text[i]!.column]);
    });

    const unknown = run.results.find((r) => r.ruleId === "E0201")!;
    expect(unknown.message.text).toBe("unknown name `wbe`\nhelp: did you mean `web`?");
    expect(unknown.properties).toEqual({ help: "did you mean `web`?" });
    expect(unknown.locations![0]!.physicalLocation.region).toEqual({ startLine: 2, startColumn: 53, endLine: 2, endColumn: 56 });
    const rule = run.tool.driver.rules[unknown.ruleIndex];
    expect(rule.name).toBe("unknown-name");
    expect(rule.fullDescription.text).toBe("A name is used that no statement defines.");

    // the first definition of a duplicate is a related location
    const duplicate = run.results.find((r) => r.ruleId === "E0202")!;
    expect(duplicate.relatedLocations).toEqual([
      {
        id: 1,
        message: { text: "`web` is first defined here" },
        physicalLocation: {
          artifactLocation: { uri: "policies/errors.wgp", uriBaseId: "%SRCROOT%" },
          region: { startLine: 1, startColumn: 6, endLine: 1, endColumn: 9 },
        },
      },
    ]);
  });

  it("reports warnings at level warning, exit 0, with stdout only the log", () => {
    const file = write("warnings.wgp", "host web 192.0.2.1\nallow 10.1.2.3/8 -> web:22/tcp\n");
    const { code, run, err } = sarifOf("check", file, "--format", "sarif");
    expect(code).toBe(0);
    // the summary line leaves stdout to the log
    expect(err).toBe("ok: 1 machine checked\n");
    const text = textPositions(file);
    expect(text).toEqual([{ code: "W0302", level: "warning", line: 2, column: 7 }]);
    expect(run.results).toHaveLength(1);
    const result = run.results[0] as SarifResult;
    expect(result.ruleId).toBe("W0302");
    expect(result.level).toBe("warning");
    expect(run.tool.driver.rules[result.ruleIndex]).toMatchObject({ id: "W0302", name: "host-bits-set", defaultConfiguration: { level: "warning" } });
    expect(result.locations![0]!.physicalLocation.region).toMatchObject({ startLine: 2, startColumn: 7 });
    // --quiet leaves warnings out of the log too, and the summary line
    const quiet = sarifOf("check", file, "--format", "sarif", "--quiet");
    expect(quiet).toMatchObject({ code: 0, err: "" });
    expect(quiet.run.results).toEqual([]);
    // --strict fails on them, and keeps them in the log even under --quiet
    const strict = sarifOf("check", file, "--format", "sarif", "--quiet", "--strict");
    expect(strict.code).toBe(1);
    expect(strict.run.results.map((r) => r.ruleId)).toEqual(["W0302"]);
  });

  it("writes an empty log for a clean policy, and compile's progress lines go to stderr", () => {
    const file = write("clean.wgp", "host web 192.0.2.1\nallow any -> web:22/tcp\n");
    const check = sarifOf("check", file, "--format", "sarif");
    expect(check.code).toBe(0);
    expect(check.run.results).toEqual([]);
    expect(check.run.tool.driver.rules).toEqual([]);
    const compile = sarifOf("compile", file, "-o", "out", "--target", "nftables", "--format", "sarif");
    expect(compile.code).toBe(0);
    expect(compile.run.results).toEqual([]);
    expect(compile.err).toContain("wrote out/web/: ruleset.nft");
  });

  it("gives usage errors a result without a location", () => {
    const file = write("clean2.wgp", "host web 192.0.2.1\n");
    for (const args of [["check", file, "--format", "sarif", "--bogus"], ["compile", file, "--target", "pf", "--format=sarif"]]) {
      const { code, run } = sarifOf(...args);
      expect(code).toBe(2);
      expect(run.results).toHaveLength(1);
      expect(run.results[0]!.locations).toBeUndefined();
      expect(["E0001", "E0005"]).toContain(run.results[0]!.ruleId);
    }
  });

  it("names a file outside the directory it runs in by an absolute file URI", () => {
    const file = path.join(ROOT, "test/bad/typo-in-name.wgp");
    const { run } = sarifOf("check", path.relative(tmp, file), "--format", "sarif");
    expect(run.results[0]!.locations![0]!.physicalLocation.artifactLocation).toEqual({ uri: `file://${file}` });
  });
});
