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
  const vpn = 'vpn v on wg0 {\n network 10.9.0.0/24\n hub gw 10.9.0.1 endpoint 192.0.2.1:51820 key "wohuCPBh1+tIOgmVp9ydob7gVOs+XjVaY1CFSWyIB7A="\n peer p 10.9.0.2 key "GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I="\n}\nhost gw 192.0.2.1\n';
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

describe("shaping limits found by trying to break them", () => {
  const KEY = "wohuCPBh1+tIOgmVp9ydob7gVOs+XjVaY1CFSWyIB7A=";
  const keyOf = (i: number) => Buffer.from(Uint32Array.of(i + 1, 7, 7, 7, 7, 7, 7, 7).buffer).toString("base64");
  const peers = (n: number) => Array.from({ length: n }, (_, i) => ` peer p${i} 10.${Math.floor((i + 2) / 250)}.0.${((i + 2) % 250) + 1} key "${keyOf(i)}"`).join("\n");
  const hub = (body = "", on = " on eth0") =>
    `vpn v on wg0 {\n network 10.0.0.0/8\n hub gw 10.255.0.1 endpoint 192.0.2.1:51820 key "${KEY}"\n${body}\n}\nhost gw 192.0.2.1${on}\n`;
  const codes = (text: string) => compileText(text).diagnostics.map((d) => d.code);

  it("keeps the fallback class at 8bit or more", () => {
    const r = compileText(`${hub(peers(1))}link wg0 16bit\nshape p0 16bit\n`);
    const tc = r.bundles!.find((b) => b.host === "gw")!.artifacts.find((a) => a.path === "tc.batch")!.text;
    expect(tc).toMatch(/classid 1:2 htb rate 8bit /);
  });

  it("refuses more classes on a device than u32 has priorities for", () => {
    expect(codes(`${hub(peers(1001))}shape each vpn 10kbit\n`)).toContain("E0709");
  }, 30_000);

  it("refuses `link` on an interface the hub does not have, and says when it assumes eth0", () => {
    expect(codes(`${hub(peers(1))}link eht0 100mbit\n`)).toEqual(["E0710"]);
    expect(codes(`${hub(peers(1), "")}shape p0 1mbit\n`)).toEqual(["W0711"]);
  });

  it("warns when a shaping class takes part of a delay's traffic", () => {
    expect(codes(`${hub(peers(1))}shape 10.0.0.0/25 10mbit\ndelay p0 10ms\n`)).toEqual(["W0712"]);
  });

  it("refuses an option given twice, a burst the kernel cannot hold, a reserved interface name and a fractional rate", () => {
    expect(codes(`${hub(peers(1))}shape p0 10mbit ceil 20mbit ceil 30mbit\n`)).toEqual(["E0713"]);
    expect(codes(`${hub(peers(1))}shape p0 8bit burst 2kb\n`)).toEqual(["E0714"]);
    expect(codes(`${hub(peers(1), " on wgpc-ifb0")}\n`)).toContain("E0715");
    expect(codes(`${hub(peers(1))}shape p0 1.123456789mbit\n`)).toEqual(["E0701"]);
  });

  it.each(["10kibps", "10Mb", "10MB", "10MiB/s"])("calls %s ambiguous", (text) => {
    expect(parseRate(text)).toMatchObject({ ok: false, reason: expect.stringContaining("is ambiguous") });
  });
});
