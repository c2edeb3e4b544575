// HTB lends what a class does not use, but the guaranteed rates of a
// device's classes must fit its link: for every example and test case, the
// fallback, the shapes and the delays' small shares add up to at most the link.
import { describe, expect, it } from "vitest";
import { allPolicies, compileFiles, rendered } from "../support/compile.js";

describe("shaping rates", () => {
  it.each(allPolicies().map((p) => [p.name, p.file] as const))("%s: the classes' rates fit each link", (_name, file) => {
    const result = compileFiles([file]);
    expect(result.hosts, rendered(result)).toBeDefined();
    for (const host of result.hosts!) {
      for (const device of host.shaping) {
        const total = device.fallback.rate + device.classes.reduce((n, c) => n + c.rate, 0);
        expect(total, `${host.name} ${device.device}`).toBeLessThanOrEqual(device.link);
      }
    }
  });
});
