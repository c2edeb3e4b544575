// Warnings that no other suite shows. The golden suite (test/bad) holds
// policies that fail; these compile, with a warning that must say where.
import { describe, expect, it } from "vitest";
import { compileSource, rendered } from "../support/compile.js";

const HUB = `vpn lab on wg0 {
  network 192.168.4.0/24
  hub  gw 192.168.4.1 endpoint 10.0.123.2:51820 key "wohuCPBh1+tIOgmVp9ydob7gVOs+XjVaY1CFSWyIB7A="
  peer a 192.168.4.2 key "GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I="
}
`;

describe("warnings", () => {
  it.each([
    [
      "W0512 a masqueraded VPN whose hub has no physical address",
      `${HUB}masquerade vpn\n`,
      "policy.wgp:6:1: warning[W0512]: the hub `gw` has no physical address, so masqueraded traffic cannot be recognised at its destinations",
    ],
    [
      "W0602 a rule to an address no machine has",
      "host web 192.0.2.1\nallow any -> web:22/tcp\nallow any -> 203.0.113.9:22/tcp\n",
      "policy.wgp:3:1: warning[W0602]: this rule is enforced on no machine of the policy",
    ],
    [
      "W0706 shaping the hub itself",
      `${HUB}host gw 10.0.123.2 on eth0\nshape gw, a 10mbit\n`,
      "policy.wgp:7:7: warning[W0706]: `gw` is the hub itself: its traffic never leaves the hub's interfaces, so it is not shaped",
    ],
  ])("%s", (_, text, expected) => {
    const result = compileSource(text);
    const lines = rendered(result).split("\n");
    expect(lines[0]).toBe(expected);
    // a warning alone: one diagnostic, and the policy still compiles
    expect(result.diagnostics).toHaveLength(1);
    expect(result.bundles).toBeDefined();
  });
});
