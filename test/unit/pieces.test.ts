// Bundle files as pieces: a blocklist shared by every machine is one piece,
// the same text in each machine's file, and what is hashed and written is
// exactly the joined text (no mark left, nothing lost).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { compileText } from "../support/compile.js";
import { LONG_PIECE, SharedPieces, linePieces } from "../../src/backends/shared/pieces.js";
import { readInputIr } from "../../src/ir/serialize.js";
import { buildManifest, writeBundles } from "../../src/bundle/write.js";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "wgpc-pieces-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

// 1,500 distinct /32s in 11.0.0.0/16 that do not touch (every other address), and 500 IPv6 /64s that do not touch either
const v4 = Array.from({ length: 1500 }, (_, i) => `11.0.${i >> 7}.${(i & 127) * 2}`);
const v6 = Array.from({ length: 500 }, (_, i) => `2001:db8:5:${(i * 2).toString(16)}::/64`);
const policy = [
  "host web 10.1.0.1, 2001:db8:1::1",
  "host db 10.1.0.2",
  `group blocklist = ${[...v4, ...v6].join(", ")}`,
  "deny blocklist -> any",
  "allow 172.16.0.0/12 -> web:443/tcp",
  "allow 10.1.0.1 -> db:5432/tcp",
  "",
].join("\n");

describe("shared pieces", () => {
  it("mark: a short text is itself, a long one one mark per text; splice puts each back as its own piece", () => {
    const shared = new SharedPieces();
    const long1 = "a".repeat(LONG_PIECE);
    const long2 = "b".repeat(LONG_PIECE + 1);
    expect(shared.mark("short")).toBe("short");
    const m1 = shared.mark(long1);
    expect(m1.length).toBeLessThan(10);
    expect(shared.mark(long1)).toBe(m1);
    const m2 = shared.mark(long2);
    expect(m2).not.toBe(m1);
    expect(shared.splice(`x ${m1} y ${m2}${m1}\n`)).toEqual(["x ", long1, " y ", long2, long1, "\n"]);
    expect(new SharedPieces().splice("no marks\n")).toEqual(["no marks\n"]);
  });

  it("linePieces: newline after every line, a long line alone", () => {
    const long = "c".repeat(LONG_PIECE);
    expect(linePieces(["a", "b", long, "d"])).toEqual(["a\nb\n", long, "\n", "d\n"]);
    expect(linePieces([])).toEqual([]);
  });

  const result = compileText(policy);
  const bundles = result.bundles!;
  const file = (host: string, p: string) => bundles.find((b) => b.host === host)!.artifacts.find((a) => a.path === p)!;

  it("the blocklist is one piece, equal on both machines, in ruleset.nft, ipset.rules and ir.json", () => {
    expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    for (const p of ["ruleset.nft", "ipset.rules", "ir.json"]) {
      const web = file("web", p).pieces.filter((x) => x.length >= LONG_PIECE);
      const db = file("db", p).pieces.filter((x) => x.length >= LONG_PIECE);
      expect(web.length, p).toBeGreaterThan(0);
      expect(db, p).toEqual(web);
    }
  });

  it("the joined text holds every prefix, no mark, and reads back", () => {
    for (const b of bundles) {
      for (const a of b.artifacts) expect(a.text, `${b.host}/${a.path}`).not.toMatch(/[\u0001\u0002]/);
      const nft = file(b.host, "ruleset.nft").text;
      // nft prints the set inline on the blocklist's line, every element once
      const line = nft.split("\n").find((l) => l.includes("ip saddr { 11.0.0.0,"))!;
      expect(line.match(/11\.0\.\d+\.\d+/g)).toHaveLength(1500);
      const ipset = file(b.host, "ipset.rules").text;
      expect(ipset.split("\n").filter((l) => /^add wgpc-\S+ 11\.0\./.test(l))).toHaveLength(1500);
      expect(ipset.split("\n").filter((l) => /^add wgpc-\S+ 2001:db8:5:/.test(l))).toHaveLength(500);
      const ir = readInputIr(file(b.host, "ir.json").text);
      const blocked = ir.input[4].sections.flatMap((s) => s.rules).find((r) => r.verdict.kind === "drop" && (r.match.saddr?.length ?? 0) > 1000);
      expect(blocked?.match.saddr).toHaveLength(1500);
    }
  });

  it("SHA256SUMS, the manifest and the written files agree with the joined text", () => {
    const manifest = buildManifest([], bundles);
    const out = path.join(work, "out");
    writeBundles(out, bundles, manifest);
    for (const b of bundles) {
      const sums = new Map(file(b.host, "SHA256SUMS").text.trim().split("\n").map((l) => [l.split("  ")[1]!, l.split("  ")[0]!]));
      for (const a of b.artifacts) {
        const digest = createHash("sha256").update(a.text).digest("hex");
        if (a.path !== "SHA256SUMS") expect(sums.get(a.path), a.path).toBe(digest);
        expect(manifest.outputs.find((o) => o.path === `${b.host}/${a.path}`)?.sha256).toBe(digest);
        expect(fs.readFileSync(path.join(out, b.host, a.path), "utf8")).toBe(a.text);
      }
    }
  });
});
