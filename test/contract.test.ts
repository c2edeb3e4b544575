// Runs over every registered backend, so a new backend is held to the same
// contract the moment it is registered.
import { describe, expect, it } from "vitest";
import { backends } from "../src/backends/registry.js";
import { compileText } from "./support/compile.js";

const smallest = "host lone 192.0.2.1\n";
const punctuation = 'host mail 192.0.2.9\nallow any -> mail:25/tcp comment "SMTP; see #42 (mx) & --jump -j DROP"\n';

describe.each(backends.map((b) => [b.name, b] as const))("backend %s", (_, backend) => {
  it("is a pure function of the IR: the same host gives the same bytes", () => {
    const a = compileText(punctuation);
    const b = compileText(punctuation);
    const host = a.hosts![0]!;
    expect(backend.emit(host, { version: "x" })).toEqual(backend.emit(b.hosts![0]!, { version: "x" }));
  });

  // tc and xdp compile statements of their own; a firewall is always written
  const firewall = backend.name === "iptables" || backend.name === "nftables";

  it("handles a policy with no rules: a firewall closes both families, the others write nothing", () => {
    const r = compileText(smallest);
    // the one finding: a machine that no rule concerns
    expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual(["W0624 host `lone` is never used"]);
    const artifacts = backend.emit(r.hosts![0]!, { version: "x" });
    const text = artifacts.map((a) => a.text).join("\n");
    if (!firewall) expect(artifacts).toEqual([]);
    // default deny in both families: every filter input chain drops what it does not accept
    else expect(text).toMatch(/INPUT DROP[\s\S]*|hook input priority filter; policy drop;/);
  });

  it.skipIf(!firewall)("carries free text as one quoted token", () => {
    const r = compileText(punctuation);
    const text = backend.emit(r.hosts![0]!, { version: "x" }).map((a) => a.text).join("\n");
    expect(text).toContain('"policy.wgp:2 SMTP; see #42 (mx) & --jump -j DROP"');
  });
});

describe("the registry", () => {
  it("names each backend once", () => {
    const names = backends.map((b) => b.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(["iptables", "nftables", "tc", "xdp", "wireguard"]);
  });
});
