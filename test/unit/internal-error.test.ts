// A bug inside wgpc reaches the user as diagnostic E0901 and exit code 3,
// never as a stack trace.
import { describe, expect, it, vi } from "vitest";

vi.mock("../../src/compile.js", () => ({
  compile: () => {
    throw new TypeError("cannot read properties of undefined (reading 'x')");
  },
}));

describe("an unexpected exception", () => {
  it("is an internal-error diagnostic with exit code 3", async () => {
    const { main } = await import("../../src/cli/main.js");
    let err = "";
    const code = main(["check", "examples/seed-lab/policy.wgp"], { out: () => {}, err: (t) => (err += t) });
    expect(code).toBe(3);
    expect(err).toContain("error[E0901]: internal error: cannot read properties of undefined (reading 'x')");
    expect(err).toContain("help: please report this with the policy that caused it");
    expect(err).not.toMatch(/\n\s+at /);
  });
});
