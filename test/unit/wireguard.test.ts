// WireGuard configs: K16 (a full tunnel is both families), K18 (MTU from the
// underlay and the outer family), and no private key ever in an output.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { artifact, compileFiles, compileText, rendered, ROOT } from "../support/compile.js";

const HUB_KEY = "wohuCPBh1+tIOgmVp9ydob7gVOs+XjVaY1CFSWyIB7A=";
const PEER_KEY = "GScAjChApo0b8IgTi31qCEd1Ya1SiVqNK219TiOYL2I=";
const vpn = (opts: { hubEndpoint?: string; peer?: string; mtu?: string; networks?: string } = {}) =>
  `vpn lab on wg0 {\n network ${opts.networks ?? "10.9.0.0/24, fd00:9::/64"}\n${opts.mtu ? ` mtu ${opts.mtu}\n` : ""} hub gw 10.9.0.1, fd00:9::1 endpoint ${opts.hubEndpoint ?? "192.0.2.1:51820"} key "${HUB_KEY}"\n peer laptop 10.9.0.2, fd00:9::2 key "${PEER_KEY}"${opts.peer ?? ""}\n}\n`;

describe("wg-quick configs", () => {
  it("lists each peer on the hub with its own addresses, and the hub alone on a peer", () => {
    const r = compileText(vpn());
    expect(rendered(r)).toBe("");
    const hub = artifact(r, "gw", "wg0.conf");
    expect(hub).toContain("ListenPort = 51820");
    expect(hub).toContain(`[Peer]\n# laptop\nPublicKey = ${PEER_KEY}\nAllowedIPs = 10.9.0.2/32, fd00:9::2/128`);
    const peer = artifact(r, "laptop", "wg0.conf");
    expect(peer).toContain(`[Peer]\n# gw\nPublicKey = ${HUB_KEY}\nEndpoint = 192.0.2.1:51820\nAllowedIPs = 10.9.0.0/24, fd00:9::/64`);
    expect(peer).not.toContain("ListenPort");
  });

  it("K16: a full tunnel routes both families", () => {
    const peer = artifact(compileText(vpn({ peer: " tunnel full keepalive 25s" })), "laptop", "wg0.conf");
    expect(peer).toContain("AllowedIPs = 0.0.0.0/0, ::/0\nPersistentKeepalive = 25");
  });

  it("K18: MTU is the underlay's less 60 over IPv4, 80 when an endpoint may be IPv6", () => {
    expect(artifact(compileText(vpn({ mtu: "1500" })), "gw", "wg0.conf")).toContain("MTU = 1440");
    expect(artifact(compileText(vpn({ hubEndpoint: "[2001:db8::1]:51820" })), "gw", "wg0.conf")).toContain("MTU = 1420");
    expect(artifact(compileText(vpn({ hubEndpoint: "hub.example.org:51820" })), "gw", "wg0.conf")).toContain("MTU = 1420");
    expect(artifact(compileText(vpn({ peer: " endpoint [2001:db8::2]:51820" })), "gw", "wg0.conf")).toContain("Endpoint = [2001:db8::2]:51820");
    expect(rendered(compileText(vpn({ mtu: "1340", hubEndpoint: "[2001:db8::1]:51820" })))).toContain("error[E0513]: the tunnel's MTU would be 1260 (underlay 1340)");
  });

  it("never writes a private key, for any example", () => {
    for (const example of ["seed-lab", "atlas-lab"]) {
      const r = compileFiles([path.join(ROOT, "examples", example, "policy.wgp")]);
      for (const b of r.bundles!) for (const a of b.artifacts) expect(a.text, `${b.host}/${a.path}`).not.toMatch(/PrivateKey|PresharedKey\s*=/);
      expect(r.bundles!.filter((b) => b.artifacts.some((a) => a.path === "wg0.conf")).length).toBe(r.policy!.vpn!.members.length);
    }
  });
});

describe("mistakes around the VPN and early drop", () => {
  const codes = (text: string) => compileText(text).diagnostics.map((d) => d.code);
  it("refuses a key used twice, also the hub's own", () => {
    expect(codes(`vpn lab on wg0 {\n network 10.9.0.0/24\n hub gw 10.9.0.1 endpoint 192.0.2.1:51820 key "${HUB_KEY}"\n peer a 10.9.0.2 key "${PEER_KEY}"\n peer b 10.9.0.3 key "${PEER_KEY}"\n peer c 10.9.0.4 key "${HUB_KEY}"\n}\n`)).toEqual(["E0514", "E0514"]);
  });
  it("refuses the VPN interface as a physical one, a second `to` or `mtu`, and early drops whose families cannot meet", () => {
    expect(codes(`${vpn()}host gw 192.0.2.1 on wg0\n`)).toEqual(["E0515"]);
    expect(codes(`${vpn()}host gw 192.0.2.1 on eth0\ndrop from 203.0.113.0/24 to gw:22/tcp to 198.18.0.9:80/tcp early\n`)).toEqual(["E0713"]);
    expect(codes(`${vpn({ mtu: "1500\n mtu 1400" })}`)).toEqual(["E0713"]);
    expect(codes(`${vpn()}host gw 192.0.2.1 on eth0\ndrop from 10.0.0.1 to [2001:db8::1] early\n`)).toEqual(["E0304"]);
  });
});
