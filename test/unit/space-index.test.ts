// The analysis finds the rules that may meet a region through an index by
// source address (src/analysis/space.ts BoxesBySource). Missing one would
// hide a shadowing rule, so the property is: every box that meets the region
// is among the candidates, whatever the mix of narrow, wide and long lists.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { boxesMeet, BoxesBySource, normalise, type Box, type Intervals } from "../../src/analysis/space.js";

const TOP = 4095n;
const FULL: Intervals = [[0n, TOP]];

/** Sorted, disjoint, non-touching intervals in [0, TOP]. */
const intervals = (maxCount: number): fc.Arbitrary<Intervals> =>
  // ends on a coarse grid in a small part of the space, so that intervals often touch and share ends
  fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 5 })), { minLength: 1, maxLength: maxCount }).map((raw) => normalise(raw.map(([lo, w]) => [BigInt(lo * 4), BigInt(lo * 4 + w * 4)] as const)));

const source: fc.Arbitrary<Intervals> = fc.oneof(
  { weight: 6, arbitrary: intervals(2) },
  { weight: 1, arbitrary: fc.constant(FULL) },
  // a long list (a blocklist): more intervals than the index keeps one by one
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 20 }).map((start): Intervals => Array.from({ length: 100 }, (_, i) => [BigInt(start + i * 40), BigInt(start + i * 40 + 3)] as const)) },
);

const port = fc.oneof(fc.constant(FULL), intervals(2));
const box = fc.tuple(source, port).map(([saddr, key]): Box => ({ iif: FULL, oif: FULL, saddr, daddr: FULL, proto: FULL, key, ct: FULL, hop: FULL }));

describe("BoxesBySource", () => {
  it("every box that meets the region is a candidate, candidates in ascending order", () => {
    fc.assert(
      fc.property(fc.array(box, { maxLength: 40 }), fc.array(box, { minLength: 1, maxLength: 3 }), (boxes, region) => {
        const candidates = new BoxesBySource(boxes).candidates(region);
        expect(candidates).toEqual([...candidates].sort((a, b) => a - b));
        boxes.forEach((b, i) => {
          if (region.some((r) => boxesMeet(r, b))) expect(candidates, `box ${i}`).toContain(i);
        });
      }),
      { numRuns: 2000, seed: 42 },
    );
  });

  it("leaves out narrow boxes that lie elsewhere", () => {
    const at = (lo: bigint, hi: bigint): Box => ({ iif: FULL, oif: FULL, saddr: [[lo, hi]], daddr: FULL, proto: FULL, key: FULL, ct: FULL, hop: FULL });
    const boxes = [at(10n, 10n), at(20n, 30n), { ...at(0n, 0n), saddr: FULL }, at(40n, 40n)];
    expect(new BoxesBySource(boxes).candidates([at(25n, 26n)])).toEqual([1, 2]);
  });
});

