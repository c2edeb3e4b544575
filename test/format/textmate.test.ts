// The TextMate grammar (grammar/wgp.tmLanguage.json) tokenised with the
// engine editors use: keywords, addresses, ports, rates and comments get
// their scopes in the examples.
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import { beforeAll, describe, expect, it } from "vitest";
import vsctm from "vscode-textmate";
import oniguruma from "vscode-oniguruma";
import { ROOT } from "../support/compile.js";

const require = createRequire(import.meta.url);
let grammar: vsctm.IGrammar;

beforeAll(async () => {
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({ createOnigScanner: (p) => new oniguruma.OnigScanner(p), createOnigString: (s) => new oniguruma.OnigString(s) }),
    loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(path.join(ROOT, "grammar/wgp.tmLanguage.json"), "utf8"), "wgp.tmLanguage.json"),
  });
  grammar = (await registry.loadGrammar("source.wgp"))!;
});

/** Every token of the text with its innermost scope. */
function tokens(text: string): { text: string; scope: string }[] {
  const out: { text: string; scope: string }[] = [];
  let state = vsctm.INITIAL;
  for (const line of text.split("\n")) {
    const r = grammar.tokenizeLine(line, state);
    for (const t of r.tokens) out.push({ text: line.slice(t.startIndex, t.endIndex), scope: t.scopes[t.scopes.length - 1]! });
    state = r.ruleStack;
  }
  return out;
}

const scopeOf = (all: ReturnType<typeof tokens>, text: string) => all.find((t) => t.text === text)?.scope;

describe("the TextMate grammar", () => {
  it("scopes the seed lab", () => {
    const all = tokens(fs.readFileSync(path.join(ROOT, "examples/seed-lab/policy.wgp"), "utf8"));
    expect(scopeOf(all, "vpn")).toBe("keyword.control.statement.wgp");
    expect(scopeOf(all, "allow")).toBe("keyword.other.verdict.wgp");
    expect(scopeOf(all, "endpoint")).toBe("keyword.other.wgp");
    expect(scopeOf(all, "192.168.4.0/24")).toBe("constant.numeric.address.ipv4.wgp");
    expect(scopeOf(all, "fd00:4::/64")).toBe("constant.numeric.address.ipv6.wgp");
    expect(scopeOf(all, "2001:db8:123::2")).toBe("constant.numeric.address.ipv6.wgp");
    expect(scopeOf(all, "100mbit")).toBe("constant.numeric.quantity.wgp");
    expect(scopeOf(all, "500ms")).toBe("constant.numeric.quantity.wgp");
    expect(scopeOf(all, "# VPN traffic leaving the hub by a non-VPN interface takes the hub's address")).toBe("comment.line.number-sign.wgp");
    expect(scopeOf(all, "client-b")).toBe("entity.name.wgp");
  });

  it("scopes ports, bracketed IPv6 and strings", () => {
    const all = tokens('allow any -> [2001:db8::1]:1000-2000/tcp comment "a # b"\nservice nc = 1234/tcp\n');
    expect(scopeOf(all, "1234")).toBe("constant.numeric.port.wgp");
    expect(scopeOf(all, "1000")).toBe("constant.numeric.port.wgp");
    expect(scopeOf(all, "2000")).toBe("constant.numeric.port.wgp");
    expect(scopeOf(all, "2001:db8::1")).toBe("constant.numeric.address.ipv6.wgp");
    expect(all.some((t) => t.text.includes("a # b") && t.scope === "string.quoted.double.wgp")).toBe(true);
  });

  it("leaves no token of the examples unscoped", () => {
    for (const example of ["seed-lab", "atlas-lab"]) {
      const all = tokens(fs.readFileSync(path.join(ROOT, `examples/${example}/policy.wgp`), "utf8"));
      expect(all.filter((t) => t.text.trim() !== "" && t.scope === "source.wgp")).toEqual([]);
    }
  });
});
