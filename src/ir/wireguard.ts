// The VPN → one wg-quick interface per member. The hub lists every peer
// with exactly that peer's overlay addresses; a peer lists the hub alone,
// with the VPN's networks (split tunnel) or everything of both families
// (full tunnel: IPv4 alone would leak IPv6 around the tunnel).
import type { CheckedPolicy, VpnMember } from "../check/model.js";
import { prefixContains, type Prefix } from "../net/address.js";

export interface WgPeer {
  readonly name: string;
  readonly publicKey: string;
  /** `host:port`, IPv6 in brackets */
  readonly endpoint?: string;
  readonly allowedIps: readonly Prefix[];
  readonly keepalive?: number;
}

export interface WgConfig {
  readonly iface: string;
  /** the member's overlay addresses with their network's length */
  readonly addresses: readonly Prefix[];
  readonly listenPort?: number;
  readonly mtu: number;
  readonly peers: readonly WgPeer[];
}

const endpointText = (e: NonNullable<VpnMember["endpoint"]>) => (e.family === 6 ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);

export function lowerWireguard(policy: CheckedPolicy, host: string): WgConfig | undefined {
  const vpn = policy.vpn;
  const me = vpn?.members.find((m) => m.name === host);
  if (!vpn || !me) return undefined;
  const addresses = me.overlay.map((a) => {
    const network = vpn.networks.find((n) => prefixContains(n, a));
    return { ...a, length: network?.length ?? a.length };
  });
  const hub = vpn.members.find((m) => m.role === "hub")!;
  const peers: WgPeer[] =
    me.role === "hub"
      ? vpn.members
          .filter((m) => m.role === "peer" && m.publicKey)
          .map((m) => ({ name: m.name, publicKey: m.publicKey!, endpoint: m.endpoint && endpointText(m.endpoint), allowedIps: m.overlay }))
      : hub.publicKey
        ? [
            {
              name: hub.name,
              publicKey: hub.publicKey,
              endpoint: hub.endpoint && endpointText(hub.endpoint),
              allowedIps:
                me.tunnel === "full"
                  ? [
                      { family: 4, bits: 0n, length: 0 },
                      { family: 6, bits: 0n, length: 0 },
                    ]
                  : vpn.networks,
              keepalive: me.keepalive,
            },
          ]
        : [];
  return { iface: vpn.iface, addresses, listenPort: me.role === "hub" ? vpn.listenPort : undefined, mtu: vpn.mtu, peers };
}
