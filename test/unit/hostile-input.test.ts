// Inputs found by trying to break wgpc: each one once crashed, hung, pointed
// at the wrong place or passed silently. None may again.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { Sources } from "../../src/syntax/source.js";
import { toJson } from "../../src/diagnostics/render.js";
import { artifact, compileFiles, compileSource, compileText, rendered } from "../support/compile.js";

const codes = (text: string) => compileSource(text).diagnostics.map((d) => d.code);

describe("resource bounds", () => {
  it("refuses lists nested a thousand deep instead of overflowing the stack", () => {
    const text = `host h 192.0.2.1\nallow ${"{".repeat(1000)}any${"}".repeat(1000)} -> h:22/tcp\n`;
    expect(rendered(compileSource(text))).toContain("policy.wgp:2:39: error[E0107]: lists are nested more than 32 levels deep");
  });

  it("expands groups that double at every level in linear time", () => {
    const lines = ["host h 192.0.2.1", "group g0 = h"];
    for (let i = 1; i <= 60; i++) lines.push(`group g${i} = g${i - 1}, g${i - 1}`);
    lines.push("allow g60 -> g60:22/tcp");
    const r = compileSource(`${lines.join("\n")}\n`);
    expect(rendered(r)).toBe("");
    expect(artifact(r, "h", "iptables.rules")).toContain("-s 192.0.2.1/32 -p tcp -m tcp --dport 22");
  });

  it("gives no suggestion for a huge misspelt name, quickly", () => {
    const text = `host ${"a".repeat(62)} 192.0.2.1\nallow any -> ${"a".repeat(20000)}b:22/tcp\n`;
    expect(codes(text)).toEqual(["E0201"]);
  });

  it("refuses machine names that cannot be bundle directories", () => {
    expect(codes(`host ${"h".repeat(64)} 192.0.2.1\n`)).toContain("E0207");
    expect(codes("host manifest.json 192.0.2.1\n")).toContain("E0207");
  });
});

describe("positions", () => {
  it("counts columns in characters, not UTF-16 units", () => {
    const r = compileSource('host h 192.0.2.1\nallow any -> h:22/tcp comment "😀😀" deny');
    expect(rendered(r)).toContain("policy.wgp:2:40: error[E0103]");
  });

  it("treats a lone CR as a line break", () => {
    const sources = new Sources();
    const f = sources.add("x", "a\rbc\r\nd");
    expect(sources.position(f, 3)).toEqual({ line: 2, column: 2 });
    expect(sources.position(f, 6)).toEqual({ line: 3, column: 1 });
    expect(sources.lineText(f, 2)).toBe("bc");
  });

  it("accepts a well-encoded U+FFFD and points at the first byte that is not UTF-8", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-utf8-"));
    try {
      const good = path.join(dir, "good.wgp");
      fs.writeFileSync(good, Buffer.from("host h 192.0.2.1\nallow any -> h:22/tcp\n# \uFFFD is fine\n", "utf8"));
      expect(rendered(compileFiles([good]))).toBe("");
      const bad = path.join(dir, "bad.wgp");
      fs.writeFileSync(bad, Buffer.concat([Buffer.from("host h 192.0.2.1\n# é "), Buffer.from([0xff]), Buffer.from("\n")]));
      expect(rendered(compileFiles([bad]))).toContain("bad.wgp:2:5: error[E0007]");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // found by test/fuzz: these spans ran past the end of the file or ended inside a character
  it("points at an empty file without running past its end", () => {
    const r = compileSource("");
    expect(r.diagnostics.map((d) => d.span)).toEqual([{ file: 0, start: 0, end: 0 }]);
    expect(rendered(r)).toContain("policy.wgp:1:1: error[E0104]");
  });

  it("ends a syntax error at the end of the file inside the file, also after a CRLF", () => {
    for (const text of ["import", "import\r\n"]) {
      const r = compileSource(text);
      expect(r.diagnostics.map((d) => d.span)).toEqual([{ file: 0, start: 6, end: 6 }]);
      expect(toJson(r.sources, r.diagnostics[0]!)).toMatchObject({ line: 1, column: 7, endLine: 1, endColumn: 7 });
    }
  });

  it("covers a whole character of two UTF-16 units with one caret", () => {
    const r = compileSource("\u{10000}host h 192.0.2.1\n");
    expect(r.diagnostics.map((d) => d.span)).toEqual([{ file: 0, start: 0, end: 2 }]);
    expect(rendered(r)).toContain("policy.wgp:1:1: error[E0101]: unexpected character `\u{10000}`\n  |\n1 | \u{10000}host h 192.0.2.1\n  | ^");
    expect(toJson(r.sources, r.diagnostics[0]!)).toMatchObject({ column: 1, endColumn: 2 });
  });

  it("reads every IPv6 text form", () => {
    expect(codes("host h 1:2:3:4:5:6:7::, ::2:3:4:5:6:7:8\nallow any -> h:22/tcp\n")).toEqual([]);
  });
});

describe("names and definitions", () => {
  it("checks groups and services that no rule uses", () => {
    expect(codes("host h 192.0.2.1\ngroup g = nosuch\nservice s = 0/tcp\n")).toEqual(["E0201", "E0401"]);
  });

  it("reports a mistake inside a group once, however often the group is used", () => {
    expect(codes("host h 192.0.2.1\ngroup g = nosuch\nallow g -> g:22/tcp\nallow h -> g:22/tcp\n")).toEqual(["E0201"]);
  });

  it("does not let a host share the VPN's name, nor a service redefine a protocol", () => {
    const vpn = "vpn lab on wg0 {\n network 10.9.0.0/24\n hub gw 10.9.0.1 endpoint 192.0.2.1:51820\n}\n";
    expect(codes(`${vpn}host lab 192.0.2.50\n`)).toEqual(["E0202"]);
    expect(codes("host h 192.0.2.1\nservice tcp = 2/tcp\n")).toEqual(["E0205"]);
  });

  it("says what a service cycle is", () => {
    expect(rendered(compileSource("host h 192.0.2.1\nservice a = b\nservice b = a\n"))).toContain("service refers to itself: `a` → `b` → `a`");
  });

  it("refuses a second masquerade and one out of the VPN interface", () => {
    const vpn = "vpn lab on wg0 {\n network 10.9.0.0/24\n hub gw 10.9.0.1 endpoint 192.0.2.1:51820\n}\nhost gw 192.0.2.1\n";
    expect(codes(`${vpn}masquerade vpn\nmasquerade vpn\n`)).toEqual(["E0510"]);
    expect(codes(`${vpn}masquerade vpn via wg0\n`)).toEqual(["E0511"]);
  });

  it("keeps rule comments within nft's 128 bytes, label included", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-label-"));
    try {
      const file = path.join(dir, `${"a-rather-long-policy-file-name-".repeat(4)}.wgp`);
      fs.writeFileSync(file, `host h 192.0.2.1\nallow any -> h:22/tcp comment "${"x".repeat(72)}"\n`);
      const r = compileFiles([file]);
      const nft = artifact(r, "h", "ruleset.nft");
      for (const m of nft.matchAll(/comment "([^"]*)"/g)) expect(Buffer.byteLength(m[1]!, "utf8")).toBeLessThanOrEqual(128);
      expect(codes(`host h 192.0.2.1\nallow any -> h:22/tcp comment "${"x".repeat(73)}"\n`)).toEqual(["E0601"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("expectations are exact, not sampled", () => {
  it("finds the one allowed address inside a denied prefix, and the one port inside a range", () => {
    const r = compileText(
      "host h 192.0.2.1\nallow 10.0.0.5 -> h:23/tcp\nallow any -> h:22/tcp\nexpect 10.0.0.0/8 -> h:23/tcp deny\nexpect any -> h:1-100/tcp deny\n",
    );
    const text = rendered(r);
    expect(text).toContain("policy.wgp:4:1: error[E0605]: expectation failed: expected deny, got allow at 10.0.0.5 → 192.0.2.1 port 23");
    expect(text).toContain("policy.wgp:5:1: error[E0605]: expectation failed: expected deny, got allow at 0.0.0.1 → 192.0.2.1 port 22");
  });

  it("counts VPN members as part of `any`", () => {
    const vpn = "vpn v on wg0 {\n network 10.9.0.0/24\n hub gw 10.9.0.1 endpoint 192.0.2.1:51820 key \"wohuCPBh1+tIOgmVp9ydob7gVOs+XjVaY1CFSWyIB7A=\"\n peer p 10.9.0.2 key \"GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I=\"\n}\nhost gw 192.0.2.1\n";
    expect(codes(`${vpn}allow vpn -> p:22/tcp\nexpect any -> any:22/tcp deny\n`)).toEqual(["E0605"]);
  });
});
