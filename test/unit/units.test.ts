// K14: rates are read as written; `mbps` is refused with both meanings.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatRate, parseDuration, parsePercent, parseRate, parseSize } from "../../src/net/units.js";
import { compileText, rendered } from "../support/compile.js";

describe("rates", () => {
  it.each([
    ["100mbit", 100e6],
    ["1.5gbit", 1.5e9],
    ["64kbit", 64e3],
    ["1kibit", 1024],
    ["2mibit", 2 * 1024 ** 2],
    ["12.5mbyte/s", 100e6],
    ["800bit", 800],
  ])("%s is %d bit/s", (text, bits) => {
    expect(parseRate(text)).toEqual({ ok: true, value: bits });
  });

  it.each(["100mbps", "5Gbps", "10kbps", "1bps", "100MB/s"])("refuses %s, naming both meanings", (text) => {
    const r = parseRate(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(/ambiguous: tc reads it as .*bytes per second, many people as .*bits per second/);
      expect(r.help).toMatch(/write `\d+[kmgt]?bit` for .* or `\d+[kmgt]?byte\/s` for/);
    }
  });

  it("refuses unknown units", () => {
    expect(parseRate("100furlongs")).toMatchObject({ ok: false, reason: "unknown rate unit `furlongs`" });
  });

  it("prints rates in bits, never with a bps suffix, and reads back what it prints", () => {
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 4e12 }), (bits) => {
        const text = formatRate(bits);
        expect(text).toMatch(/^\d+(bit|kbit|mbit|gbit|tbit)$/);
        expect(parseRate(text)).toEqual({ ok: true, value: bits });
      }),
      { seed: 7, numRuns: 2000 },
    );
  });
});

describe("sizes, durations, percentages", () => {
  it("reads them as tc does", () => {
    expect(parseSize("15kb")).toEqual({ ok: true, value: 15360 });
    expect(parseSize("1514b")).toEqual({ ok: true, value: 1514 });
    expect(parseDuration("500ms")).toEqual({ ok: true, value: 500 });
    expect(parseDuration("2s")).toEqual({ ok: true, value: 2000 });
    expect(parsePercent("0.5%")).toEqual({ ok: true, value: 0.5 });
    expect(parseDuration("1kg").ok).toBe(false);
  });
});

describe("shaping diagnostics", () => {
  const vpn = 'vpn v on wg0 {\n network 10.9.0.0/24\n hub gw 10.9.0.1 endpoint 192.0.2.1:51820\n peer p 10.9.0.2 key "GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I="\n}\nhost gw 192.0.2.1\n';
  it("points at an ambiguous rate", () => {
    expect(rendered(compileText(`${vpn}shape p 100mbps\n`))).toContain(
      "policy.wgp:7:9: error[E0701]: `mbps` is ambiguous: tc reads it as mbytes per second, many people as mbits per second",
    );
  });

  it("refuses a ceiling below the rate", () => {
    expect(rendered(compileText(`${vpn}shape p 10mbit ceil 5mbit\n`))).toContain("policy.wgp:7:21: error[E0702]: ceiling 5mbit is below the guaranteed rate 10mbit");
  });

  it("refuses guaranteed rates over the link, naming the classes", () => {
    const text = rendered(compileText(`${vpn}link wg0 100mbit\nshape p 60mbit\nshape vpn 50mbit\n`));
    expect(text).toContain("policy.wgp:8:1: error[E0703]: guaranteed rates on `wg0` add up to 110mbit, more than the link's 100mbit (policy.wgp:8, policy.wgp:9)");
  });

  it("raises a burst below one frame, with a warning", () => {
    const r = compileText(`${vpn}shape p 10mbit burst 1kb\n`);
    expect(rendered(r)).toContain("warning[W0704]: burst 1kb is below one full frame; raised to 1514 bytes");
    expect(r.bundles!.find((b) => b.host === "gw")!.artifacts.find((a) => a.path === "tc.batch")!.text).toContain("burst 1514 ");
  });

  it("keeps every class's quantum within 1514-200000 bytes", () => {
    const r = compileText(`${vpn}link wg0 100gbit\nshape p 64kbit\nshape vpn 40gbit\n`);
    const tc = r.bundles!.find((b) => b.host === "gw")!.artifacts.find((a) => a.path === "tc.batch")!.text;
    const quanta = [...tc.matchAll(/quantum (\d+)/g)].map((m) => Number(m[1]));
    expect(quanta.length).toBeGreaterThan(3);
    for (const q of quanta) expect(q).toBeGreaterThanOrEqual(1514), expect(q).toBeLessThanOrEqual(200000);
    expect(tc).not.toMatch(/bps/);
    expect(tc.match(/r2q/g)!.length).toBe(1);
  });
});
