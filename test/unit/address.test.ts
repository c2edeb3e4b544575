import { describe, expect, it } from "vitest";
import {
  formatBits,
  formatPrefix,
  normalisePrefixes,
  parseAddress,
  prefixesToRanges,
  rangeAsPrefix,
  subtractPrefix,
  type Prefix,
} from "../../src/net/address.js";
import { mergeL4, normalisePortRanges } from "../../src/net/services.js";

const p = (text: string): Prefix => {
  const r = parseAddress(text);
  if (!r.ok) throw new Error(r.reason);
  return { family: r.family, bits: r.bits, length: r.length };
};

describe("address parsing", () => {
  it("reads IPv4 and IPv6 with and without prefix length", () => {
    expect(parseAddress("10.0.123.2")).toMatchObject({ ok: true, family: 4, bits: 0x0a007b02n, length: 32 });
    expect(parseAddress("192.168.4.0/24")).toMatchObject({ ok: true, family: 4, length: 24, hostBitsSet: false });
    expect(parseAddress("fd00:4::/64")).toMatchObject({ ok: true, family: 6, bits: 0xfd000004n << 96n, length: 64 });
    expect(parseAddress("::ffff:192.0.2.1")).toMatchObject({ ok: true, family: 6, bits: 0xffffc0000201n });
  });

  it("clears host bits and says so", () => {
    const r = parseAddress("10.0.123.7/24");
    expect(r).toMatchObject({ ok: true, bits: 0x0a007b00n, hostBitsSet: true });
  });

  it.each([
    ["10.0.0.256", "256 is larger than 255"],
    ["10.0.0.1/33", "prefix length must be 0-32"],
    ["1:::2", "empty group"],
    ["1::2::3", "`::` may appear only once"],
    ["2001:db8::/129", "prefix length must be 0-128"],
    ["1:2:3:4:5:6:7:8:9", "an IPv6 address has 8 groups"],
    ["10.0.01.1", "`01` has a leading zero (it could be read as octal)"],
  ])("refuses %s", (text, reason) => {
    expect(parseAddress(text)).toEqual({ ok: false, reason });
  });

  it("prints IPv6 the RFC 5952 way", () => {
    expect(formatBits(6, p("2001:db8:0:0:1:0:0:1").bits)).toBe("2001:db8::1:0:0:1");
    expect(formatBits(6, p("2001:0db8:0000:0000:0000:0000:0000:0005").bits)).toBe("2001:db8::5");
    expect(formatBits(6, 0n)).toBe("::");
    expect(formatBits(6, p("fd00:4::1:0").bits)).toBe("fd00:4::1:0");
  });
});

describe("prefix sets", () => {
  it("drops contained prefixes and merges siblings", () => {
    const out = normalisePrefixes([p("198.51.100.7"), p("198.51.100.0/24"), p("203.0.113.128/25"), p("203.0.113.0/25")]);
    expect(out.map(formatPrefix)).toEqual(["198.51.100.0/24", "203.0.113.0/24"]);
  });

  it("keeps families apart", () => {
    expect(normalisePrefixes([p("2001:db8::/64"), p("10.0.0.0/8")]).map(formatPrefix)).toEqual(["10.0.0.0/8", "2001:db8::/64"]);
  });

  it("subtracts a prefix exactly", () => {
    expect(subtractPrefix(p("172.16.0.0/16"), p("172.16.8.0/24")).map(formatPrefix)).toEqual([
      "172.16.0.0/21", "172.16.9.0/24", "172.16.10.0/23", "172.16.12.0/22",
      "172.16.16.0/20", "172.16.32.0/19", "172.16.64.0/18", "172.16.128.0/17",
    ]);
    expect(subtractPrefix(p("10.0.0.0/24"), p("10.0.0.0/8"))).toEqual([]);
  });

  it("joins touching prefixes into ranges, and knows an aligned range is a prefix", () => {
    const ranges = prefixesToRanges([p("10.77.0.10/31"), p("10.77.0.12")]);
    expect(ranges).toEqual([{ family: 4, low: 0x0a4d000an, high: 0x0a4d000cn }]);
    expect(rangeAsPrefix(ranges[0]!)).toBeUndefined();
    expect(rangeAsPrefix({ family: 4, low: 0x0a000000n, high: 0x0a0000ffn })).toEqual(p("10.0.0.0/24"));
  });
});

describe("ports", () => {
  it("joins overlapping and adjacent ranges", () => {
    expect(normalisePortRanges([{ low: 80, high: 80 }, { low: 22, high: 22 }, { low: 81, high: 90 }, { low: 85, high: 100 }])).toEqual([
      { low: 22, high: 22 },
      { low: 80, high: 100 },
    ]);
  });

  it("merges a rule's services per protocol; a portless match absorbs ports", () => {
    const merged = mergeL4([
      { kind: "ports", proto: "tcp", ports: [{ low: 443, high: 443 }] },
      { kind: "ports", proto: "udp", ports: [{ low: 53, high: 53 }] },
      { kind: "ports", proto: "tcp", ports: [{ low: 22, high: 22 }] },
      { kind: "ports", proto: "udp", ports: null },
    ]);
    expect(merged).toEqual([
      { kind: "ports", proto: "tcp", ports: [{ low: 22, high: 22 }, { low: 443, high: 443 }] },
      { kind: "ports", proto: "udp", ports: null },
    ]);
  });
});
