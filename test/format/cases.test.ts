// Input/output pairs: test/format/cases/<name>/input.wgp formats to
// output.wgp, and formatting output.wgp again changes nothing.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { formatPolicyText } from "../../src/format/format.js";
import { ROOT } from "../support/compile.js";

const DIR = path.join(ROOT, "test/format/cases");
const cases = fs.readdirSync(DIR).sort();

const format = (text: string): string => {
  const result = formatPolicyText(text);
  if (!result.ok) throw new Error(result.diagnostics.map((d) => d.slug).join(", "));
  return result.text;
};

describe("format pairs", () => {
  it("has the pairs the formatter promises", () => {
    expect(cases).toEqual(expect.arrayContaining(["every-statement", "comments", "long-lists", "ipv6-spellings", "crlf", "no-final-newline"]));
    expect(fs.readFileSync(path.join(DIR, "crlf/input.wgp"), "utf8")).toContain("\r\n");
    expect(fs.readFileSync(path.join(DIR, "no-final-newline/input.wgp"), "utf8")).not.toMatch(/\n$/);
  });

  it.each(cases)("%s", (name) => {
    const input = fs.readFileSync(path.join(DIR, name, "input.wgp"), "utf8");
    const output = fs.readFileSync(path.join(DIR, name, "output.wgp"), "utf8");
    expect(format(input)).toBe(output);
    expect(format(output)).toBe(output);
  });

  it("prints every statement kind", () => {
    const text = fs.readFileSync(path.join(DIR, "every-statement/output.wgp"), "utf8");
    for (const word of ["import", "vpn", "host", "group", "service", "allow", "masquerade", "default", "link", "shape", "delay", "drop", "expect"]) {
      expect(text).toMatch(new RegExp(`^${word} `, "m"));
    }
  });
});
