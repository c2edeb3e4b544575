// `wgpc diff`: the live kernel state against a host's bundle, per datapath.
// The firewall is compared with the bundle's own files in the form the
// tools print back; tc and XDP, whose printed form is the kernel's own,
// with what the kernel held when `wgpc apply` kept this very bundle.
import { IPSET_SUFFIX } from "../backends/iptables/emit.js";
import { BundleError, verifyBundle, type VerifiedBundle } from "./bundle.js";
import { readApplied, xdpHash, type Firewall } from "./apply.js";
import { readIpsets, readIptables, readNft, readState } from "./live.js";
import { ipsetMembers, lineDifference, nftTableForm, restoreForm, restoreTables } from "./normalise.js";

export interface Drift {
  readonly datapath: string;
  readonly detail: string;
}

function textDrift(datapath: string, want: string, have: string): Drift[] {
  if (want === have) return [];
  const { missing, extra, missingCount, extraCount } = lineDifference(want, have, 10);
  const more = (n: number, shown: number, what: string) => (n > shown ? [`… and ${n - shown} more ${what}`] : []);
  const parts = [
    ...missing.map((l) => `missing: ${l}`),
    ...more(missingCount, missing.length, "missing lines"),
    ...extra.map((l) => `not in the bundle: ${l}`),
    ...more(extraCount, extra.length, "lines not in the bundle"),
  ];
  return [{ datapath, detail: parts.length > 0 ? parts.join("\n    ") : "the same lines in another order" }];
}

/** The other firewall's wgpc rules, still loaded: a machine has one (apply.sh removes the other's). */
function otherFirewall(firewall: Firewall): Drift[] {
  if (firewall === "iptables") return readNft() === null ? [] : [{ datapath: "nftables", detail: "table inet wgpc of an nftables bundle is loaded too" }];
  return ([4, 6] as const).flatMap((family) =>
    /^:wgpc-/m.test(restoreTables(readIptables(family)).get("filter") ?? "") ? [{ datapath: family === 4 ? "iptables" : "ip6tables", detail: "rules of an iptables bundle are loaded too" }] : [],
  );
}

function firewallDrift(bundle: VerifiedBundle, firewall: Firewall): Drift[] {
  return [...ownFirewallDrift(bundle, firewall), ...otherFirewall(firewall)];
}

function ownFirewallDrift(bundle: VerifiedBundle, firewall: Firewall): Drift[] {
  if (firewall === "nftables") {
    const live = readNft();
    if (live === null) return [{ datapath: "nftables", detail: "table inet wgpc is not loaded" }];
    return textDrift("nftables", nftTableForm(bundle.read("ruleset.nft")), nftTableForm(live));
  }
  const familyDrift = (family: 4 | 6): Drift[] => {
    const datapath = family === 4 ? "iptables" : "ip6tables";
    const want = restoreForm(bundle.read(`${datapath}.rules`));
    const live = restoreTables(readIptables(family));
    if (restoreTables(want).has("nat")) return textDrift(datapath, want, [...live.values()].join("\n"));
    // no masquerade in the bundle: the nat table is not wgpc's, but chains of its own there are drift
    const left = [...(live.get("nat") ?? "").matchAll(/^:(wgpc-\S+) /gm)].map((m) => m[1]!);
    live.delete("nat");
    return [
      ...textDrift(datapath, want, [...live.values()].join("\n")),
      ...(left.length > 0 ? [{ datapath: `${datapath} nat`, detail: `chains of an older bundle's masquerade are still there: ${left.join(", ")}` }] : []),
    ];
  };
  const drift = [...familyDrift(4), ...familyDrift(6)];
  const want = bundle.has("ipset.rules") ? ipsetMembers(bundle.read("ipset.rules"), IPSET_SUFFIX) : new Map<string, string[]>();
  const have = ipsetMembers(readIpsets(), "");
  for (const [name, members] of want) {
    const live = have.get(name);
    if (!live) drift.push({ datapath: "ipset", detail: `set ${name} is missing` });
    else drift.push(...textDrift(`ipset ${name}`, members.join("\n"), live.join("\n")));
  }
  for (const name of have.keys()) if (!want.has(name)) drift.push({ datapath: "ipset", detail: `set ${name} is not in the bundle` });
  return drift;
}

export function diffBundle(bundleDir: string, stateDir: string, firewallOption?: Firewall): Drift[] {
  const bundle = verifyBundle(bundleDir);
  const applied = readApplied(stateDir);
  const firewall = firewallOption ?? (applied?.bundleId === bundle.id ? applied.firewall : bundle.has("ruleset.nft") ? "nftables" : "iptables");
  const needed = firewall === "nftables" ? "ruleset.nft" : "iptables.rules";
  if (!bundle.has(needed) || (firewall === "iptables" && !bundle.has("ip6tables.rules"))) throw new BundleError(`it has no ${firewall} files (SHA256SUMS lists no ${needed})`);
  const drift = firewallDrift(bundle, firewall);
  const tcBatch = bundle.has("tc.batch") ? bundle.files.get("tc.batch")! : null;
  const xdp = xdpHash(bundle);
  if (tcBatch !== null || xdp !== null) {
    if (!applied) return [...drift, { datapath: "tc/xdp", detail: "no bundle was kept by `wgpc apply` here: nothing to compare the kernel's shaping and early drop with" }];
    const live = readState(Object.keys(applied.state.tc));
    if (applied.tcBatch !== tcBatch) drift.push({ datapath: "tc", detail: "the bundle's tc.batch is not the one applied" });
    else for (const [device, text] of Object.entries(applied.state.tc)) drift.push(...textDrift(`tc ${device}`, text, live.tc[device] ?? ""));
    if (applied.xdp !== xdp) drift.push({ datapath: "xdp", detail: "the bundle's XDP maps are not the ones applied" });
    else {
      for (const [iface, want] of Object.entries(applied.state.xdp)) {
        const have = live.xdp[iface];
        if (!have) drift.push({ datapath: `xdp ${iface}`, detail: "no program is pinned" });
        else if (have.attached !== want.attached) drift.push({ datapath: `xdp ${iface}`, detail: `attached ${have.attached}, applied ${want.attached}` });
        else for (const [map, dump] of Object.entries(want.maps)) drift.push(...textDrift(`xdp ${iface} ${map}`, dump, have.maps[map] ?? ""));
      }
    }
  }
  return drift;
}
