// Checker behaviour that the faults of peer tools (shared/cases) call for.
import { describe, expect, it } from "vitest";
import { artifact, compileText, rendered } from "../support/compile.js";

const codes = (text: string) => compileText(text).diagnostics.map((d) => d.code);

describe("names", () => {
  it("points at the first definition of a duplicate and suggests near names", () => {
    const r = compileText("host web 192.0.2.1\nhost web 192.0.2.2\nallow any -> wbe:22/tcp\n");
    expect(rendered(r)).toContain("policy.wgp:2:6: error[E0202]: `web` is defined twice");
    expect(rendered(r)).toContain("policy.wgp:1:6: note: `web` is first defined here");
    expect(rendered(r)).toContain("help: did you mean `web`?");
  });

  it("lets a host and a VPN member share a name: they are one machine", () => {
    const r = compileText(
      'vpn v on wg0 {\n network 10.9.0.0/24\n hub gw 10.9.0.1 endpoint 192.0.2.1:51820 key "wohuCPBh1+tIOgmVp9ydob7gVOs+XjVaY1CFSWyIB7A="\n}\nhost gw 192.0.2.1\n',
    );
    expect(rendered(r)).toBe("");
    expect(r.bundles!.map((b) => b.host)).toEqual(["gw"]);
  });

  it("refuses to redefine a built-in name", () => {
    expect(codes("host any 192.0.2.1\n")).toContain("E0205");
  });

  it("reports a service used as a source", () => {
    expect(rendered(compileText("host web 192.0.2.1\nservice s = 1/tcp\nallow s -> web:s\n"))).toContain(
      "error[E0204]: `s` is a service, expected a machine, group or address",
    );
  });
});

describe("addresses and families", () => {
  it("warns about host bits and uses the network", () => {
    const r = compileText("host web 192.0.2.1\nallow 198.51.100.7/24 -> web:22/tcp\n");
    expect(rendered(r)).toContain("warning[W0302]: prefix `198.51.100.7/24` has host bits set; it means `198.51.100.0/24`");
    expect(artifact(r, "web", "iptables.rules")).toContain("-s 198.51.100.0/24 ");
  });

  it("refuses a rule whose families cannot meet", () => {
    expect(codes("host v6 2001:db8::1\nallow 192.0.2.0/24 -> v6:22/tcp\n")).toEqual(["E0304"]);
  });

  it("K01: names a rule that has no form in a family it applies to", () => {
    const r = compileText("host h 192.0.2.1, 2001:db8::1\nallow any -> h:icmp/13\n");
    expect(rendered(r)).toContain("warning[W0606]: this rule has no IPv6 form");
    // and IPv4 still gets it
    expect(artifact(r, "h", "iptables.rules")).toContain("-p icmp -m icmp --icmp-type 13");
  });

  it("K01: icmp in IPv6 means ICMPv6", () => {
    const r = compileText("host h 192.0.2.1, 2001:db8::1\nallow any -> h:icmp/echo-request\n");
    expect(artifact(r, "h", "iptables.rules")).toContain("-p icmp -m icmp --icmp-type 8 ");
    expect(artifact(r, "h", "ip6tables.rules")).toContain("-p ipv6-icmp -m icmp6 --icmpv6-type 128 ");
  });

  it("K05: a policy naming only IPv4 closes IPv6 too", () => {
    const r = compileText("host h 192.0.2.1\nallow any -> h:22/tcp\n");
    const v6 = artifact(r, "h", "ip6tables.rules");
    expect(v6).toContain(":INPUT DROP [0:0]");
    expect(v6).toContain(":FORWARD DROP [0:0]");
    expect(v6).toContain("-m conntrack --ctstate RELATED,ESTABLISHED");
    expect(artifact(r, "h", "ruleset.nft")).toContain("type filter hook input priority filter; policy drop;");
  });

  it("K04: overlapping prefixes are normalised before they reach an nft set", () => {
    const r = compileText("host h 192.0.2.1\ngroup g = 198.51.100.0/24, 198.51.100.7, 198.51.101.0/24\nallow g -> h:22/tcp\n");
    expect(artifact(r, "h", "ruleset.nft")).toContain("ip saddr 198.51.100.0/23 tcp dport 22 accept");
  });

  it("K02: a port is never lost; K03: ranges in each tool's notation", () => {
    const r = compileText("host h 192.0.2.1\nallow any -> h:{443/tcp, 1000-2000/udp}\n");
    const nft = artifact(r, "h", "ruleset.nft");
    expect(nft).toContain("tcp dport 443 accept");
    expect(nft).toContain("udp dport 1000-2000 accept");
    expect(nft).not.toMatch(/meta l4proto (tcp|udp) accept/);
    expect(artifact(r, "h", "iptables.rules")).toContain("-p udp -m udp --dport 1000:2000 ");
  });

  it("K06: reject types exist in their family", () => {
    const r = compileText("default reject\nhost h 192.0.2.1\n");
    expect(artifact(r, "h", "iptables.rules")).toContain("--reject-with icmp-port-unreachable");
    expect(artifact(r, "h", "ip6tables.rules")).toContain("--reject-with icmp6-port-unreachable");
    expect(artifact(r, "h", "ip6tables.rules")).not.toContain("icmp-port-unreachable");
  });

  it("K10: refuses comments nft cannot carry and comments that are too long", () => {
    expect(codes('host h 192.0.2.1\nallow any -> h:22/tcp comment "a \\"b\\""\n')).toEqual(["E0601"]);
    expect(codes(`host h 192.0.2.1\nallow any -> h:22/tcp comment "${"é".repeat(37)}"\n`)).toEqual(["E0601"]);
  });
});

describe("services", () => {
  it.each([
    ["host h 192.0.2.1\nallow any -> h:0/tcp\n", "E0401"],
    ["host h 192.0.2.1\nallow any -> h:9-8/tcp\n", "E0402"],
    ["host h 192.0.2.1\nallow any -> h:22/icmp\n", "E0403"],
    ["host h 192.0.2.1\nallow any -> h:22/tpc\n", "E0404"],
    ["host h 192.0.2.1\nallow any -> h:icmp/echo-requets\n", "E0405"],
    ["host h 192.0.2.1\nallow any -> h:tcp/echo-request\n", "E0406"],
    ["host h 192.0.2.1\nservice a = b\nservice b = a\nallow any -> h:a\n", "E0203"],
  ])("%j gives %s", (text, code) => {
    expect(codes(text)).toContain(code);
  });
});

describe("the VPN", () => {
  const vpn = (body: string) => `vpn v on wg0 {\n network 10.9.0.0/24\n${body}}\n`;
  it.each([
    [vpn(" peer p 10.9.0.2 key \"GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I=\"\n"), "E0503"],
    [vpn(" hub h 10.9.0.1\n"), "E0509"],
    [vpn(" hub h 10.9.0.1 endpoint 192.0.2.1:51820\n peer p 10.8.0.2 key \"GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I=\"\n"), "E0305"],
    [vpn(" hub h 10.9.0.1 endpoint 192.0.2.1:51820\n peer p 10.9.0.1 key \"GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I=\"\n"), "E0306"],
    [vpn(" hub h 10.9.0.1 endpoint 192.0.2.1:51820\n peer p 10.9.0.2 key \"GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2J=\"\n"), "E0504"],
    [vpn(" hub h 10.9.0.1, fd00::1 endpoint 192.0.2.1:51820\n"), "E0508"],
    ["host h 192.0.2.1\nallow vpn -> h:22/tcp\n", "E0501"],
  ])("%j gives %s", (text, code) => {
    expect(codes(text)).toContain(code);
  });
});
