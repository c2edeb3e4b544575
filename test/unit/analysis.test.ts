// The analysis stage (src/analysis): each finding on a policy made to have
// it, with the values it must report, and silence where there is nothing.
import { describe, expect, it } from "vitest";
import { compileText, rendered } from "../support/compile.js";
import { analyse } from "../../src/analysis/analyse.js";
import { MAX_ANALYSED_RULES } from "../../src/analysis/rules.js";
import { ChainSpace, regionSubtract, union } from "../../src/analysis/space.js";
import { evaluateChain } from "../../src/ir/evaluate.js";
import type { HostIr, IrRule } from "../../src/ir/types.js";
import { parseAddress, type Prefix } from "../../src/net/address.js";

function prefix(text: string): Prefix {
  const a = parseAddress(text);
  if (!a.ok) throw new Error(text);
  return { family: a.family, bits: a.bits, length: a.length };
}
const bits = (text: string) => prefix(text).bits;

const codes = (text: string) => compileText(text).diagnostics.map((d) => d.code);
const only = (text: string, code: string) => compileText(text).diagnostics.filter((d) => d.code === code);

describe("shadowing", () => {
  const twoAllowsHideADeny = [
    "host web 10.0.0.3 on eth0",
    "allow 10.1.0.0/17 -> web:22/tcp",
    "allow 10.1.128.0/17 -> web:22/tcp",
    "deny 10.1.0.0/16 -> web:22/tcp",
    "allow any -> web:80/tcp",
    "",
  ].join("\n");

  it("finds a deny hidden behind two allows that only together cover it, naming both with a packet each", () => {
    const found = only(twoAllowsHideADeny, "W0620");
    expect(found).toHaveLength(1);
    const d = found[0]!;
    expect(d.message).toBe("this rule never decides: all of its traffic is taken first by the rule at policy.wgp:2 and the rule at policy.wgp:3");
    const r = compileText(twoAllowsHideADeny);
    expect(r.sources.position(d.span!.file, d.span!.start).line).toBe(4);
    // each covering rule with a packet it takes first, from its half of 10.1/16
    expect(d.related.map((n) => n.message)).toEqual([
      "this rule takes tcp 10.1.0.0 → 10.0.0.3:22 on `web` (input, IPv4) first",
      "this rule takes tcp 10.1.128.0 → 10.0.0.3:22 on `web` (input, IPv4) first",
    ]);
  });

  it("gives witnesses that the reference semantics really decide by the named rule", () => {
    const r = compileText(twoAllowsHideADeny);
    const chain = r.hosts!.find((h) => h.name === "web")!.families[4].filter.input;
    for (const [source, line] of [["10.1.0.0", "policy.wgp:2"], ["10.1.128.0", "policy.wgp:3"]] as const) {
      const decision = evaluateChain(chain, { family: 4, iif: "eth0", saddr: bits(source), daddr: bits("10.0.0.3"), proto: "tcp", dport: 22, ct: "new" });
      expect(decision.rule?.origin.label).toBe(line);
    }
  });

  it("says nothing when one address of the deny escapes the allows", () => {
    const leaky = twoAllowsHideADeny.replace("10.1.128.0/17", "10.1.128.0/18");
    expect(codes(leaky)).not.toContain("W0620");
  });

  it("counts a rule that repeats an earlier one as shadowed by it", () => {
    const d = only("host web 10.0.0.3\nallow any -> web:22/tcp\nallow any -> web:22/tcp\n", "W0620");
    expect(d.map((x) => x.message)).toEqual(["this rule never decides: all of its traffic is taken first by the rule at policy.wgp:2"]);
  });

  it("names an always-there rule that covers a policy rule", () => {
    // essential ICMP (destination unreachable) is accepted before any policy rule
    const d = only("host web 10.0.0.3\ndeny any -> web:icmp/destination-unreachable\nallow any -> web:22/tcp\n", "W0620");
    expect(d).toHaveLength(1);
    expect(d[0]!.message).toContain("the always-there `essential icmp` rule");
    expect(d[0]!.help).toContain("icmp");
  });

  it("does not report a rule that decides on some machine even if it is hidden on another", () => {
    const text = "host a 10.0.0.2\nhost b 10.0.0.3\ndeny any -> b:22/tcp\nallow any -> {a, b}:22/tcp\n";
    expect(codes(text)).toEqual([]);
  });
});

describe("redundancy and order", () => {
  it("finds a rule whose traffic later rules of the same verdict decide anyway", () => {
    const d = only("host web 10.0.0.3\nallow 10.2.0.0/16 -> web:80/tcp\nallow 10.0.0.0/8 -> web:80-81/tcp\n", "W0621");
    expect(d.map((x) => x.message)).toEqual(["this rule is redundant: all of its traffic is decided the same way later by the rule at policy.wgp:3"]);
  });

  it("keeps a rule that a later rule of another verdict would decide otherwise", () => {
    const text = "host web 10.0.0.3\nallow 10.2.0.0/16 -> web:80/tcp\ndeny 10.2.5.0/24 -> web:80/tcp\nallow 10.0.0.0/8 -> web:80/tcp\n";
    expect(only(text, "W0621").map((d) => d.span && compileText(text).sources.position(d.span.file, d.span.start).line)).toEqual([]);
  });

  it("does not call an explicit deny redundant with the default", () => {
    expect(codes("host web 10.0.0.3\nallow 192.0.2.0/24 -> web:22/tcp\ndeny 10.0.0.0/8 -> web\n")).toEqual([]);
  });

  it("notes an earlier rule of the other verdict that takes part of a rule, with the overlap", () => {
    const d = only("host web 10.0.0.3\ndeny 10.3.0.0/16 -> web:1-1024/tcp\nallow 10.0.0.0/8 -> web:80/tcp\n", "N0622");
    expect(d.map((x) => x.message)).toEqual([
      "the rule at policy.wgp:2 (deny) decides part of this rule's traffic first: from 10.3.0.0/16 tcp port 80 on `web` (input, IPv4)",
    ]);
    expect(d[0]!.severity).toBe("note");
  });

  it("takes an allow carved out of a later deny as intended: no note", () => {
    expect(codes("host web 10.0.0.3\nallow 10.3.0.0/16 -> web:22/tcp\ndeny any -> web:22/tcp\n")).toEqual([]);
  });
});

describe("definitions, families, essentials", () => {
  it("reports unused groups and services of the policy, not of imported libraries", () => {
    const d = compileText('import "services"\nhost web 10.0.0.3\ngroup old = 10.9.0.0/16\nservice legacy = 9999/tcp\nallow any -> web:ssh\n');
    expect(d.diagnostics.map((x) => x.message)).toEqual(["group `old` is never used", "service `legacy` is never used"]);
  });

  it("counts a host as used when a rule has a place on it, even through `any`", () => {
    expect(codes("host a 10.0.0.2\nhost b 10.0.0.3\nallow any -> any:22/tcp\n")).toEqual([]);
    expect(only("host a 10.0.0.2\nhost b 10.0.0.3\nallow any -> a:22/tcp\n", "W0624").map((d) => d.message)).toEqual(["host `b` is never used"]);
  });

  it("warns when a dual-stack machine is opened in one family only", () => {
    const d = only("host web 10.0.0.3, 2001:db8::3\nallow any -> 10.0.0.3:80/tcp\nallow any -> web:22/tcp\n", "W0625");
    expect(d.map((x) => x.message)).toEqual(["this rule allows IPv4 only, though `web` also has IPv6 addresses"]);
  });

  it("does not warn when the sources have one family only", () => {
    expect(codes("host web 10.0.0.3, 2001:db8::3\nallow 192.0.2.0/24 -> web:22/tcp\n")).toEqual([]);
  });

  const hub = [
    "vpn lab on wg0 {",
    "  network 192.168.4.0/24",
    '  hub gw 192.168.4.1 endpoint 10.0.0.1:51820 key "hlPiCb+dnOXHlsrqI5tsTCjQJigtVM/XQG5l9x8nb5s="',
    '  peer a 192.168.4.2 key "GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I="',
    "}",
    "host gw 10.0.0.1 on eth0",
    "host a 10.0.0.2 on eth0",
    "allow vpn -> gw:22/tcp",
    "",
  ].join("\n");

  it("refuses an early drop that cuts a peer off the hub's WireGuard port", () => {
    const r = compileText(`${hub}drop from 10.0.0.0/24 early\n`);
    expect(r.bundles).toBeUndefined();
    const d = r.diagnostics.filter((x) => x.code === "E0627");
    expect(d.map((x) => x.message)).toEqual(["WireGuard (udp/51820) from `a` (10.0.0.2/32) to `gw` is dropped by this early drop (XDP on `eth0`)"]);
    expect(rendered(r)).toContain("policy.wgp:9:1: error[E0627]");
  });

  it("refuses an early drop from anywhere that cuts off peers without a known address (on the road)", () => {
    const roaming = hub.replace("host a 10.0.0.2 on eth0\n", "");
    const r = compileText(`${roaming}drop from any early\n`);
    const d = r.diagnostics.filter((x) => x.code === "E0627");
    expect(d.map((x) => x.message)).toEqual(["WireGuard (udp/51820) from `a`, which may come from any address (e.g. 203.0.113.77) to `gw` is dropped by this early drop (XDP on `eth0`)"]);
    // a blocklist is not a cut: the peer may come from elsewhere
    expect(codes(`${roaming}drop from 198.51.100.0/24 early\n`)).toEqual([]);
  });

  it("accepts it when acknowledged, and refuses an unknown acknowledgement", () => {
    expect(codes(`${hub}drop from 10.0.0.0/24 early acknowledge wireguard\n`)).toEqual([]);
    expect(codes(`${hub}drop from 10.0.0.0/24 early acknowledge wirguard\n`)).toEqual(["E0607"]);
  });

  it("has the safety net for overlay sources accepted without the VPN interface", () => {
    const r = compileText(`${hub}`);
    const gw = r.hosts!.find((h) => h.name === "gw")!;
    const input = gw.families[4].filter.input;
    // a broken lowering: the VPN rule without its interface
    const broken: HostIr = {
      ...gw,
      families: {
        ...gw.families,
        4: {
          ...gw.families[4],
          filter: {
            ...gw.families[4].filter,
            input: { ...input, sections: input.sections.map((s) => ({ ...s, rules: s.rules.map((rule): IrRule => (rule.origin.kind === "policy" ? { ...rule, match: { ...rule.match, iif: undefined } } : rule)) })) },
          },
        },
      },
    };
    const found = analyse(r.policy!, r.hosts!.map((h) => (h.name === "gw" ? broken : h)), { inPolicy: () => true }).filter((d) => d.code === "E0626");
    expect(found.map((d) => d.message)).toEqual(["on `gw` (input) a rule accepts overlay addresses 192.168.4.0/24 arriving on other interfaces than `wg0`"]);
    expect(analyse(r.policy!, r.hosts!, { inPolicy: () => true }).filter((d) => d.code === "E0626")).toEqual([]);
  });
});

describe("the packet space", () => {
  it("subtracts exactly: two halves cover the whole, three quarters do not", () => {
    const space = new ChainSpace(4, "input", []);
    const box = (saddr: string) => space.box({ saddr: [prefix(saddr)] });
    expect(regionSubtract(regionSubtract([box("10.0.0.0/8")], box("10.0.0.0/9")), box("10.128.0.0/9"))).toEqual([]);
    const left = [box("10.0.0.0/10"), box("10.64.0.0/10"), box("10.128.0.0/10")].reduce((r, b) => regionSubtract(r, b), [box("10.0.0.0/8")]);
    expect(left.map((b) => b.saddr)).toEqual([[[bits("10.192.0.0"), bits("10.255.255.255")]]]);
    expect(space.witness(left[0]!).saddr).toBe(bits("10.192.0.0"));
    expect(union([box("10.0.0.0/9"), box("10.0.0.0/8")]).length).toBeGreaterThan(0);
  });
});

describe("limits", () => {
  it("skips chains too long to analyse, once, with a note", () => {
    const rules = Array.from({ length: MAX_ANALYSED_RULES + 1 }, (_, i) => `allow 10.${i >> 8}.${i & 255}.0/24 -> web:22/tcp\n`).join("");
    const r = compileText(`host web 10.0.0.3\n${rules}`);
    expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([`N0623 rule analysis skipped chains of more than ${MAX_ANALYSED_RULES} rules`]);
    expect(r.bundles).toBeDefined();
  });
});

describe("expect options", () => {
  const text = [
    'import "services"',
    "host a 10.0.0.2, 2001:db8::2 on eth0",
    "host b 10.0.0.3, 2001:db8::3 on eth1",
    "allow 10.0.0.0/24 -> b:ssh",
    "",
  ].join("\n");
  const failures = (expects: string) => compileText(text + expects).diagnostics.filter((d) => d.severity === "error").map((d) => d.code);

  it("looks at one family with `family`", () => {
    expect(failures("expect a -> b:ssh allow family 4\nexpect a -> b:ssh deny family 6\n")).toEqual([]);
    expect(failures("expect a -> b:ssh allow family 6\n")).toEqual(["E0605"]);
  });

  it("sets the conntrack state with `state`", () => {
    // established traffic is accepted by the always-there rule, invalid dropped
    expect(failures("expect any -> b:web allow state established\nexpect a -> b:ssh deny state invalid\n")).toEqual([]);
    expect(failures("expect any -> b:web allow\n")).toEqual(["E0605"]);
  });

  it("keeps to paths arriving on an interface with `on`", () => {
    expect(failures("expect a -> b:ssh allow on eth1\n")).toEqual([]);
    expect(failures("expect a -> b:ssh allow on eth0\n")).toEqual(["E0605"]);
  });

  it("refuses values it does not know, at their position", () => {
    const r = compileText(`${text}expect a -> b:ssh allow family 5 state new on eth9\n`);
    expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([
      "E0607 `5` is not a valid family (expected 4 or 6)",
      "E0608 no machine of the policy has an interface `eth9` (known: eth0, eth1)",
    ]);
    expect(rendered(r)).toContain("policy.wgp:5:32: error[E0607]");
  });
});
